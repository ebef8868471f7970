// replicate --capture triggers (issue #11): a Heroku-classic-like source (NOSUPERUSER NOREPLICATION owner over
// TLS, PostgreSQL 15) into a non-superuser target on 17, under concurrent writes during the copy and the apply,
// with SIGKILLs, judged by the independent comparison (test/support/compare.ts).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compareDatabases, formatDifference } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { doneChunks, sleep, waitWhileRunning } from '../support/spawn.js';
import { parseJson, runCli } from '../support/cli.js';
import { CAPTURE_SCHEMA_SQL, captureLeftovers, captureState, isCaptureObject, killHard, spawnCapture, startWriter } from '../support/capture.js';

/** Run while the capture applies: each hard case of issue #11 at least once. */
const SCRIPTED_CHANGES = `
  UPDATE accounts SET id = -id WHERE id BETWEEN 10 AND 20;                                -- primary keys change
  INSERT INTO accounts SELECT g, 3, 'large transaction' FROM generate_series(20000000, 20030000) g;
  UPDATE accounts SET balance = balance + 1 WHERE id BETWEEN 20000000 AND 20010000;
  DELETE FROM accounts WHERE id BETWEEN 20010000 AND 20015000;
  TRUNCATE scratch;
  INSERT INTO scratch VALUES (1, 'after truncate'), (2, 'after truncate');
  UPDATE events SET k = k + 100 WHERE id BETWEEN 1 AND 50 AND k < 100;                   -- rows move between partitions
  TRUNCATE events_a;
  INSERT INTO bag VALUES (777, 'dup'), (777, 'dup'), (777, 'dup'), (777, NULL), (777, NULL);
  DELETE FROM bag WHERE ctid = (SELECT ctid FROM bag WHERE a = 777 AND b = 'dup' LIMIT 1);
  UPDATE items SET qty = qty + 1000 WHERE id <= 20;                                      -- TOASTed body unchanged
  INSERT INTO items (qty, body) VALUES (1, repeat('toast', 50000));
  INSERT INTO items (id, qty) OVERRIDING SYSTEM VALUE VALUES (900000, 5);
  DELETE FROM parent WHERE id BETWEEN 100 AND 110;                                       -- cascades into child
  INSERT INTO audited VALUES (1000, 1);
`;

async function expectIdentical(src: TestDatabase, tgt: TestDatabase): Promise<void> {
  // The capture's own schema, functions and triggers exist on the source only, by design, until cleanup.
  const diffs = await compareDatabases(src, tgt, { ignore: isCaptureObject });
  expect(diffs.map(formatDifference)).toEqual([]);
}

async function untilCaughtUp(src: TestDatabase, tgt: TestDatabase): Promise<any> {
  const run = spawnCapture(src.url, tgt.url, { untilCaughtUp: true });
  const r = await run.exit;
  expect(r.code, run.output()).toBe(0);
  const line = run
    .output()
    .split('\n')
    .find((l) => l.startsWith('{"ok"'));
  return JSON.parse(line!);
}

describe('replicate --capture triggers (NOREPLICATION owner source over TLS, 15 → 17)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'cap_src' }), createDatabase(pg17, { label: 'cap_tgt' })]);
    await src.owner(CAPTURE_SCHEMA_SQL);
    const { rows } = await src.admin(`SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = $1`, [src.role]);
    expect(rows[0]).toEqual({ rolsuper: false, rolreplication: false });
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop()]));

  it('copies under a snapshot taken after the install and converges exactly under concurrent writes, SIGKILLs and a transaction open across the snapshot', async () => {
    // A transaction with an xid BEFORE the snapshot, writing after the install, committing after the copy started.
    const open = new pg.Client({ connectionString: src.url.replace(/[?&]sslmode=[^&]*/, ''), ssl: { rejectUnauthorized: false } });
    await open.connect();
    await open.query('BEGIN');
    await open.query('SELECT pg_current_xact_id()');
    const writer = startWriter(src, { clients: 2, seed: 11 });
    try {
      await convergeUnderWrites(open, writer);
    } finally {
      await writer.stop();
      await open.end().catch(() => undefined);
    }
  }, 480_000);

  async function convergeUnderWrites(open: pg.Client, writer: ReturnType<typeof startWriter>): Promise<void> {
    const first = spawnCapture(src.url, tgt.url);
    try {
      await waitWhileRunning(first, 'the capture is installed', async () => (await captureState(tgt))?.installed === true);
      await open.query(`INSERT INTO accounts VALUES (-1, 42, 'open across the snapshot')`);
      await open.query(`UPDATE accounts SET note = 'touched by the open transaction' WHERE id = 7`);
      await waitWhileRunning(first, 'the copy snapshot is recorded', async () => (await captureState(tgt))?.copySnapshot != null);
      const { rows } = await tgt.admin(`SELECT copy_snapshot FROM pgshift.capture`);
      const { rows: xid } = await open.query(`SELECT pg_current_xact_id()::text AS x`);
      const { rows: vis } = await src.admin(`SELECT pg_visible_in_snapshot($1::xid8, $2::pg_snapshot) AS v`, [xid[0].x, rows[0].copy_snapshot]);
      expect(vis[0].v).toBe(false);
      await open.query('COMMIT');
      await waitWhileRunning(first, 'batches are applied', async () => ((await captureState(tgt))?.batches ?? 0) >= 3, 180_000);
      // Every hard case at least once, whatever the random writer did.
      // One transaction; the random writer may deadlock with its TRUNCATEs: then it is simply run again.
      for (let attempt = 1; ; attempt++) {
        try {
          await src.owner(SCRIPTED_CHANGES);
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== '40P01' || attempt === 5) throw err;
        }
      }
    } finally {
      await killHard(first);
    }
    // Killed mid-apply; more writes; a second run, killed too.
    await sleep(500);
    const second = spawnCapture(src.url, tgt.url);
    const before = (await captureState(tgt))!.batches;
    await waitWhileRunning(second, 'the second run applies', async () => ((await captureState(tgt))?.batches ?? 0) >= before + 2, 120_000);
    await killHard(second);
    const w = await writer.stop();
    expect([...new Set(w.errors)]).toEqual([]);
    expect(w.transactions).toBeGreaterThan(20);

    const summary = await untilCaughtUp(src, tgt);
    expect(summary.caughtUp).toBe(true);
    expect(summary.initialCopy).toBeNull();
    expect(summary.pendingChanges).toBe(0);
    await expectIdentical(src, tgt);
    // The open transaction's rows made it; the audit trigger on the target did not double audit rows.
    const { rows: acc } = await tgt.admin(`SELECT balance, note FROM accounts WHERE id = -1`);
    expect(acc).toEqual([{ balance: 42, note: 'open across the snapshot' }]);
    const { rows: trig } = await tgt.admin(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit'`);
    expect(trig).toEqual([{ tgenabled: 'O' }]);
  }

  it('a second caught-up run with no new writes applies nothing and keeps the target identical', async () => {
    const summary = await untilCaughtUp(src, tgt);
    expect(summary.changes).toBe(0);
    await expectIdentical(src, tgt);
  }, 120_000);
});

