// Tables and partitions created on the source after replication started are never silent, on both paths: the
// catch-up check names them and stops with exit 1 and the exact next step (never "Caught up" with a table of the
// selection missing); a rerun's preflight looks only at what is replicated (no exit 2 over a keyless table that
// is not); a new partition of a replicated partitioned table gets its CREATE statement; --exclude on a rerun leaves
// a new table out. Real servers, PG15 → PG17, ending with the independent comparison where the run converges.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { compareDatabases, expectSameDatabase, formatDifference } from '../support/compare.js';
import { isCaptureObject } from '../support/capture.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { waitFor } from '../support/replication.js';

const SCHEMA = `
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;
CREATE TABLE m (id int, k int, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (100);
INSERT INTO m SELECT g, g % 100, 'm' || g FROM generate_series(1, 200) g;
`;

const pairs: { src: TestDatabase; tgt: TestDatabase }[] = [];

async function pair(label: string, replication: boolean): Promise<{ src: TestDatabase; tgt: TestDatabase }> {
  const { pg15, pg17 } = inject('clusters');
  const [src, tgt] = await Promise.all([createDatabase(pg15, { label: `${label}_src`, replication }), createDatabase(pg17, { label: `${label}_tgt` })]);
  pairs.push({ src, tgt });
  await src.owner(SCHEMA);
  return { src, tgt };
}

function replicate(src: TestDatabase, tgt: TestDatabase, ...extra: string[]): Promise<CliResult> {
  return runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '60', ...extra]);
}

/** The --exclude flags the error's "next:" names (from its last line: the first is in the warning at the start too). */
function excludes(r: CliResult): string[] {
  const next = r.stderr.slice(r.stderr.lastIndexOf('  next: '));
  return [...next.matchAll(/--exclude '([^']+)'/g)].flatMap((m) => ['--exclude', m[1]!]);
}

/** Statements the error's "next:" says to run on the target. */
function advised(r: CliResult): string[] {
  return [...r.stderr.matchAll(/^ {4}(CREATE TABLE .*);$/gm)].map((m) => m[1]!);
}

async function expectSameExcept(src: TestDatabase, tgt: TestDatabase, left: (object: string) => boolean): Promise<void> {
  const diffs = await compareDatabases(src, tgt, { ignore: (d) => isCaptureObject(d) || left(d.object) });
  expect(diffs.map(formatDifference)).toEqual([]);
}

