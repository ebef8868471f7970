// A Heroku source carries event triggers whose functions live in _heroku, a schema pgshift never copies: copy
// leaves them out whoever the target role is (a superuser target used to fail with "schema _heroku does not exist").
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe("copy: Heroku's own event triggers", () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'hkev_src' }), createDatabase(pg17, { label: 'hkev_tgt' })]);
    await src.owner(`CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')`);
    await src.admin(`CREATE SCHEMA _heroku;
      CREATE FUNCTION _heroku.extension_before_drop() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END';
      CREATE EVENT TRIGGER extension_before_drop ON ddl_command_start EXECUTE FUNCTION _heroku.extension_before_drop();`);
    await tgt.admin(`ALTER ROLE "${tgt.role}" SUPERUSER`);
  });
  afterAll(async () => {
    await src?.admin(`DROP EVENT TRIGGER IF EXISTS extension_before_drop`).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('a superuser target: copied without them, exit 0, identical', async () => {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    expect((await tgt.admin(`SELECT count(*)::int AS n FROM pg_event_trigger`)).rows[0].n).toBe(0);
    // _heroku is Heroku's, never copied (DESIGN §1): everything else is identical.
    await expectSameDatabase(src, tgt, { ignore: (d) => d.object.includes('_heroku') });
  });
});
