// pgshift replicate end to end: a REPLICATION-capable non-superuser source (PostgreSQL 15, TLS) into a
// non-superuser target owner (17). Writes run during the initial copy and during streaming; the run is
// SIGKILLed mid-stream and rerun, its walsender is terminated, it is stopped with SIGTERM, and finally
// --until-caught-up finishes it. The target must then equal the source (independent comparison: rows,
// sequences, constraints, triggers), with no duplicate row and no audit row written by the target's trigger.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase, tableRowCounts } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { buildHardCases } from '../support/hardcases.js';
import { recorded, slotsAndPublications, startWriter, waitFor } from '../support/replication.js';

const EXTRA_SQL = `
CREATE TABLE live (id serial PRIMARY KEY, v text NOT NULL, n integer NOT NULL);
INSERT INTO live (v, n) SELECT md5(g::text), g FROM generate_series(1, 2000) g;
CREATE TABLE bulk (id integer PRIMARY KEY, v text);
CREATE TABLE parent (id integer PRIMARY KEY, name text);
CREATE TABLE child (id integer PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent DEFERRABLE INITIALLY DEFERRED, note text);
INSERT INTO parent VALUES (1, 'one'); INSERT INTO child VALUES (1, 1, 'first');
-- partitioned, no key anywhere: its leaves get REPLICA IDENTITY FULL; duplicates in one leaf
CREATE TABLE plog (k integer NOT NULL, v text) PARTITION BY LIST (k);
CREATE TABLE plog_1 PARTITION OF plog FOR VALUES IN (1);
CREATE TABLE plog_2 PARTITION OF plog FOR VALUES IN (2);
INSERT INTO plog VALUES (1, 'a'), (1, 'a'), (1, 'a'), (2, 'b');
`;

