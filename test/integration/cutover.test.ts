// pgshift cutover (#25 item 1), both capture modes, on real servers: under a running write load the cutover ends
// with the source read-only for new sessions, the target identical (independent comparison) and writable, and a
// freeze report; --abort makes the source writable again exactly as it was; kill -9 at each freeze step followed
// by --abort or a rerun never leaves the source frozen; a planted difference keeps the source frozen (exit 1).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { isCaptureObject } from '../support/capture.js';
import { CUTOVER_SCHEMA } from '../support/cutover-schema.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One statement on a new session of the owner (the application); a session the cutover terminates is no crash. */
async function appQuery(db: TestDatabase, sql: string, params?: unknown[]): Promise<void> {
  const c = new pg.Client({ connectionString: db.url.replace(/\?sslmode=require$/, ''), ssl: { rejectUnauthorized: false } });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query(sql, params);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Parent ids the applications insert: unique across the runs of a file. */
let n = 0;

/** An application: a write transaction every ~10 ms, each on a new connection; refused writes are counted. */
function application(db: TestDatabase) {
  let stop = false;
  let ok = 0;
  let refused = 0;
  let failed: unknown;
  const done = (async () => {
    while (!stop) {
      n++;
      try {
        await appQuery(
          db,
          `WITH p AS (INSERT INTO parent (id, name) VALUES (1000 + $1::int, 'p' || $1::int) RETURNING id),
                c AS (INSERT INTO child (parent_id, v) SELECT id, 'c' FROM p RETURNING id)
           UPDATE child SET v = v || 'u' WHERE id = (SELECT min(id) FROM child)`,
          [n],
        );
        ok++;
      } catch (err) {
        // 25006: a new session refused by the frozen source; 57P01: a session the freeze ended after its grace.
        const code = (err as { code?: string }).code;
        if (code === '25006' || code === '57P01') refused++;
        else failed ??= err;
      }
      await sleep(10);
    }
  })();
  return {
    stop: async () => {
      stop = true;
      await done;
      if (failed) throw failed;
      return { ok, refused };
    },
  };
}

/** The database-level settings of the source database (pg_db_role_setting, any role): [] when none. */
async function dbSettings(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.admin(
    `SELECT coalesce(setconfig, '{}') AS c FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND setrole = 0`,
  );
  return rows[0]?.c ?? [];
}

/** A new session of the application can write (false: refused as read-only). */
async function writable(db: TestDatabase): Promise<boolean> {
  try {
    await db.owner(`INSERT INTO parent (id, name) VALUES ((SELECT coalesce(max(id), 0) + 100000 FROM parent), 'probe')`);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '25006') return false;
    throw err;
  }
}

