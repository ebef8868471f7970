// Interrupted copies: SIGKILL at a random-ish moment mid-data (machine lost) and Ctrl-C (SIGINT), each
// followed by `copy --resume`, judged by the independent comparison (no duplicate rows, nothing missing).
// The CLI is spawned directly (not runCli) so the test can watch the target and interrupt it mid-flight.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { sleep, spawnCli, type Running } from '../support/spawn.js';
import { expectSameDatabase, sumRows, tableRowCounts } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

// ~300k narrow rows over four tables of different shapes, split into many chunks so an interruption
// lands between chunks of the same table.
const SEED_SQL = `
  CREATE TABLE narrow_int (id integer PRIMARY KEY, v integer NOT NULL, pad text);
  INSERT INTO narrow_int SELECT g, g % 977, md5(g::text) || md5(g::text) FROM generate_series(1, 100000) g;
  CREATE INDEX narrow_int_v ON narrow_int (v);
  CREATE TABLE narrow_uuid (id uuid PRIMARY KEY, n integer, pad text);
  INSERT INTO narrow_uuid SELECT md5('u' || g)::uuid, g, md5(g::text) FROM generate_series(1, 60000) g;
  -- No primary key and duplicate rows: a resumed chunk must not add a second copy of anything.
  CREATE TABLE narrow_nopk (n integer, pad text);
  INSERT INTO narrow_nopk SELECT g % 1000, md5((g % 1000)::text) FROM generate_series(1, 60000) g;
  CREATE TABLE narrow_part (id integer NOT NULL, at date NOT NULL, pad text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
  CREATE TABLE narrow_part_a PARTITION OF narrow_part FOR VALUES FROM ('2020-01-01') TO ('2022-01-01');
  CREATE TABLE narrow_part_b PARTITION OF narrow_part FOR VALUES FROM ('2022-01-01') TO ('2030-01-01');
  INSERT INTO narrow_part SELECT g, date '2020-01-01' + (g % 3000), md5(g::text) FROM generate_series(1, 80000) g;
  CREATE SEQUENCE order_no;
  SELECT setval('order_no', 777);
  ANALYZE;
`;
const SPLIT = '1MB';

function spawnCopy(src: TestDatabase, tgt: TestDatabase): Running {
  return spawnCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '2', '--split-larger-than', SPLIT]);
}

/** Sessions running COPY on this database right now (other than ours). */
async function activeCopies(db: TestDatabase): Promise<number> {
  const { rows } = await db.admin(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
       AND state <> 'idle' AND query ILIKE '%copy%'`,
  );
  return rows[0].n;
}

/** Resolve once the target is receiving rows (a COPY … FROM STDIN is running there); fail if copy ends first. */
async function waitForDataArriving(tgt: TestDatabase, run: Running): Promise<void> {
  let exited = false;
  void run.exit.then(() => (exited = true));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const { rows } = await tgt.admin(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'
         AND query ~* '(^|;) *copy .* from stdin'`,
    );
    if (rows[0].n > 0) return;
    if (exited) throw new Error(`copy ended before any data was seen arriving, so it could not be interrupted; output:\n${run.output()}`);
    await sleep(25);
  }
  throw new Error(`no COPY reached the target within 120 s; output so far:\n${run.output()}`);
}

/** Resolve once the target holds committed rows (at least one chunk done) while copy still runs. */
async function waitForCommittedRows(tgt: TestDatabase, run: Running): Promise<void> {
  let exited = false;
  void run.exit.then(() => (exited = true));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (sumRows(await tableRowCounts(tgt)) > 0 && !exited) return;
    if (exited) throw new Error(`copy ended before it could be killed mid-data (seed more rows or split smaller); output:\n${run.output()}`);
    await sleep(20);
  }
  throw new Error(`no rows reached the target within 120 s; output so far:\n${run.output()}`);
}

async function waitUntil(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('pgshift copy interrupted, then --resume', () => {
  let src: TestDatabase;
  let killed: TestDatabase;
  let interrupted: TestDatabase;
  let sourceRows: number;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, killed, interrupted] = await Promise.all([
      createDatabase(pg15, { label: 'resume_src' }),
      createDatabase(pg17, { label: 'resume_kill' }),
      createDatabase(pg17, { label: 'resume_int' }),
    ]);
    await src.owner(SEED_SQL);
    sourceRows = sumRows(await tableRowCounts(src));
    expect(sourceRows).toBe(300_000);
  });
  afterAll(async () => Promise.all([src?.drop(), killed?.drop(), interrupted?.drop()]));

  it('finishes after a SIGKILL mid-copy, from a new snapshot, with no duplicate or missing row', async () => {
    const run = spawnCopy(src, killed);
    // Kill once some chunks are committed, so --resume must both keep finished chunks and redo the rest.
    await waitForCommittedRows(killed, run);
    process.kill(-run.child.pid!, 'SIGKILL');
    expect((await run.exit).signal).toBe('SIGKILL');

    // The kill really landed mid-data: the target holds only part of the rows.
    const partial = sumRows(await tableRowCounts(killed));
    expect(partial).toBeGreaterThan(0);
    expect(partial, 'the kill came after all data was copied: seed more rows or split smaller').toBeLessThan(sourceRows);

    const r = await runCli(['copy', '--source', src.url, '--target', killed.url, '--jobs', '2', '--split-larger-than', SPLIT, '--resume']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/new snapshot/i);
    expect(r.stdout + r.stderr).not.toContain(src.password);
    await expectSameDatabase(src, killed);
  });

  it('stops promptly on SIGINT without leaving a COPY running, then --resume completes', async () => {
    const run = spawnCopy(src, interrupted);
    await waitForDataArriving(interrupted, run);
    // SIGINT to pgshift alone (a supervisor's `kill -INT`), stricter than a terminal's Ctrl-C, which signals
    // the whole process group: pgshift itself must cancel its COPYs and stop any tool it started.
    run.child.kill('SIGINT');
    const guard = setTimeout(() => process.kill(-run.child.pid!, 'SIGKILL'), 30_000);
    const exit = await run.exit;
    clearTimeout(guard);
    expect(exit.signal, `pgshift did not stop within 30 s of SIGINT; output:\n${run.output()}`).not.toBe('SIGKILL');
    expect(exit.code, run.output()).not.toBe(0);

    // Server backends notice a closed connection asynchronously; give them a moment, then require none.
    await waitUntil('the COPYs on the target to end', async () => (await activeCopies(interrupted)) === 0).catch(() => undefined);
    expect(await activeCopies(interrupted)).toBe(0);
    await waitUntil('the COPYs on the source to end', async () => (await activeCopies(src)) === 0).catch(() => undefined);
    expect(await activeCopies(src)).toBe(0);

    const r = await runCli(['copy', '--source', src.url, '--target', interrupted.url, '--jobs', '2', '--split-larger-than', SPLIT, '--resume']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectSameDatabase(src, interrupted);
  });
});