describe('tables created on the source after replication started', () => {
  afterAll(async () => {
    for (const { src, tgt } of pairs) await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all(pairs.flatMap(({ src, tgt }) => [src.drop(), tgt.drop()]));
  });

  it('pgoutput: a keyless table created after the start is named at the catch-up (exit 1, not 2); --exclude on the rerun leaves it out', async () => {
    const { src, tgt } = await pair('nt_pgo', true);
    expect((await replicate(src, tgt)).code).toBe(0);
    await src.owner(`CREATE TABLE late (a int, b text); INSERT INTO late VALUES (1, 'x'), (1, 'x'); INSERT INTO t VALUES (1000, 'after')`);

    const stopped = await replicate(src, tgt);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('public.late was created on the source after this replication started');
    expect(stopped.stderr).toContain(`--exclude 'public.late'`);
    expect(stopped.stdout + stopped.stderr).not.toMatch(/caught up\./i);
    expect(stopped.stderr).not.toContain('--fix-replica-identity');
    // Everything else was applied.
    expect((await tgt.admin(`SELECT count(*)::int AS n FROM t WHERE id = 1000`)).rows[0].n).toBe(1);

    // A rerun cannot leave out a table that is replicated.
    const wrong = await replicate(src, tgt, '--exclude', 'public.t');
    expect(wrong.code, wrong.stderr).toBe(2);
    expect(wrong.stderr).toContain('already replicated');

    expect(excludes(stopped)).toEqual(['--exclude', 'public.late']);
    const left = await replicate(src, tgt, ...excludes(stopped));
    expect(left.code, left.stderr).toBe(0);
    await src.owner(`UPDATE t SET v = 'later' WHERE id < 10`);
    const again = await replicate(src, tgt); // the widened selection is recorded
    expect(again.code, again.stderr).toBe(0);
    await expectSameExcept(src, tgt, (o) => o.includes('late'));
  });

  it('pgoutput: a partition created after the start gets the exact CREATE statement; after it the rerun continues', async () => {
    const { src, tgt } = await pair('nt_part', true);
    expect((await replicate(src, tgt)).code).toBe(0);
    await src.owner(`CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (100) TO (200);
                     INSERT INTO m VALUES (1000, 150, 'via root'); INSERT INTO m2 VALUES (1001, 199, 'straight in'); UPDATE m SET k = 120 WHERE id = 5`);
    const stopped = await replicate(src, tgt);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('stopped before streaming');
    expect(advised(stopped)).toEqual(['CREATE TABLE "public"."m2" PARTITION OF "public"."m" FOR VALUES FROM (100) TO (200)']);
    for (const sql of advised(stopped)) await tgt.owner(sql);
    const done = await replicate(src, tgt);
    expect(done.code, done.stderr).toBe(0);
    await expectSameDatabase(src, tgt);

    // Created while a run streams: the first row routed to it stops the run with the same statement (exit 1, not 4).
    const t0 = (await src.admin(`SELECT now()::text AS t`)).rows[0].t;
    const streaming = runCli(['replicate', '--source', src.url, '--target', tgt.url], { timeoutMs: 60_000 });
    // This run's walsender (the previous run's may linger for a moment).
    await waitFor(
      'the stream',
      async () =>
        (
          await src.admin(
            `SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'pgshift replicate stream' AND backend_start > $1::timestamptz`,
            [t0],
          )
        ).rows[0].n > 0,
      30_000,
    );
    await src.owner(`CREATE TABLE m3 PARTITION OF m FOR VALUES FROM (200) TO (300); INSERT INTO m VALUES (2000, 250, 'while streaming')`);
    const mid = await streaming;
    expect(mid.code, mid.stderr).toBe(1);
    expect(mid.stderr).toContain('stopped while streaming');
    expect(advised(mid)).toEqual(['CREATE TABLE "public"."m3" PARTITION OF "public"."m" FOR VALUES FROM (200) TO (300)']);
    for (const sql of advised(mid)) await tgt.owner(sql);
    const after = await replicate(src, tgt);
    expect(after.code, after.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('trigger capture: a new table and a new partition (rows written straight into it) stop the catch-up with exit 1, never "Caught up"', async () => {
    const { src, tgt } = await pair('nt_trg', false);
    const capture = (...extra: string[]) => replicate(src, tgt, '--capture', 'triggers', ...extra);
    const first = await capture();
    expect(first.code, first.stderr).toBe(0);
    await src.owner(`CREATE TABLE late (id int PRIMARY KEY, v text); INSERT INTO late VALUES (1, 'x'); INSERT INTO t VALUES (1000, 'after');
                     CREATE TABLE late_p (k int) PARTITION BY LIST (k); CREATE TABLE late_p1 PARTITION OF late_p FOR VALUES IN (1); INSERT INTO late_p VALUES (1)`);
    const stopped = await capture();
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('public.late, public.late_p were created on the source after this replication started');
    expect(excludes(stopped)).toEqual(['--exclude', 'public.late', '--exclude', 'public.late_p', '--exclude', 'public.late_p1']);
    expect(stopped.stdout + stopped.stderr).not.toMatch(/caught up\./i);
    expect((await tgt.admin(`SELECT count(*)::int AS n FROM t WHERE id = 1000`)).rows[0].n).toBe(1);
    const left = await capture(...excludes(stopped));
    expect(left.code, left.stderr).toBe(0);
    await expectSameExcept(src, tgt, (o) => o.includes('late'));

    await src.owner(`CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (100) TO (200); INSERT INTO m2 VALUES (1001, 199, 'straight in')`);
    const part = await capture();
    expect(part.code, part.stderr).toBe(1);
    expect(part.stderr).toContain('public.m2 was created on the source after this replication started');
    expect(part.stderr).toContain('are not captured, so start over');
    expect(part.stdout + part.stderr).not.toMatch(/caught up\./i);
  });
});
