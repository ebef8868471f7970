import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('test harness', () => {
  let src: TestDatabase;
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'harness' });
  });
  afterAll(async () => src?.drop());

  it('connects as a non-superuser owner over TLS', async () => {
    const { rows } = await src.owner(`SELECT r.rolsuper, r.rolreplication, s.ssl, current_setting('server_version_num')::int / 10000 AS major
      FROM pg_roles r, pg_stat_ssl s WHERE r.rolname = current_user AND s.pid = pg_backend_pid()`);
    expect(rows[0]).toEqual({ rolsuper: false, rolreplication: false, ssl: true, major: 15 });
  });
});
