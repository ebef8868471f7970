// `npm run test:faults`, replication part: connections lost INSIDE an apply batch (the walsender, the target's
// apply backend, both), the run's control connection lost, the target restarted under a streaming run, and a
// slow batch under --until-caught-up. Every case ends with the run's exit code checked and an independent
// comparison of source and target (test/support/compare.ts). PGSHIFT_FAULT_SEED=N replays the same choices.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { startLocalCluster, type LocalCluster } from '../support/cluster.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { waitFor } from '../support/replication.js';
import { faultSeed, prng, sleep, startCli, within, type RunningCli } from './harness.js';

const SEED = faultSeed();
const rand = prng(SEED);

const SCHEMA = `
CREATE TABLE full_t (a integer, b text, c integer);
ALTER TABLE full_t REPLICA IDENTITY FULL;
CREATE TABLE keyed (id integer PRIMARY KEY, v text NOT NULL, n integer NOT NULL);
INSERT INTO full_t SELECT g % 500, md5(g::text), g FROM generate_series(1, 2000) g;
INSERT INTO keyed SELECT g, md5(g::text), g FROM generate_series(1, 2000) g;
`;

/** A backlog of many transactions: inserts, updates and deletes on a keyless FULL table and a keyed one. */
async function writeBacklog(src: TestDatabase, round: number, transactions = 400): Promise<void> {
  const c = new pg.Client({ connectionString: src.adminUrl.replace(/[?&]sslmode=[^&]*/, ''), ssl: false });
  await c.connect();
  try {
    for (let i = 0; i < transactions; i++) {
      const base = 100_000 * round + i * 100;
      await c.query(`BEGIN;
        INSERT INTO full_t SELECT g % 500, md5(g::text), g FROM generate_series(${base}, ${base + 59}) g;
        UPDATE full_t SET b = b || 'u' WHERE c IN (SELECT c FROM full_t WHERE a = ${i % 500} LIMIT 5);
        DELETE FROM full_t WHERE c IN (SELECT c FROM full_t WHERE a = ${(i + 250) % 500} LIMIT 2);
        INSERT INTO keyed SELECT g, md5(g::text), g FROM generate_series(${base}, ${base + 19}) g;
        UPDATE keyed SET n = n + 1 WHERE id % 97 = ${i % 97};
        COMMIT;`);
    }
  } finally {
    await c.end();
  }
}

