// replicate --capture triggers (issue #11): a Heroku-classic-like source (NOSUPERUSER NOREPLICATION owner over
// TLS, PostgreSQL 15) into a non-superuser target on 17, under concurrent writes during the copy and the apply,
// with SIGKILLs, judged by the independent comparison (test/support/compare.ts).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compareDatabases, formatDifference } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { sleep, waitWhileRunning } from '../support/spawn.js';
import { CAPTURE_SCHEMA_SQL, captureLeftovers, captureState, isCaptureObject, killHard, spawnCapture, startWriter } from '../support/capture.js';

async function expectIdentical(src: TestDatabase, tgt: TestDatabase): Promise<void> {
  // The capture's own schema, functions and triggers exist on the source only, by design, until cleanup.
  const diffs = await compareDatabases(src, tgt, { ignore: isCaptureObject });
  expect(diffs.map(formatDifference)).toEqual([]);
}

async function untilCaughtUp(src: TestDatabase, tgt: TestDatabase): Promise<any> {
  const run = spawnCapture(src.url, tgt.url, { untilCaughtUp: true });
  const r = await run.exit;
  expect(r.code, run.output()).toBe(0);
  const line = run.output().split('\n').find((l) => l.startsWith('{"ok"'));
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