function startReplicate(args: string[]): {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
} {
  const env = { ...process.env, PGSHIFT_SOURCE_URL: undefined, PGSHIFT_TARGET_URL: undefined } as NodeJS.ProcessEnv;
  const child = spawn(process.execPath, [BIN, 'replicate', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    if (process.env.PGSHIFT_TEST_VERBOSE) process.stderr.write(d);
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

describe('pgshift replicate (REPLICATION non-superuser source on 15 → non-superuser target on 17)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'repl_src', replication: true }), createDatabase(pg17, { label: 'repl_tgt' })]);
    await buildHardCases(src);
    await src.owner(EXTRA_SQL);
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  const args = () => ['--source', src.url, '--target', tgt.url, '--status-interval', '1'];

  it('refuses tables without replica identity with the exact statements, creating nothing', async () => {
    const r = await runCli(['replicate', ...args()]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('ALTER TABLE "public"."event_log" REPLICA IDENTITY FULL;');
    expect(r.stderr).toContain('--fix-replica-identity');
    expect(await slotsAndPublications(src)).toEqual({ slots: [], publications: [] });
    expect(await recorded(tgt)).toBe(null);
  });

  it(
    'copies under live writes, streams every change exactly once across SIGKILL, a lost walsender and SIGTERM, then catches up',
    { timeout: 600_000 },
    async () => {
      const writer = startWriter(src, 'live');
      try {
        // ---- run 1: initial copy while the writer runs, then streaming; SIGKILLed mid-stream
        const run1 = startReplicate([...args(), '--fix-replica-identity']);
        const rec = await waitFor('the initial copy to finish', async () => {
          const r = await recorded(tgt);
          return r?.copy_done ? r : null;
        });
        expect((await slotsAndPublications(src)).slots).toEqual([rec.slot]);
        // Changes of every kind while streaming.
        await src.owner(`
        UPDATE blobs SET raw = '\\x01' WHERE id = 1;                                -- body (3 MB, TOAST) unchanged
        UPDATE measurements SET at = '2025-06-01' WHERE id = 1;                     -- moves 2024 → 2025 partition
        UPDATE event_log SET kind = 'dup2' WHERE ctid = (SELECT ctid FROM event_log WHERE kind = 'dup' LIMIT 1);
        DELETE FROM event_log WHERE ctid = (SELECT ctid FROM event_log WHERE kind IS NULL LIMIT 1);
        INSERT INTO event_log VALUES (NULL, NULL, NULL);
        INSERT INTO order_lines (qty, price) VALUES (3, 9.99), (4, 0.01);         -- identity ALWAYS + generated
        UPDATE order_lines SET qty = qty + 1 WHERE id = 5;
        UPDATE order_lines SET id = DEFAULT WHERE id = 7;                           -- an identity key changes
        INSERT INTO types_zoo SELECT id + 100, f4, f8, num, num_fixed, i2, i8, flag, ts, tstz, t, ttz, iv, d, by, tx, ch, vc, qc, arr, arr2, arr_lb, j, jb, u, ip, net, mac, mac8, b, vb, m, x, tsv, pt, e, ea, dom, em, comp, comps, r4, rts, rd, rn, rf, mr FROM types_zoo;
        UPDATE types_zoo SET id = id + 1000 WHERE id IN (1, 2);
        BEGIN; INSERT INTO child VALUES (2, 2, 'child before its parent'); INSERT INTO parent VALUES (2, 'two'); COMMIT;
        BEGIN; INSERT INTO team VALUES (6, 600); INSERT INTO player VALUES (600, 6); COMMIT;
        UPDATE plog SET k = 2 WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM plog WHERE v = 'a' LIMIT 1);  -- one duplicate moves
        UPDATE plog SET v = 'a2' WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM plog WHERE v = 'a' LIMIT 1);
        DELETE FROM plog WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM plog WHERE v = 'b' LIMIT 1);
        TRUNCATE stock;
        INSERT INTO stock VALUES ('w9', 1, 1);
      `);
        // A transaction of 100,000 rows (and 10,000 deletes) — SIGKILL while it is being applied or right after.
        await src.owner(`BEGIN; INSERT INTO bulk SELECT g, md5(g::text) FROM generate_series(1, 100000) g; DELETE FROM bulk WHERE id % 10 = 0; COMMIT;`);
        await waitFor('the first streamed changes to be applied', async () => (await recorded(tgt))?.applied !== rec.applied);
        run1.child.kill('SIGKILL');
        const k = await run1.done;
        expect(k.signal).toBe('SIGKILL');

        // ---- run 2: resumes from the persisted position (no new copy); its walsender is terminated; SIGTERM
        await src.owner(`INSERT INTO parent VALUES (3, 'three'); UPDATE child SET note = 'updated' WHERE id = 1;`);
        const run2 = startReplicate(args());
        const firstPid = await waitFor('run 2 to stream', async () => {
          const r = await src.admin(`SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active`, [rec.slot]);
          return r.rows[0]?.active_pid as number | undefined;
        });
        await src.admin(`SELECT pg_terminate_backend($1)`, [firstPid]);
        await waitFor('run 2 to reconnect', async () => {
          const r = await src.admin(`SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active`, [rec.slot]);
          return r.rows[0] && r.rows[0].active_pid !== firstPid;
        });
        await src.owner(`TRUNCATE countries; INSERT INTO countries VALUES ('xx', 'after the reconnect');`);
        await new Promise((r) => setTimeout(r, 1500));
        run2.child.kill('SIGTERM');
        const t = await run2.done;
        expect(t.code, t.stderr).toBe(143); // SIGTERM: stopped gracefully, exit 128 + 15
        expect(t.stdout).toContain('Resumed streaming');
        expect(t.stderr).toMatch(/reconnecting/);
      } finally {
        await writer.stop();
      }

      // ---- run 3: --until-caught-up with nothing written any more: finishes, sets sequences, restores the target.
      // The application refreshes its materialized views; the finish refreshes the target's (not replicated).
      await src.owner(`REFRESH MATERIALIZED VIEW line_totals`);
      const fin = await runCli(['replicate', ...args(), '--until-caught-up', '--timeout', '300', '--json']);
      expect(fin.code, fin.stderr).toBe(0);
      const s = parseJson(fin);
      expect(s).toMatchObject({ ok: true, caughtUp: true, lagBytes: 0, initialCopy: null, start: 'none' });
      expect(s.appliedLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(s.restored.triggers).toBeGreaterThan(0);
      expect(s.restored.foreignKeys).toBeGreaterThan(0);
      expect(s.matviews.views).toBeGreaterThan(0);

      // The independent comparison: every table's rows as a multiset (duplicates count), sequences, constraints,
      // triggers (enabled state included), identity columns.
      await expectSameDatabase(src, tgt);
      const counts = await tableRowCounts(tgt);
      expect(counts.get('public.bulk')).toBe(90_000);
      expect(counts.get('public.audit_log')).toBe((await tableRowCounts(src)).get('public.audit_log'));
      const dup = await tgt.owner(
        `SELECT count(*) FILTER (WHERE kind = 'dup')::int AS dup, count(*) FILTER (WHERE kind = 'dup2')::int AS dup2, count(*) FILTER (WHERE kind IS NULL)::int AS nulls FROM event_log`,
      );
      expect(dup.rows[0]).toEqual({ dup: 2, dup2: 1, nulls: 2 });
      const plog = await tgt.owner(`SELECT tableoid::regclass::text AS leaf, k, v, count(*)::int AS n FROM plog GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`);
      expect(plog.rows).toEqual([
        { leaf: 'plog_1', k: 1, v: 'a', n: 1 },
        { leaf: 'plog_1', k: 1, v: 'a2', n: 1 },
        { leaf: 'plog_2', k: 2, v: 'a', n: 1 },
      ]);
      const toast = await tgt.owner(
        `SELECT length(body) AS len, md5(body) = md5((SELECT string_agg(md5(g::text || 'pgshift'), '') FROM generate_series(1, 100000) g)) AS same FROM blobs WHERE id = 1`,
      );
      expect(toast.rows[0]).toEqual({ len: 3_200_000, same: true });

      // ---- cleanup: slot and publication gone; twice is fine
      const c1 = await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--json']);
      expect(c1.code, c1.stderr).toBe(0);
      expect(await slotsAndPublications(src)).toEqual({ slots: [], publications: [] });
      const c2 = await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--json']);
      expect(c2.code, c2.stderr).toBe(0);
      expect(parseJson(c2).nothingToDo).toBe(true);
    },
  );
});
