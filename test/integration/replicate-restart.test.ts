// pgshift replicate: SIGKILL during the initial copy then a rerun; DDL on the source stops replication with the
// fix named; a source role without REPLICATION gets exit 3 with the alternatives; metrics and health endpoints.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase, tableRowCounts } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { recorded, slotsAndPublications, startWriter, waitFor } from '../support/replication.js';

const SCHEMA = `
CREATE TABLE live (id serial PRIMARY KEY, v text NOT NULL, n integer NOT NULL);
INSERT INTO live (v, n) SELECT md5(g::text), g FROM generate_series(1, 1000) g;
CREATE TABLE payments (id integer PRIMARY KEY, amount numeric(12, 2));
CREATE TABLE big (id bigint PRIMARY KEY, pad text);
INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 150000) g;
CREATE TABLE nokey (a integer, b text) ;
ALTER TABLE nokey REPLICA IDENTITY FULL;
INSERT INTO nokey SELECT g % 10, 'x' FROM generate_series(1, 100) g;
`;

function spawnReplicate(args: string[]) {
  const env = { ...process.env, PGSHIFT_SOURCE_URL: undefined, PGSHIFT_TARGET_URL: undefined } as NodeJS.ProcessEnv;
  const child = spawn(process.execPath, [BIN, 'replicate', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.on('data', (d) => (stdout += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, done, stderr: () => stderr, stdout: () => stdout };
}

describe('pgshift replicate: interruptions, DDL, privileges, metrics', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let norepl: TestDatabase;
  let tgt2: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt, norepl, tgt2] = await Promise.all([
      createDatabase(pg15, { label: 'rr_src', replication: true }),
      createDatabase(pg17, { label: 'rr_tgt' }),
      createDatabase(pg15, { label: 'rr_norepl' }),
      createDatabase(pg17, { label: 'rr_tgt2' }),
    ]);
    await src.owner(SCHEMA);
    await norepl.owner(`CREATE TABLE t (id integer PRIMARY KEY)`);
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop(), norepl?.drop(), tgt2?.drop()]);
  });

  it('a source role without REPLICATION: exit 3 naming trigger capture and a frozen-writes copy; nothing created', async () => {
    const r = await runCli(['replicate', '--source', norepl.url, '--target', tgt2.url]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('lacks REPLICATION');
    expect(r.stderr).toContain('--capture triggers');
    expect(r.stderr).toContain('pgshift copy');
    expect(await recorded(tgt2)).toBe(null);
  });

  it('SIGKILL during the initial copy, then a rerun: identical, no duplicates, one slot', { timeout: 600_000 }, async () => {
    const writer = startWriter(src, 'live');
    try {
      const run1 = spawnReplicate(['--source', src.url, '--target', tgt.url, '--jobs', '1', '--split-larger-than', '1MB']);
      await waitFor(
        'the data phase of the initial copy',
        async () => {
          const { rows } = await tgt.admin(`SELECT to_regclass('pgshift.copy_chunk') IS NOT NULL AS ok`);
          if (!rows[0].ok) return false;
          const c = await tgt.admin(`SELECT count(*)::int AS n FROM pgshift.copy_chunk`);
          return c.rows[0].n > 0;
        },
        120_000,
        20,
      ).catch((err) => {
        throw new Error(`${err.message}; replicate said: ${run1.stderr()}`);
      });
      run1.child.kill('SIGKILL');
      expect((await run1.done).signal).toBe('SIGKILL');
      expect((await recorded(tgt))?.copy_done).toBe(false);
      // The rerun recovers the copy while the writer still writes, then streams.
      const run2 = spawnReplicate(['--source', src.url, '--target', tgt.url, '--jobs', '2', '--status-interval', '1']);
      await waitFor('the recovered copy to finish', async () => (await recorded(tgt))?.copy_done, 300_000);
      await new Promise((r) => setTimeout(r, 1000));
      run2.child.kill('SIGTERM');
      expect((await run2.done).code, run2.stderr()).toBe(143);
      expect(run2.stderr()).toMatch(/initial copy was interrupted/);
    } finally {
      await writer.stop();
    }
    const fin = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '300']);
    expect(fin.code, fin.stderr).toBe(0);
    expect(parseJson(fin).caughtUp).toBe(true);
    await expectSameDatabase(src, tgt);
    expect((await tableRowCounts(tgt)).get('public.big')).toBe(150_000);
    const rec = (await recorded(tgt))!;
    expect((await slotsAndPublications(src)).slots).toEqual([rec.slot]);
  });

  it('DDL on the source stops replication naming the table and the fix; after the fix a rerun continues', { timeout: 300_000 }, async () => {
    await src.owner(`ALTER TABLE live ADD COLUMN extra text; INSERT INTO live (v, n, extra) VALUES ('after ddl', -1, 'new column');`);
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '120']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('public.live');
    expect(r.stderr).toMatch(/column extra exists on the source but not on the target/);
    expect(r.stderr).toContain('ALTER TABLE "public"."live" ADD COLUMN "extra" text;');
    await tgt.owner(`ALTER TABLE live ADD COLUMN extra text`);
    const again = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '120']);
    expect(again.code, again.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('--until-caught-up gives up at --timeout with exit 1 and keeps what it applied', { timeout: 300_000 }, async () => {
    await src.owner(`INSERT INTO big SELECT g, 'late' FROM generate_series(200001, 300000) g`);
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '0', '--json']);
    expect(r.code, r.stderr).toBe(1);
    expect(parseJson(r)).toMatchObject({ ok: false, caughtUp: false, timedOut: true });
    expect(r.stderr).toContain('not caught up within --timeout');
    const flags = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--max-lag-seconds', '1']);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toContain('--until-caught-up');
  });

  it('serves Prometheus metrics and a health endpoint while streaming', { timeout: 300_000 }, async () => {
    const run = spawnReplicate(['--source', src.url, '--target', tgt.url, '--metrics-port', '0', '--status-interval', '1']);
    try {
      const port = await waitFor(
        'the metrics endpoint',
        async () => Number(/metrics on http:\/\/(?:localhost|127\.0\.0\.1):(\d+)/.exec(run.stderr())?.[1]) || null,
        60_000,
      );
      await src.owner(`INSERT INTO payments VALUES (1, 1.5)`);
      const body = await waitFor('a lag sample', async () => {
        const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /pgshift_replication_changes_applied [1-9]/.test(m) ? m : null;
      });
      expect(body).toMatch(/pgshift_replication_lag_bytes \d/);
      expect(body).toMatch(/pgshift_replication_lag_seconds \d/);
      expect(body).toMatch(/pgshift_replication_slot_retained_bytes \d/);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ ok: true });
    } finally {
      run.child.kill('SIGTERM');
    }
    expect((await run.done).code, run.stderr()).toBe(143);
    const fin = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '300']);
    expect(fin.code, fin.stderr).toBe(0);
    console.error('STAGE fin ok');
    await expectSameDatabase(src, tgt);
    console.error('STAGE compared');
    // cleanup without --source would leave the slot behind: refused, naming --source.
    const bare = await runCli(['cleanup', '--target', tgt.url]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('--source');
    console.error('STAGE bare');
    const c = await runCli(['cleanup', '--source', src.url, '--target', tgt.url]);
    console.error('STAGE cleanup', c.code, c.stderr);
    expect(c.code, c.stderr).toBe(0);
    expect(await slotsAndPublications(src)).toEqual({ slots: [], publications: [] });
  });
});
