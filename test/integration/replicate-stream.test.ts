// Large transactions streamed while they run on the source (pgoutput protocol 2, #21 item 10). The source
// database's logical_decoding_work_mem is set to its minimum (64kB), so a few thousand rows are streamed.
// Covered: subtransactions, one rolled back (ROLLBACK TO SAVEPOINT), a large aborted transaction, two large
// transactions interleaved, small transactions committing in between, UPDATE/DELETE of rows the large
// transaction inserted, TOAST values (written, and left unchanged by an UPDATE); rows of a running transaction
// reach the target before its commit on the source without being visible there, and are visible after.
// Every case ends with the independent comparison (test/support/compare.ts).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { waitFor } from '../support/replication.js';
import { spawnCli, type Running } from '../support/spawn.js';

const SCHEMA = `
CREATE TABLE big (id integer PRIMARY KEY, v text NOT NULL, n integer NOT NULL, doc text);
CREATE TABLE small (id integer PRIMARY KEY, v text);
CREATE TABLE log_full (a integer, b text);
ALTER TABLE log_full REPLICA IDENTITY FULL;
INSERT INTO big SELECT g, md5(g::text), g, NULL FROM generate_series(1, 100) g;
`;

/** ~3 kB that does not compress: stored out of line (TOAST). */
const TOASTED = `(SELECT string_agg(md5(random()::text || g2::text), '') FROM generate_series(1, 100) g2)`;

async function open(db: TestDatabase): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: db.adminUrl.replace(/[?&]sslmode=[^&]*/, ''), ssl: false });
  await c.connect();
  return c;
}

/** Rows a target session sees, and the heap size the target's table has (grows with rows not yet committed). */
async function targetView(tgt: TestDatabase, where: string): Promise<{ visible: number; bytes: number }> {
  const { rows } = await tgt.admin(`SELECT (SELECT count(*)::int FROM big WHERE ${where}) AS visible, pg_relation_size('big')::int AS bytes`);
  return rows[0];
}

/** A target backend of pgshift's streamed apply inside an open transaction. */
async function streamedOpen(tgt: TestDatabase): Promise<number> {
  const { rows } = await tgt.admin(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgshift replicate apply streamed' AND xact_start IS NOT NULL`,
  );
  return rows[0].n;
}