async function terminate(adminUrl: string, database: string, appLike: string, states?: string[]): Promise<number> {
  const c = new pg.Client({ connectionString: adminUrl.replace(/[?&]sslmode=[^&]*/, ''), ssl: false });
  await c.connect();
  try {
    const { rows } = await c.query(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE datname = $1 AND application_name LIKE $2 AND pid <> pg_backend_pid() AND ($3::text[] IS NULL OR state = ANY ($3))`,
      [database, appLike, states ?? null],
    );
    return rows[0].n;
  } finally {
    await c.end();
  }
}

/** Is the applier inside a batch on the target right now (a transaction open on its connection)? */
async function inBatch(tgt: TestDatabase): Promise<boolean> {
  const { rows } = await tgt.admin(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgshift replicate apply' AND xact_start IS NOT NULL`,
  );
  return rows[0].n > 0;
}

/** A run holds the target: its run lock (advisory 1) and its applier's lock (advisory 3), both granted. */
async function holdsTarget(tgt: TestDatabase): Promise<boolean> {
  const { rows } = await tgt.admin(
    `SELECT count(DISTINCT l.objid)::int AS n FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1885827944::oid AND l.objid IN (1, 3)
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  return rows[0].n === 2;
}

/**
 * After a target restart: the run comes back (backoff), re-takes its run lock and apply lock before it applies
 * anything, and a cleanup beside it is refused.
 */
async function expectHeldAgain(run: RunningCli, src: TestDatabase, tgt: TestDatabase): Promise<void> {
  await waitFor('the run holding the target again', () => holdsTarget(tgt), 90_000, 50).catch(async (err) => {
    // Everything that helps the next reader: the target's sessions and locks, and the run's whole log (JSON too).
    const seen = await tgt
      .admin(
        `SELECT a.pid, a.application_name, a.state, a.xact_start IS NOT NULL AS in_xact, left(a.query, 80) AS query,
                     (SELECT string_agg(l.objid::text || CASE WHEN l.granted THEN '' ELSE '(waiting)' END, ',') FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory') AS advisory
                FROM pg_stat_activity a WHERE a.datname = current_database()`,
      )
      .then((r) => JSON.stringify(r.rows))
      .catch((e: Error) => `(target not readable: ${e.message})`);
    run.child.kill('SIGKILL');
    const out = await run.done;
    throw new Error(`${(err as Error).message}; target sessions: ${seen}\nreplicate said:\n    ${out.stderr.split('\n').slice(-60).join('\n    ')}`);
  });
  const cleanup = await runCli(['cleanup', '--source', src.url, '--target', tgt.url]);
  expect(cleanup.code, cleanup.stderr).toBe(2);
  expect(cleanup.stderr).toMatch(/another pgshift run is/);
}

const tail = (r: CliResult) =>
  r.stderr
    .split('\n')
    .filter((l) => !l.startsWith('{'))
    .slice(process.env.PGSHIFT_FAULT_DEBUG ? -40 : -6)
    .join('\n    ');

describe(`replicate fault suite (seed ${SEED})`, () => {
  let pg15: LocalCluster;
  let pg17: LocalCluster;
  const base = join(tmpdir(), `pgshift-rfaults-${process.pid}`);
  const dbs: TestDatabase[] = [];

  beforeAll(async () => {
    console.log(`replicate fault seed ${SEED}: PGSHIFT_FAULT_SEED=${SEED} npm run test:faults repeats these choices`);
    [pg15, pg17] = await Promise.all([startLocalCluster({ major: 15, dir: join(base, 'pg15') }), startLocalCluster({ major: 17, dir: join(base, 'pg17') })]);
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop().catch(() => undefined);
    await Promise.all([pg15?.stop(), pg17?.stop()]);
    rmSync(base, { recursive: true, force: true });
  });

  /** A source with a finished initial copy on a fresh target, then a backlog not yet applied. */
  async function pair(label: string): Promise<{ src: TestDatabase; tgt: TestDatabase }> {
    const src = await createDatabase(pg15, { label: `${label}_src`, replication: true });
    const tgt = await createDatabase(pg17, { label: `${label}_tgt` });
    dbs.push(src, tgt);
    await src.owner(SCHEMA);
    const first = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(first.code, first.stderr).toBe(0);
    return { src, tgt };
  }

  const victims = [
    { name: 'the walsender', source: true, target: false },
    { name: "the target's apply backend", source: false, target: true },
    { name: 'both', source: true, target: true },
  ];

  it.each(victims)('terminating $name inside apply batches, again and again: exit 0 and identical', { timeout: 300_000 }, async (victim) => {
    const { src, tgt } = await pair('inbatch');
    await writeBacklog(src, 1);
    const run = startCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--status-interval', '1']);
    let hits = 0;
    // Four strikes: without a commit between them, the retry waits 1, 2, 4, 8 s (backoff).
    for (let i = 0; i < 4; i++) {
      // Wait until the applier is inside a batch, then strike a few ms later (seeded).
      const at = await Promise.race([
        run.done.then(() => 'ended' as const),
        waitFor('an apply batch', async () => (await inBatch(tgt)) && ('batch' as const), 60_000, 2),
      ]);
      if (at === 'ended') break;
      await sleep(Math.floor(rand() * 15));
      let n = 0;
      if (victim.source) n += await terminate(src.adminUrl, src.database, 'pgshift replicate stream');
      if (victim.target) n += await terminate(tgt.adminUrl, tgt.database, 'pgshift replicate apply');
      if (n > 0) hits++;
      // Let it reconnect (backoff) before the next strike.
      if (await within(run, 300 + Math.floor(rand() * 700))) break;
    }
    const r = await run.done;
    console.log(`in-batch terminations of ${victim.name}: ${hits}, exit ${r.code}`);
    expect(hits, 'the fault never landed').toBeGreaterThan(0);
    expect(r.code, tail(r)).toBe(0);
    expect(r.stderr).toContain('reconnecting');
    await expectSameDatabase(src, tgt);
  });

  it('the control connection lost mid-run: the run re-takes its lock and finishes with exit 0', { timeout: 300_000 }, async () => {
    const { src, tgt } = await pair('ctl');
    await writeBacklog(src, 2, 300);
    const run = startCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--status-interval', '1']);
    await waitFor('an apply batch', () => inBatch(tgt), 60_000, 5);
    // The control connection's application_name is "pgshift replicate [host:pid]".
    const n = await terminate(tgt.adminUrl, tgt.database, 'pgshift replicate [%');
    expect(n).toBe(1);
    await terminate(src.adminUrl, src.database, 'pgshift replicate control');
    const r = await run.done;
    expect(r.code, tail(r)).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it(
    'the target restarted under a streaming run: the run holds the target again (cleanup and a second run refused), then catches up',
    { timeout: 300_000 },
    async () => {
      const { src, tgt } = await pair('restart');
      const run: RunningCli = startCli([
        'replicate',
        '--source',
        src.url,
        '--target',
        tgt.url,
        '--status-interval',
        '1',
        ...(process.env.PGSHIFT_FAULT_DEBUG ? ['--log-level', 'debug'] : []),
      ]);
      await writeBacklog(src, 3, 100);
      // Streaming: the applier holds its lock (a restart before that fails the run's start-up, exit 3, by design).
      await waitFor('streaming', () => holdsTarget(tgt), 60_000, 20);
      await pg17.restart('fast');
      await expectHeldAgain(run, src, tgt);
      const second = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
      expect(second.code, second.stderr).toBe(2);
      expect((await tgt.admin(`SELECT to_regclass('pgshift.replication') IS NOT NULL AS ok`)).rows[0].ok).toBe(true);
      await writeBacklog(src, 4, 50);
      run.child.kill('SIGINT');
      const stopped = await run.done;
      expect(stopped.code, tail(stopped)).toBe(130);
      const last = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
      expect(last.code, last.stderr).toBe(0);
      await expectSameDatabase(src, tgt);
    },
  );

  it(
    '--capture triggers: the target restarted under a running capture — cleanup and a second run refused, then it catches up',
    { timeout: 300_000 },
    async () => {
      const src = await createDatabase(pg15, { label: 'crestart_src' });
      const tgt = await createDatabase(pg17, { label: 'crestart_tgt' });
      dbs.push(src, tgt);
      await src.owner(SCHEMA);
      const args = ['replicate', '--capture', 'triggers', '--source', src.url, '--target', tgt.url];
      const first = await runCli([...args, '--until-caught-up']);
      expect(first.code, first.stderr).toBe(0);
      const run: RunningCli = startCli([...args, '--status-interval', '1']);
      await waitFor('the applier', () => holdsTarget(tgt), 60_000, 50);
      await writeBacklog(src, 6, 50);
      await pg17.restart('fast');
      await expectHeldAgain(run, src, tgt);
      const second = await runCli([...args, '--until-caught-up']);
      expect(second.code, second.stderr).toBe(2);
      run.child.kill('SIGINT');
      const stopped = await run.done;
      expect(stopped.code, tail(stopped)).toBe(130);
      const last = await runCli([...args, '--until-caught-up']);
      expect(last.code, last.stderr).toBe(0);
      await expectSameDatabase(src, tgt, { ignore: (d) => d.object.includes('_pgshift') });
    },
  );

  it(
    'a large transaction streamed while it runs: walsender and apply backends terminated before its commit and between its commit and its apply — exit 0, identical, no duplicate',
    { timeout: 300_000 },
    async () => {
      const src = await createDatabase(pg15, { label: 'streamtx_src', replication: true });
      const tgt = await createDatabase(pg17, { label: 'streamtx_tgt' });
      dbs.push(src, tgt);
      // Streamed after 64 kB of changes (the minimum), so a few thousand rows do.
      await src.admin(`ALTER DATABASE ${src.database} SET logical_decoding_work_mem = '64kB'`);
      await src.owner(`${SCHEMA} CREATE TABLE dup_t (a integer, b text); ALTER TABLE dup_t REPLICA IDENTITY FULL;`);
      const first = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
      expect(first.code, first.stderr).toBe(0);
      const streamedOpen = async () =>
        (
          await tgt.admin(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgshift replicate apply streamed' AND xact_start IS NOT NULL`,
          )
        ).rows[0].n as number;
      const run = startCli(['replicate', '--source', src.url, '--target', tgt.url, '--status-interval', '1']);
      const a = new pg.Client({ connectionString: src.adminUrl.replace(/[?&]sslmode=[^&]*/, ''), ssl: false });
      const holder = new pg.Client({ connectionString: tgt.adminUrl.replace(/[?&]sslmode=[^&]*/, ''), ssl: false });
      await Promise.all([a.connect(), holder.connect()]);
      let strikes = 0;
      try {
        await a.query(`BEGIN`);
        await a.query(`INSERT INTO keyed SELECT g, md5(g::text), g FROM generate_series(1000001, 1004000) g`);
        await a.query(`INSERT INTO dup_t SELECT g % 100, 'x' || (g % 7) FROM generate_series(1, 3000) g`);
        await a.query(`SAVEPOINT s1`);
        await a.query(`INSERT INTO keyed SELECT g, 'rolled back', g FROM generate_series(1010001, 1012000) g`);
        await a.query(`ROLLBACK TO SAVEPOINT s1`);
        await a.query(`UPDATE keyed SET n = -n WHERE id BETWEEN 1000001 AND 1001000`);
        // Before its commit: the run reconnects and the source streams it again from its start, twice.
        for (let i = 0; i < 2; i++) {
          await waitFor('the transaction streamed to the target', async () => (await streamedOpen()) === 1, 60_000, 20);
          await sleep(Math.floor(rand() * 200));
          const n =
            (await terminate(src.adminUrl, src.database, 'pgshift replicate stream')) +
            (await terminate(tgt.adminUrl, tgt.database, 'pgshift replicate apply%'));
          if (n > 0) strikes++;
          await waitFor('the streamed transaction gone from the target', async () => (await streamedOpen()) === 0, 60_000, 20);
        }
        await a.query(`DELETE FROM keyed WHERE id BETWEEN 1003001 AND 1003500`);
        await waitFor('the transaction streamed again', async () => (await streamedOpen()) === 1, 60_000, 20);
        // Between its commit on the source and its apply: a whole transaction committed just before it waits on a
        // lock on the target, so the streamed one cannot commit there (positions only move forward).
        await holder.query(`BEGIN; LOCK TABLE full_t IN ACCESS EXCLUSIVE MODE`);
        await src.admin(`INSERT INTO full_t VALUES (-1, 'before the large commit', -1)`);
        await waitFor(
          'the batch blocked on the lock',
          async () => {
            const { rows } = await tgt.admin(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgshift replicate apply' AND wait_event_type = 'Lock'`,
            );
            return rows[0].n > 0;
          },
          60_000,
          20,
        );
        await a.query(`COMMIT`);
        await sleep(500 + Math.floor(rand() * 500));
        expect((await tgt.admin(`SELECT count(*)::int AS n FROM keyed WHERE id > 1000000`)).rows[0].n).toBe(0);
        const n =
          (await terminate(src.adminUrl, src.database, 'pgshift replicate stream')) + (await terminate(tgt.adminUrl, tgt.database, 'pgshift replicate apply%'));
        if (n > 0) strikes++;
        await holder.query(`COMMIT`);
        await waitFor(
          'the large transaction applied',
          async () => (await tgt.admin(`SELECT count(*)::int AS n FROM keyed WHERE id > 1000000`)).rows[0].n === 3500,
          90_000,
          50,
        );
      } finally {
        await Promise.all([a.end().catch(() => undefined), holder.end().catch(() => undefined)]);
      }
      run.child.kill('SIGINT');
      const stopped = await run.done;
      console.log(`streamed-transaction strikes: ${strikes}, exit ${stopped.code}`);
      expect(strikes).toBe(3);
      expect(stopped.code, tail(stopped)).toBe(130);
      expect(stopped.stderr).toContain('reconnecting');
      const last = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
      expect(last.code, last.stderr).toBe(0);
      await expectSameDatabase(src, tgt);
    },
  );

  it('--until-caught-up over a slow last batch keeps its memory flat', { timeout: 300_000 }, async () => {
    const { src, tgt } = await pair('slow');
    await writeBacklog(src, 5, 20);
    // The batch blocks on a lock held on the target for a while: keepalives keep coming meanwhile.
    const holder = new pg.Client({ connectionString: tgt.adminUrl.replace(/[?&]sslmode=[^&]*/, ''), ssl: false });
    await holder.connect();
    try {
      await holder.query(`BEGIN; LOCK TABLE keyed IN ACCESS EXCLUSIVE MODE`);
      const run = startCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
      await waitFor(
        'the applier blocked on the lock',
        async () => {
          const { rows } = await tgt.admin(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgshift replicate apply' AND wait_event_type = 'Lock'`,
          );
          return rows[0].n > 0;
        },
        60_000,
        50,
      );
      const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${run.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
      await sleep(2000);
      const before = rss();
      await sleep(15_000);
      const after = rss();
      console.log(`RSS over a 15 s blocked batch: ${before.toFixed(0)} → ${after.toFixed(0)} MiB`);
      await holder.query('COMMIT');
      const r = await run.done;
      expect(r.code, tail(r)).toBe(0);
      expect(after - before, `RSS grew from ${before.toFixed(0)} to ${after.toFixed(0)} MiB`).toBeLessThan(25);
    } finally {
      await holder.end().catch(() => undefined);
    }
    await expectSameDatabase(src, tgt);
  });
});
