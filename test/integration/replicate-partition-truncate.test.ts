// TRUNCATE of a single partition is not published by PostgreSQL when the publication goes through the root
// (publish_via_partition_root): pgoutput replication must not report "caught up" over it. The catch-up check finds
// the partition (its file changed and its rows differ), stops with exit 1 naming it, and after the named step the
// rerun continues; a rewrite (VACUUM FULL) with equal rows is not a stop. Real servers, PG15 → PG17, ending with
// the independent comparison.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SCHEMA = `
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
CREATE TABLE m (id int, k int, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (100);
CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (100) TO (200);
INSERT INTO m SELECT g, g % 200, 'm' || g FROM generate_series(1, 400) g;
`;

const dbs: TestDatabase[] = [];

async function pair(label: string): Promise<{ src: TestDatabase; tgt: TestDatabase }> {
  const { pg15, pg17 } = inject('clusters');
  const [src, tgt] = await Promise.all([createDatabase(pg15, { label: `${label}_src`, replication: true }), createDatabase(pg17, { label: `${label}_tgt` })]);
  dbs.push(src, tgt);
  await src.owner(SCHEMA);
  return { src, tgt };
}

function replicate(src: TestDatabase, tgt: TestDatabase, timeout = '60'): Promise<CliResult> {
  return runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', timeout]);
}

async function rows(db: TestDatabase, table: string): Promise<number> {
  return (await db.admin(`SELECT count(*)::int AS n FROM ONLY ${table}`)).rows[0].n;
}

describe('pgoutput: TRUNCATE of a single partition', () => {
  afterAll(async () => {
    for (let i = 0; i < dbs.length; i += 2) await runCli(['cleanup', '--source', dbs[i]!.url, '--target', dbs[i + 1]!.url, '--force']).catch(() => undefined);
    await Promise.all(dbs.map((d) => d.drop()));
  });

  it('is found at the catch-up (exit 1, the partition and both counts named); a VACUUM FULL is not; after TRUNCATE on the target the rerun continues', async () => {
    const { src, tgt } = await pair('ptrunc');
    expect((await replicate(src, tgt)).code).toBe(0);
    await src.owner(`VACUUM FULL m2`);
    await src.owner(`TRUNCATE m1; INSERT INTO t VALUES (100, 'after'); UPDATE m SET v = 'changed' WHERE k = 150`);
    const stopped = await replicate(src, tgt);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('public.m1 (source 0 rows, target 200)');
    expect(stopped.stderr).not.toContain('public.m2');
    expect(stopped.stdout + stopped.stderr).not.toMatch(/caught up\./i);
    expect(await rows(tgt, 'm1')).toBe(200); // PostgreSQL did not send the TRUNCATE
    expect(await rows(tgt, 't')).toBe(11); // everything else is applied

    await tgt.owner(`TRUNCATE ONLY m1`);
    const done = await replicate(src, tgt);
    expect(done.code, done.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('rows written again into a truncated partition (same keys) stop with the partition named instead of a key violation', async () => {
    const { src, tgt } = await pair('ptrunc_again');
    expect((await replicate(src, tgt)).code).toBe(0);
    await src.owner(`TRUNCATE m2; INSERT INTO m SELECT g, g % 200, 'again' || g FROM generate_series(1, 400) g WHERE g % 200 >= 100`);
    // --timeout 10: the applier reports a failed last batch only when it stops (seen here: at --timeout).
    const stopped = await replicate(src, tgt, '10');
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('public.m2 (source 200 rows, target 200)');
    expect(stopped.stderr).toContain('does not replicate a TRUNCATE of a single partition');
    await tgt.owner(`TRUNCATE ONLY m2`);
    const done = await replicate(src, tgt);
    expect(done.code, done.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });
});
