// Online verify (#24 items 2, 4): exact while the application writes and a `replicate` applies, in both capture
// modes. The verify pins the source to a position and the running applier exports the target exactly there.
// Each mode: equal under a pgbench-like load (exit 0, pause in the JSON); a row changed on the target behind
// pgshift's back is found by its key (exit 1) while writes go on; an interrupted verify leaves the replicate
// running and no temporary slot; then writes stop, replicate finishes, and the independent comparison closes.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { isCaptureObject } from '../support/capture.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { spawnCli, type Running } from '../support/spawn.js';
import { waitFor } from '../support/replication.js';
import pg from 'pg';
import { changedSinceBaseline } from '../../src/verify/baseline.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ACCOUNTS = 2000;
/** Rows the writers never touch: where the test changes the target behind pgshift's back. */
const QUIET_FROM = 1001;

/** pgbench-like clients: an UPDATE of a random account and an INSERT into the history, one transaction each. */
function load(db: TestDatabase, clients = 3) {
  let stop = false;
  let n = 0;
  const loops = Array.from({ length: clients }, async () => {
    while (!stop) {
      const aid = 1 + Math.floor(Math.random() * (QUIET_FROM - 1));
      const delta = Math.floor(Math.random() * 1000) - 500;
      await db.owner(`BEGIN; UPDATE acc SET bal = bal + ${delta} WHERE id = ${aid}; INSERT INTO hist (aid, delta) VALUES (${aid}, ${delta}); COMMIT;`);
      n++;
    }
  });
  return {
    count: () => n,
    stop: async () => {
      stop = true;
      await Promise.all(loops);
      return n;
    },
  };
}

async function applied(tgt: TestDatabase, mode: string): Promise<string | null> {
  const table = mode === 'pgoutput' ? 'pgshift.replication' : 'pgshift.capture';
  const { rows } = await tgt.admin(`SELECT to_regclass('${table}') IS NOT NULL AS ok`);
  if (!rows[0].ok) return null;
  const col = mode === 'pgoutput' ? 'applied_position::text' : 'applied_snapshot';
  const r = await tgt.admin(`SELECT copy_done_at IS NOT NULL AS done, ${col} AS p FROM ${table}`);
  return r.rows[0]?.done ? r.rows[0].p : null;
}