describe('replicate: large transactions streamed while in progress', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let run: Running | undefined;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'repl_stream_src', replication: true }), createDatabase(pg17, { label: 'repl_stream_tgt' })]);
    // Read by the walsender of every new replication connection to this database.
    await src.admin(`ALTER DATABASE ${src.database} SET logical_decoding_work_mem = '64kB'`);
    await src.owner(SCHEMA);
    const first = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '60']);
    expect(first.code, first.stderr).toBe(0);
  });
  afterAll(async () => {
    if (run && !run.exited()) run.child.kill('SIGKILL');
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('applies them as they run, invisible until the source commits; subtransactions, aborts, interleaving, TOAST', async () => {
    run = spawnCli(['replicate', '--source', src.url, '--target', tgt.url, '--status-interval', '1']);
    const a = await open(src);
    const b = await open(src);
    const c = await open(src);
    try {
      const before = await targetView(tgt, 'id > 100000');
      // A: inserts with TOAST values, a subtransaction rolled back, one released, changes to its own rows.
      await a.query(`BEGIN`);
      await a.query(`INSERT INTO big SELECT g, md5(g::text), g, CASE WHEN g % 50 = 0 THEN ${TOASTED} END FROM generate_series(100001, 104000) g`);
      // B: another large transaction, interleaved with A, aborted in the end.
      await b.query(`BEGIN`);
      await b.query(`INSERT INTO big SELECT g, 'b' || g, g, NULL FROM generate_series(200001, 203000) g`);
      await a.query(`SAVEPOINT s1`);
      await a.query(`INSERT INTO big SELECT g, 'rolled back', g, ${TOASTED} FROM generate_series(110001, 111500) g`);
      await a.query(`UPDATE big SET v = 'touched by s1' WHERE id BETWEEN 100001 AND 100500`);
      await a.query(`ROLLBACK TO SAVEPOINT s1`);
      // Small transactions commit meanwhile (applied by the batched path).
      for (let i = 1; i <= 20; i++) await c.query(`INSERT INTO small VALUES ($1, $2)`, [i, `small ${i}`]);
      await a.query(`SAVEPOINT s2`);
      await a.query(`INSERT INTO big SELECT g, 'kept', g, NULL FROM generate_series(120001, 121500) g`);
      await a.query(`SAVEPOINT s3`);
      await a.query(`INSERT INTO log_full SELECT g % 10, 'nested ' || g FROM generate_series(1, 2000) g`);
      await a.query(`RELEASE SAVEPOINT s3`);
      await a.query(`RELEASE SAVEPOINT s2`);
      await b.query(`UPDATE big SET n = -n WHERE id BETWEEN 200001 AND 201000`);
      await a.query(`UPDATE big SET v = v || '+u', n = n + 1 WHERE id BETWEEN 100001 AND 101000`); // TOAST doc left unchanged
      await a.query(`DELETE FROM big WHERE id BETWEEN 103001 AND 103500`);
      await a.query(`UPDATE big SET doc = ${TOASTED} WHERE id BETWEEN 103501 AND 103600`);
      await a.query(`DELETE FROM log_full WHERE a = 3`);
      await a.query(`UPDATE log_full SET b = b || '!' WHERE a = 4`);
      for (let i = 21; i <= 40; i++) await c.query(`INSERT INTO small VALUES ($1, $2)`, [i, `small ${i}`]);

      // Both are being applied on the target before either commits, and nothing of them is visible there.
      await waitFor('two streamed transactions open on the target', async () => (await streamedOpen(tgt)) === 2, 60_000, 50).catch((err) => {
        throw new Error(`${(err as Error).message}; replicate said:\n${run!.output()}`);
      });
      await waitFor('the small transactions applied', async () => (await tgt.admin(`SELECT count(*)::int AS n FROM small`)).rows[0].n === 40, 60_000, 50);
      await waitFor(
        'rows of A written to the target (uncommitted)',
        async () => (await targetView(tgt, 'id > 100000')).bytes > before.bytes + 200_000,
        60_000,
        50,
      );
      const during = await targetView(tgt, 'id > 100000');
      expect(during.visible).toBe(0);

      await b.query(`ROLLBACK`);
      await a.query(`COMMIT`);
      await waitFor('A visible on the target', async () => (await targetView(tgt, 'id > 100000')).visible === 5000, 60_000, 50);
      await waitFor('no streamed transaction open', async () => (await streamedOpen(tgt)) === 0, 60_000, 50);

      // A large transaction aborted as a whole, while another one commits after it.
      await b.query(`BEGIN`);
      await b.query(`INSERT INTO big SELECT g, 'gone', g, ${TOASTED} FROM generate_series(300001, 303000) g`);
      await b.query(`DELETE FROM big WHERE id <= 50`);
      await waitFor('B streamed', async () => (await streamedOpen(tgt)) === 1, 60_000, 50);
      await b.query(`ROLLBACK`);
      await a.query(`BEGIN`);
      await a.query(`INSERT INTO big SELECT g, 'late', g, NULL FROM generate_series(400001, 403000) g`);
      await a.query(`UPDATE big SET v = 'late+' WHERE id BETWEEN 400001 AND 400100`);
      await a.query(`COMMIT`);
      await c.query(`UPDATE small SET v = 'after' WHERE id = 1`);
    } finally {
      await Promise.all([a.end(), b.end(), c.end()]);
    }
    run.child.kill('SIGINT');
    const exit = await run.exit;
    expect(exit.code, run.output()).toBe(130);

    const last = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '60']);
    expect(last.code, last.stderr).toBe(0);
    expect(parseJson(last).caughtUp).toBe(true);
    const { rows } =
      await tgt.admin(`SELECT count(*) FILTER (WHERE v = 'rolled back')::int AS rb, count(*) FILTER (WHERE id > 200000 AND id < 400000)::int AS aborted,
      count(*) FILTER (WHERE v = 'kept')::int AS kept, count(*) FILTER (WHERE doc IS NOT NULL)::int AS toasted FROM big`);
    expect(rows[0]).toMatchObject({ rb: 0, aborted: 0, kept: 1500 });
    expect(rows[0].toasted).toBeGreaterThan(100);
    await expectSameDatabase(src, tgt);
  });

  it('more large transactions at once than it opens connections for: applied after their commit instead, nothing lost or doubled', async () => {
    run = spawnCli(['replicate', '--source', src.url, '--target', tgt.url, '--status-interval', '1']);
    const clients = await Promise.all(Array.from({ length: 10 }, () => open(src)));
    try {
      for (const [i, c] of clients.entries()) {
        await c.query(`BEGIN`);
        await c.query(`INSERT INTO big SELECT g, 'many', g, NULL FROM generate_series(${500001 + i * 10000}, ${500000 + i * 10000 + 2500}) g`);
      }
      await waitFor('the fallback', async () => run!.output().includes('large transactions are now applied after their commit'), 60_000, 50).catch((err) => {
        throw new Error(`${(err as Error).message}; replicate said:\n${run!.output()}`);
      });
      for (const [i, c] of clients.entries()) await c.query(i % 3 === 0 ? `ROLLBACK` : `COMMIT`);
      await waitFor(
        'the committed ones applied',
        async () => (await tgt.admin(`SELECT count(*)::int AS n FROM big WHERE v = 'many'`)).rows[0].n === 6 * 2500,
        60_000,
        50,
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    run.child.kill('SIGINT');
    expect((await run.exit).code, run.output()).toBe(130);
    const last = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '60']);
    expect(last.code, last.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('--apply-ddl: a column added inside a streamed transaction is added on the target with it, and later transactions use it', async () => {
    run = spawnCli(['replicate', '--source', src.url, '--target', tgt.url, '--status-interval', '1', '--apply-ddl']);
    const c = await open(src);
    try {
      await c.query(`BEGIN`);
      await c.query(`INSERT INTO small SELECT g, 'before ddl' FROM generate_series(1001, 4000) g`);
      await waitFor('the transaction streamed', async () => (await streamedOpen(tgt)) === 1, 60_000, 50).catch((err) => {
        throw new Error(`${(err as Error).message}; replicate said:\n${run!.output()}`);
      });
      await c.query(`ALTER TABLE small ADD COLUMN extra text`);
      await c.query(`INSERT INTO small SELECT g, 'after ddl', md5(g::text) FROM generate_series(4001, 7000) g`);
      await c.query(`COMMIT`);
      await c.query(`INSERT INTO small VALUES (9001, 'later', 'x'); UPDATE small SET extra = 'set later' WHERE id = 1001`);
      await waitFor(
        'the later transaction applied',
        async () => (await tgt.admin(`SELECT count(*)::int AS n FROM small WHERE id = 9001`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n === 1,
        60_000,
        50,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}; replicate said:\n${run!.output()}`);
      });
    } finally {
      await c.end();
    }
    run.child.kill('SIGINT');
    expect((await run.exit).code, run.output()).toBe(130);
    const last = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '60', '--apply-ddl']);
    expect(last.code, last.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('--until-caught-up while a large transaction is still running: it is rolled back on the target, and the next run applies it whole after its commit', async () => {
    const c = await open(src);
    try {
      const startedAt = (await c.query(`SELECT pg_current_wal_lsn()::text AS l`)).rows[0].l as string;
      await c.query(`BEGIN`);
      await c.query(`INSERT INTO big SELECT g, 'open across runs', g, NULL FROM generate_series(700001, 704000) g`);
      await c.query(`UPDATE big SET n = n + 1 WHERE id BETWEEN 700001 AND 701000`);
      await src.owner(`INSERT INTO small VALUES (9500, 'committed meanwhile')`);
      // Caught up: everything committed is applied; the running transaction (streamed, then rolled back on the
      // target) is not, and the slot is confirmed past its first changes.
      const during = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '60']);
      expect(during.code, during.stderr).toBe(0);
      expect((await tgt.admin(`SELECT count(*)::int AS n FROM big WHERE id > 700000`)).rows[0].n).toBe(0);
      expect((await tgt.admin(`SELECT count(*)::int AS n FROM small WHERE id = 9500`)).rows[0].n).toBe(1);
      const { rows } = await src.admin(
        `SELECT bool_and(confirmed_flush_lsn > $1::pg_lsn) AS past FROM pg_replication_slots WHERE database = current_database()`,
        [startedAt],
      );
      expect(rows[0].past, 'the slot was confirmed past the start of the running transaction').toBe(true);
      await c.query(`INSERT INTO big SELECT g, 'open across runs', g, NULL FROM generate_series(704001, 706000) g`);
      await c.query(`COMMIT`);
    } finally {
      await c.end();
    }
    const after = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '60']);
    expect(after.code, after.stderr).toBe(0);
    expect((await tgt.admin(`SELECT count(*)::int AS n FROM big WHERE id > 700000`)).rows[0].n).toBe(6000);
    await expectSameDatabase(src, tgt);
  });

  it('REPLICA IDENTITY FULL: a small transaction changes one of identical rows while a large one holds another on the target — no wait, identical', async () => {
    await src.owner(`INSERT INTO log_full SELECT 77, 'same' FROM generate_series(1, 3)`);
    run = spawnCli(['replicate', '--source', src.url, '--target', tgt.url, '--status-interval', '1']);
    await waitFor(
      'the identical rows on the target',
      async () => (await tgt.admin(`SELECT count(*)::int AS n FROM log_full WHERE a = 77`)).rows[0].n === 3,
      60_000,
      50,
    );
    const x = await open(src);
    const b = await open(src);
    try {
      await x.query(`BEGIN`);
      // One of the identical rows changed by the large transaction (locked on the target until it commits there).
      await x.query(`UPDATE log_full SET b = 'by x' WHERE ctid = (SELECT ctid FROM log_full WHERE a = 77 LIMIT 1)`);
      await x.query(`INSERT INTO big SELECT g, 'x', g, NULL FROM generate_series(800001, 804000) g`);
      await waitFor('the large transaction streamed', async () => (await streamedOpen(tgt)) === 1, 60_000, 50);
      // Another of them, by a transaction that commits before it (on the source it takes a row x does not hold).
      await b.query(`UPDATE log_full SET b = 'by b' WHERE ctid = (SELECT ctid FROM log_full WHERE a = 77 AND b = 'same' LIMIT 1 FOR UPDATE SKIP LOCKED)`);
      await waitFor(
        'the small transaction applied while the large one is open',
        async () => (await tgt.admin(`SELECT count(*)::int AS n FROM log_full WHERE b = 'by b'`)).rows[0].n === 1,
        30_000,
        50,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}; replicate said:\n${run!.output()}`);
      });
      await x.query(`COMMIT`);
      await waitFor(
        'the large transaction applied',
        async () => (await tgt.admin(`SELECT count(*)::int AS n FROM log_full WHERE b = 'by x'`)).rows[0].n === 1,
        60_000,
        50,
      );
    } finally {
      await Promise.all([x.end(), b.end()]);
    }
    run.child.kill('SIGINT');
    expect((await run.exit).code, run.output()).toBe(130);
    await expectSameDatabase(src, tgt);
  });
});