describe('replicate --capture triggers: SIGKILL during the initial copy, DDL, cleanup', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'cap2_src' }), createDatabase(pg17, { label: 'cap2_tgt' })]);
    await src.owner(CAPTURE_SCHEMA_SQL);
    await src.owner(`CREATE TABLE big (id bigint PRIMARY KEY, payload text);
      INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 250000) g;`);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop()]));

  it('a copy killed halfway is finished from a new snapshot and still converges exactly', async () => {
    const writer = startWriter(src, { clients: 1, seed: 5 });
    try {
      const first = spawnCapture(src.url, tgt.url, { splitBytes: 2 * 1024 * 1024 });
      try {
        await waitWhileRunning(first, 'a chunk of the initial copy is done', async () => (await doneChunks(tgt)) >= 1, 180_000);
      } finally {
        await killHard(first);
      }
      expect((await captureState(tgt))!.copyDone).toBe(false);
      const second = spawnCapture(src.url, tgt.url, { splitBytes: 2 * 1024 * 1024 });
      try {
        await waitWhileRunning(second, 'the copy is finished and a batch applied', async () => ((await captureState(tgt))?.batches ?? 0) >= 1, 240_000);
      } finally {
        await killHard(second);
      }
      await src.owner(`UPDATE big SET payload = 'changed' WHERE id % 1000 = 0; DELETE FROM big WHERE id % 1000 = 1`);
    } finally {
      const w = await writer.stop();
      expect([...new Set(w.errors)]).toEqual([]);
    }
    const summary = await untilCaughtUp(src, tgt);
    expect(summary.caughtUp).toBe(true);
    await expectIdentical(src, tgt);
  }, 600_000);

  it('DDL on a captured table stops with the table and the fix named; after the fix a rerun converges', async () => {
    await src.owner(`ALTER TABLE accounts ADD COLUMN extra int; UPDATE accounts SET extra = 1 WHERE id <= 30`);
    const run = spawnCapture(src.url, tgt.url, { untilCaughtUp: true });
    const r = await run.exit;
    expect(r.code).not.toBe(0);
    expect(run.output()).toMatch(/definition of public\.accounts changed on the source \(column extra exists on the source but not on the target\)/);
    expect(run.output()).toMatch(/ALTER TABLE public\.accounts/);
    await tgt.owner(`ALTER TABLE accounts ADD COLUMN extra int`);
    const summary = await untilCaughtUp(src, tgt);
    expect(summary.changes).toBeGreaterThan(0);
    await expectIdentical(src, tgt);
  }, 240_000);

  it('pgshift cleanup is refused while a replicate runs, then removes every trigger, function and the schema, twice safely', async () => {
    const cleanup = () => runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--json']);
    const running = spawnCapture(src.url, tgt.url);
    try {
      const before = (await captureState(tgt))!.batches;
      await src.owner(`UPDATE accounts SET balance = balance + 1 WHERE id = (SELECT min(id) FROM accounts)`);
      await waitWhileRunning(running, 'the replicate applies', async () => ((await captureState(tgt))?.batches ?? 0) > before, 120_000);
      const refused = await cleanup();
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/another pgshift run is working on the target .*pgshift replicate/);
    } finally {
      await killHard(running);
    }
    expect((await captureLeftovers(src)).triggers).toBeGreaterThan(0);
    const r = await cleanup();
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r).removed.join('; ')).toMatch(/capture triggers on the source.*schema _pgshift/);
    expect(await captureLeftovers(src)).toEqual({ triggers: 0, functions: 0, schemas: 0 });
    const { rows } = await tgt.admin(`SELECT to_regnamespace('pgshift') IS NULL AS gone`);
    expect(rows[0].gone).toBe(true);
    const again = await cleanup();
    expect(again.code, again.stderr).toBe(0);
    expect(parseJson(again)).toMatchObject({ removed: [], nothingToDo: true });
    // The application's writes go on with nothing left behind, and the databases are identical with no exception.
    await src.owner(`INSERT INTO accounts (id, balance) VALUES (-99, 0); DELETE FROM accounts WHERE id = -99`);
    const diffs = await compareDatabases(src, tgt);
    expect(diffs.map(formatDifference)).toEqual([]);
  }, 240_000);
});