for (const mode of ['pgoutput', 'triggers'] as const) {
  describe(`verify online while replicate runs (${mode})`, () => {
    let src: TestDatabase;
    let tgt: TestDatabase;
    let repl: Running;
    let writers: ReturnType<typeof load>;
    const capture = mode === 'triggers' ? ['--capture', 'triggers'] : [];

    beforeAll(async () => {
      const { pg15, pg17 } = inject('clusters');
      [src, tgt] = await Promise.all([
        createDatabase(pg15, { label: `von_${mode}_src`, replication: mode === 'pgoutput' }),
        createDatabase(pg17, { label: `von_${mode}_tgt` }),
      ]);
      await src.owner(`
        CREATE TABLE acc (id int PRIMARY KEY, bal bigint NOT NULL, note text);
        INSERT INTO acc SELECT g, 0, 'n' || g FROM generate_series(1, ${ACCOUNTS}) g;
        CREATE TABLE hist (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, aid int NOT NULL REFERENCES acc, delta int, at timestamptz DEFAULT now());
        CREATE TABLE seen (id bigserial PRIMARY KEY, aid int);
        CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO seen (aid) VALUES (NEW.aid); RETURN NEW; END $$;
        CREATE TRIGGER hist_audit AFTER INSERT ON hist FOR EACH ROW EXECUTE FUNCTION audit();
        CREATE MATERIALIZED VIEW hist_count AS SELECT count(*) AS n FROM hist;`);
      repl = spawnCli(['replicate', '--source', src.url, '--target', tgt.url, ...capture]);
      await waitFor('the initial copy and streaming', async () => (repl.exited() ? 'exited' : applied(tgt, mode)), 90_000);
      if (repl.exited()) throw new Error(`replicate ended:\n${repl.output()}`);
      writers = load(src);
      await sleep(500);
    });

    afterAll(async () => {
      await writers?.stop().catch(() => undefined);
      if (repl && !repl.exited()) {
        try {
          process.kill(-repl.child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
      await Promise.all([src?.drop(), tgt?.drop()]);
    });

    it('equal under writes: exit 0, the position and the apply pause in the JSON, the baseline recorded', async () => {
      const before = writers.count();
      // Refreshed on the source only: the target's copy is refreshed by the replication's finish.
      await src.owner(`REFRESH MATERIALIZED VIEW hist_count`);
      const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
      expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
      const j = parseJson(r);
      expect(j.ok).toBe(true);
      expect(j.online.capture).toBe(mode);
      expect(typeof j.online.pauseMs).toBe('number');
      expect(j.online.pauseMs).toBeGreaterThanOrEqual(0);
      expect(j.online.position).toBeTruthy();
      // The switched-off foreign key and trigger are expected while replication runs, not differences.
      expect(j.schema.filter((d: { severity: string }) => d.severity === 'difference')).toEqual([]);
      expect(j.schema.some((d: { expected?: string; object: string }) => d.expected && /hist_aid_fkey/.test(d.object))).toBe(true);
      expect(j.sequences.every((s: { match: boolean; expected?: string }) => s.match || s.expected)).toBe(true);
      expect(j.derived).toEqual([
        expect.objectContaining({ table: 'public.hist_count', match: false, expected: expect.stringMatching(/refreshed at the finish/) }),
      ]);
      expect(writers.count(), 'writes went on during the verify').toBeGreaterThan(before);
      // The verify passed: its point is the baseline, and changes applied after it are counted per table.
      await waitFor(
        'changes counted since the baseline',
        async () => {
          const { rows } = await tgt.admin(
            `SELECT coalesce(sum(c.changes), 0)::int AS n FROM pgshift.verify_changed c
             WHERE c.point >= (SELECT max(id) FROM pgshift.verify_point WHERE passed_at IS NOT NULL) AND c.table_name = 'acc'`,
          );
          return rows[0].n > 0;
        },
        20_000,
      );
      // As the owner (the state is trusted only by its owner), over TLS like every pgshift connection in the tests.
      const c = new pg.Client({ connectionString: tgt.url.replace(/[?&]sslmode=[^&]*/, ''), ssl: { rejectUnauthorized: false } });
      await c.connect();
      try {
        const b = await changedSinceBaseline(c as never);
        expect(b?.position).toBe(j.online.position);
        expect(b?.tables.get('public.acc')).toBeGreaterThan(0);
        expect(b?.tables.get('public.hist')).toBeGreaterThan(0);
        expect(b?.tables.has('public.seen') ?? false).toBe(true);
      } finally {
        await c.end();
      }
      const text = await runCli(['verify', '--source', src.url, '--target', tgt.url]);
      expect(text.code, text.stdout + text.stderr).toBe(0);
      expect(text.stdout).toMatch(/Online {2}both sides at .* while replication runs \(apply paused \d+ ms/);
      expect(text.stdout).toMatch(/expected constraint hist_aid_fkey on public\.hist/);
    });

    it('a row changed on the target behind pgshift: exit 1 naming its key, while writes go on', async () => {
      await tgt.admin(`UPDATE acc SET note = 'tampered' WHERE id = ${QUIET_FROM + 7}`);
      const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
      expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(1);
      const j = parseJson(r);
      expect(j.online.capture).toBe(mode);
      const acc = j.tables.find((t: { table: string }) => t.table === 'public.acc');
      expect(acc.differentRows).toBe(1);
      expect(acc.differences[0].key).toEqual({ id: String(QUIET_FROM + 7) });
      expect(j.tables.filter((t: { match: boolean }) => !t.match).map((t: { table: string }) => t.table)).toEqual(['public.acc']);
      await tgt.admin(`UPDATE acc SET note = 'n${QUIET_FROM + 7}' WHERE id = ${QUIET_FROM + 7}`);
    });

    it('--online with no replicate running on the target: refused, with the next step', async () => {
      const other = await createDatabase(inject('clusters').pg17, { label: `von_${mode}_none` });
      try {
        const r = await runCli(['verify', '--source', src.url, '--target', other.url, '--online']);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/no pgshift replicate is running on the target/);
        expect(r.stderr).toMatch(/start pgshift replicate/);
      } finally {
        await other.drop();
      }
    });

    it('a verify interrupted (SIGINT, then kill -9) leaves the replicate applying and no temporary slot', async () => {
      for (const signal of ['SIGINT', 'SIGKILL'] as const) {
        const v = spawnCli(['verify', '--source', src.url, '--target', tgt.url]);
        // Interrupted while the applier is held for it (pgoutput) or while it waits for the point.
        await waitFor(
          'the verify request',
          async () => (await tgt.admin(`SELECT count(*)::int AS n FROM pgshift.verify_point WHERE requested_at > now() - interval '5 s'`)).rows[0].n > 0,
          20_000,
          5,
        );
        process.kill(-v.child.pid!, signal);
        await v.exit;
        const at = await applied(tgt, mode);
        await waitFor(
          'no temporary slot',
          async () => (await src.admin(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE temporary`)).rows[0].n === 0,
          10_000,
        );
        // The replicate goes on applying (well within the hold limit: a dead verify is noticed at once).
        await waitFor('the replicate applying again', async () => (await applied(tgt, mode)) !== at, 10_000);
        expect(repl.exited(), repl.output().slice(-2000)).toBe(false);
      }
    });

    it('writes stopped: replicate finishes and the target equals the source (independent comparison)', async () => {
      await writers.stop();
      await src.owner(`REFRESH MATERIALIZED VIEW hist_count`);
      const stopAt = Date.now();
      process.kill(-repl.child.pid!, 'SIGINT');
      await repl.exit;
      // After online verifies, Ctrl-C still ends the run promptly (it used to wait out the 15 s stop deadline).
      expect(repl.output()).not.toMatch(/did not stop within/);
      expect(Date.now() - stopAt).toBeLessThan(10_000);
      const fin = await runCli(['replicate', '--source', src.url, '--target', tgt.url, ...capture, '--until-caught-up', '--timeout', '60']);
      expect(fin.code, fin.stderr).toBe(0);
      await expectSameDatabase(src, tgt, { ignore: isCaptureObject });
    });
  });
}
