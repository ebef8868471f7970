// A source at wal_level=replica (issue #29): every message points to the path that works there — trigger capture —
// beside the server change, and that path, followed as printed, works.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { startLocalCluster, type LocalCluster } from '../support/cluster.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('a source with wal_level=replica', () => {
  let cluster: LocalCluster;
  let src: TestDatabase;
  let tgt: TestDatabase;
  const dir = join(tmpdir(), `pgshift-walreplica-${process.pid}`);

  beforeAll(async () => {
    cluster = await startLocalCluster({ major: 15, dir, settings: { wal_level: 'replica' } });
    [src, tgt] = await Promise.all([
      createDatabase(cluster, { label: 'walr_src', replication: true }),
      createDatabase(inject('clusters').pg17, { label: 'walr_tgt' }),
    ]);
    await src.owner(`CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g`);
  }, 120_000);
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await tgt?.drop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('inventory and replicate name trigger capture; replicate --capture triggers works there', async () => {
    const inv = await runCli(['inventory', '--source', src.url, '--json']);
    expect(inv.code, inv.stderr).toBe(0);
    const w = parseJson<{ warnings: { code: string; remedy: string }[] }>(inv).warnings.find((x) => x.code === 'replication-unavailable');
    expect(w?.remedy).toContain('--capture triggers');

    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/wal_level is replica/);
    expect(r.stderr).toContain('pgshift replicate --capture triggers');

    const c = await runCli(['replicate', '--capture', 'triggers', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(c.code, c.stderr).toBe(0);
    await src.owner(`UPDATE t SET v = 'changed' WHERE id <= 10; DELETE FROM t WHERE id > 90`);
    const again = await runCli(['replicate', '--capture', 'triggers', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(again.code, again.stderr).toBe(0);
    await expectSameDatabase(src, tgt, { ignore: (d) => d.object.includes('_pgshift') });
  });
});
