// One table's rows from a pg_dump archive (src/archive/table-data.ts) when pg_restore is done before the target
// session gets to BEGIN: Node resumes a child's unread stdout when the child exits and drops its bytes, so the
// rows must be read from the first moment. Seen in bench:archive probes as "pg_restore rendered no rows" on
// about one small table in 600 on a loaded machine; here the session is kept busy so it happens every time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openArchive } from '../../src/archive/index.js';
import { loadTableData } from '../../src/archive/table-data.js';
import { parseConnectionUrl } from '../../src/config.js';
import { connect } from '../../src/db/connect.js';
import { selectPgTools } from '../../src/schema/pgdump.js';
import { ensureStateSchema } from '../../src/state/store.js';
import { dumpToFile } from '../support/dump-restore.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('archive table data: pg_restore finished before the target session is ready', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-archive-table-data-'));
  const file = join(dir, 'small.dump');
  const rowsOf = async (db: TestDatabase) => (await db.owner(`SELECT string_agg(id || ':' || v, ',' ORDER BY id) AS r, count(*)::int AS n FROM small`)).rows[0];

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'artd_src' }), createDatabase(pg17, { label: 'artd_tgt' })]);
    await src.owner(`CREATE TABLE small (id int PRIMARY KEY, v text); INSERT INTO small SELECT g, md5(g::text) FROM generate_series(1, 3) g`);
    await dumpToFile(src, file, ['-Fc', '--no-owner', '--no-acl']);
    await tgt.owner(`CREATE TABLE small (id int PRIMARY KEY, v text)`);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('loads every row when the session is busy until after pg_restore has exited', async () => {
    const archive = openArchive(file);
    const entry = archive.entries.find((e) => e.desc === 'TABLE DATA' && e.tag === 'small')!;
    const pgRestore = selectPgTools().tools!.pgRestore;
    const spec = parseConnectionUrl(tgt.url, 'target');
    const client = await connect(spec, { applicationName: 'pgshift-test' });
    try {
      await ensureStateSchema(client);
      // The session's queue holds a 1.5 s statement: loadTableData's BEGIN waits behind it, and pg_restore
      // (tens of milliseconds for 3 rows) has exited long before.
      const busy = client.query('SELECT pg_sleep(1.5)');
      const r = await loadTableData(pgRestore, archive.path, dir, entry, spec, client);
      await busy;
      expect(r.rows).toBe(3);
    } finally {
      await client.end().catch(() => undefined);
    }
    expect(await rowsOf(tgt)).toEqual(await rowsOf(src));
  });
});
