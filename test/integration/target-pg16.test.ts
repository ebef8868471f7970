// A PostgreSQL 16 target (issue #28: "and 16 if you can get it"): the hard-case database copied from 15 into 16 by
// TLS non-superuser owners is faithful by the independent comparison and by verify, and a pgoutput stream into 16
// ends equal. 16 is the major between the two the rest of the suite uses: pg_dump 15 renders the schema for a newer
// target here, as it does for 17.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { startLocalCluster, type LocalCluster } from '../support/cluster.js';
import { expectSameDatabase } from '../support/compare.js';
import { expectFaithfulHardCaseCopy } from '../support/copy-checks.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { buildHardCases } from '../support/hardcases.js';

describe('a PostgreSQL 16 target', () => {
  let cluster: LocalCluster;
  let src: TestDatabase;
  let tgt: TestDatabase;
  let repSrc: TestDatabase;
  let repTgt: TestDatabase;
  const dir = join(tmpdir(), `pgshift-pg16-${process.pid}`);

  beforeAll(async () => {
    cluster = await startLocalCluster({ major: 16, dir });
    const { pg15 } = inject('clusters');
    [src, tgt, repSrc, repTgt] = await Promise.all([
      createDatabase(pg15, { label: 'pg16_src' }),
      createDatabase(cluster, { label: 'pg16_tgt' }),
      createDatabase(pg15, { label: 'pg16_rsrc', replication: true }),
      createDatabase(cluster, { label: 'pg16_rtgt' }),
    ]);
    await buildHardCases(src);
  }, 180_000);
  afterAll(async () => {
    await runCli(['cleanup', '--source', repSrc.url, '--target', repTgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), repSrc?.drop()]);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies the hard cases from 15 into 16 faithfully, and verify agrees', async () => {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r).ok).toBe(true);
    const { rows } = await tgt.owner(`SELECT current_setting('server_version_num')::int / 10000 AS major`);
    expect(rows[0].major).toBe(16);
    await expectFaithfulHardCaseCopy(src, tgt);
    const v = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(parseJson(v).ok).toBe(true);
  });

  it('streams changes from 15 into 16 with pgoutput and ends equal', async () => {
    await repSrc.owner(`CREATE TABLE t (id int PRIMARY KEY, v text, n numeric); INSERT INTO t SELECT g, 'v' || g, g / 3.0 FROM generate_series(1, 500) g`);
    const first = await runCli(['replicate', '--source', repSrc.url, '--target', repTgt.url, '--until-caught-up']);
    expect(first.code, first.stderr).toBe(0);
    await repSrc.owner(`UPDATE t SET v = 'changed' WHERE id % 7 = 0; DELETE FROM t WHERE id > 450; INSERT INTO t VALUES (1000, NULL, NULL)`);
    const again = await runCli(['replicate', '--source', repSrc.url, '--target', repTgt.url, '--until-caught-up']);
    expect(again.code, again.stderr).toBe(0);
    await expectSameDatabase(repSrc, repTgt, { ignore: (d) => d.object.includes('_pgshift') });
  });
});