for (const mode of ['pgoutput', 'triggers'] as const) {
  describe(`pgshift cutover (${mode})`, () => {
    let src: TestDatabase;
    let tgt: TestDatabase;
    const base = () => ['--source', src.url, '--target', tgt.url];
    const cutover = (more: string[] = [], env?: Record<string, string>) =>
      runCli(['cutover', ...base(), '--grace', '2s', '--max-lag', '2s', ...more], { env, timeoutMs: 110_000 });
    // The finish refreshes the target's materialized views; the source's stays as stale as its last REFRESH.
    const ignore = (d: { kind: string; object: string }) => isCaptureObject(d) || (d.kind === 'rows' && d.object === 'public.child_count');

    beforeAll(async () => {
      const { pg15, pg17 } = inject('clusters');
      [src, tgt] = await Promise.all([
        createDatabase(pg15, { label: `cut_${mode}_src`, replication: mode === 'pgoutput' }),
        createDatabase(pg17, { label: `cut_${mode}_tgt` }),
      ]);
      await src.owner(CUTOVER_SCHEMA);
      const first = await runCli(['replicate', ...base(), '--until-caught-up', '--timeout', '90', ...(mode === 'triggers' ? ['--capture', 'triggers'] : [])]);
      expect(first.code, first.stderr).toBe(0);
    });
    afterAll(async () => {
      await runCli(['cutover', ...base(), '--abort']).catch(() => undefined);
      await runCli(['cleanup', ...base(), '--force']).catch(() => undefined);
      await Promise.all([src?.drop(), tgt?.drop()]);
    });

    it('under a running write load: source read-only, target identical and writable, a freeze report; --abort undoes it exactly', async () => {
      // A session the application opened before the freeze (a pool's): it keeps read-write until terminated.
      const pooled = new pg.Client({
        connectionString: src.url.replace(/\?sslmode=require$/, ''),
        ssl: { rejectUnauthorized: false },
        application_name: 'app pool',
      });
      await pooled.connect();
      pooled.on('error', () => undefined);
      const { rows: me } = await pooled.query(`SELECT pg_backend_pid() AS pid`);
      const app = application(src);
      await sleep(500);
      const r = await cutover(['--json']);
      const writes = await app.stop();
      await pooled.end().catch(() => undefined);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const rep = parseJson(r);
      expect(rep.verdict).toBe('safe to switch');
      expect(rep.timeline.map((s: { step: string }) => s.step)).toEqual(['freeze', 'catch-up', 'finish', 'verify']);
      for (const s of rep.timeline) expect(s.seconds).toBeGreaterThanOrEqual(0);
      expect(rep.prediction.steps.length).toBe(4);
      expect(rep.frozenSeconds).toBeGreaterThan(0);
      expect(rep.terminated.map((s: { pid: number }) => s.pid)).toContain(me[0].pid);
      expect(rep.foreignKeys.failure).toBeNull();
      expect(rep.foreignKeys.validated).toBeGreaterThan(0);
      expect(writes.ok).toBeGreaterThan(5);
      expect(writes.refused).toBeGreaterThan(0);
      // The source refuses new sessions' writes; the target equals it, and takes writes.
      expect(await writable(src)).toBe(false);
      expect(await dbSettings(src)).toEqual(['default_transaction_read_only=on']);
      await expectSameDatabase(src, tgt, { ignore });
      const { rows: state } = await tgt.owner(`SELECT step, report->>'verdict' AS verdict FROM pgshift.cutover`);
      expect(state).toEqual([{ step: 'done', verdict: 'safe to switch' }]);
      await tgt.owner(`BEGIN; INSERT INTO child (parent_id, v) VALUES (1, 'on the target'); ROLLBACK`);
      // The text report: a timeline and the next step.
      const again = await cutover();
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/already done/);
      expect(again.stdout).toMatch(/Freeze timeline/);
      expect(again.stdout).toMatch(/switch DATABASE_URL/);
      // --abort: the source's own setting back exactly (none was set).
      const undo = await runCli(['cutover', ...base(), '--abort']);
      expect(undo.code, undo.stderr).toBe(0);
      expect(await dbSettings(src)).toEqual([]);
      expect(await writable(src)).toBe(true);
    });

    it('a difference planted on the target keeps the source frozen, exit 1 naming it; --abort unfreezes', async () => {
      await tgt.admin(`UPDATE parent SET name = 'planted' WHERE id = 7`);
      const r = await cutover();
      expect(r.code, r.stderr + r.stdout).toBe(1);
      expect(r.stdout).toMatch(/parent/);
      expect(r.stdout).toMatch(/DIFFERENT/);
      expect(r.stdout).toMatch(/KEPT read-only/);
      expect(await writable(src)).toBe(false);
      // Fixed by hand, then the same command resumes inside the freeze and passes.
      await tgt.admin(`UPDATE parent SET name = 'p7' WHERE id = 7`);
      const rerun = await cutover(['--json']);
      expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
      expect(parseJson(rerun).resumed).toBe(true);
      await expectSameDatabase(src, tgt, { ignore });
      const undo = await runCli(['cutover', ...base(), '--abort']);
      expect(undo.code, undo.stderr).toBe(0);
      expect(await writable(src)).toBe(true);
    });

    it('refusals freeze nothing: a predicted freeze above --max-freeze names what dominates; --freeze wait names who still writes', async () => {
      const tight = await cutover(['--max-freeze', '0.01s']);
      expect(tight.code, tight.stderr).toBe(1);
      expect(tight.stderr).toMatch(/above --max-freeze 0\.01 s; the \w[\w-]* dominates .*nothing was frozen/);
      expect(await writable(src)).toBe(true);
      if (mode === 'triggers') return;
      const app = application(src);
      const waited = await cutover(['--freeze', 'wait', '--json']);
      await app.stop();
      expect(waited.code, waited.stderr).toBe(1);
      expect(waited.stderr).toMatch(/still written after --grace 2 s \([1-9][\d,]* rows while pgshift waited.*nothing was frozen by pgshift/);
      // Sessions caught in a write transaction are named (each write here lasts milliseconds: maybe none was seen).
      expect(Array.isArray(parseJson(waited).writersSeen)).toBe(true);
      expect(await writable(src)).toBe(true);
    });

    const steps = mode === 'pgoutput' ? ['freeze', 'catch-up', 'finish', 'verify', 'validate'] : ['freeze', 'finish', 'verify'];
    it(`kill -9 at each step (${steps.join(', ')}), then --abort or a rerun: the source never stays frozen with nobody to unfreeze it`, async () => {
      for (const [i, step] of steps.entries()) {
        const app = application(src);
        await sleep(200);
        const killed = await cutover([], { PGSHIFT_CUTOVER_KILL_AT: step });
        await app.stop();
        expect(killed.signal, `${step}: ${killed.stderr}`).toBe('SIGKILL');
        const { rows } = await tgt.owner(`SELECT step, source_frozen FROM pgshift.cutover`);
        expect(rows[0].step, step).toBe(step === 'validate' ? 'validate' : step);
        if (i % 2 === 1) {
          // A rerun resumes inside the freeze and finishes; then --abort.
          const rerun = await cutover(['--json']);
          expect(rerun.code, `${step} rerun: ${rerun.stderr}`).toBe(0);
          expect(await writable(src)).toBe(false);
          await expectSameDatabase(src, tgt, { ignore });
        }
        const undo = await runCli(['cutover', ...base(), '--abort']);
        expect(undo.code, `${step} abort: ${undo.stderr}`).toBe(0);
        expect(await dbSettings(src), step).toEqual([]);
        expect(await writable(src), step).toBe(true);
      }
      // After all that, a last cutover still ends equal.
      const last = await cutover(['--verify', 'full']);
      expect(last.code, last.stderr + last.stdout).toBe(0);
      await expectSameDatabase(src, tgt, { ignore });
    });
  });
}
