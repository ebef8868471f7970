// pgshift cutover --verify changed with an online verify's baseline (pgoutput): replicate runs → an online verify
// passes (the baseline) → the application writes to one table only → the cutover compares the rows of that table
// only (its JSON lists it) and exits 0; the independent comparison closes. A row changed on the target behind
// pgshift's back in an UNCHANGED table is, by design, not read by --verify changed; a full verify finds it.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { compareDatabases, expectSameDatabase } from '../support/compare.js';
import { isCaptureObject } from '../support/capture.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { waitFor } from '../support/replication.js';
import { spawnCli, type Running } from '../support/spawn.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pgshift cutover --verify changed (pgoutput, online verify baseline)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let repl: Running | undefined;
  const base = () => ['--source', src.url, '--target', tgt.url];

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'cutch_src', replication: true }), createDatabase(pg17, { label: 'cutch_tgt' })]);
    await src.owner(`
      CREATE TABLE busy (id int PRIMARY KEY, v text);
      CREATE TABLE quiet (id int PRIMARY KEY, v text);
      CREATE TABLE emptied (id int PRIMARY KEY, v text);
      INSERT INTO busy SELECT g, 'b' || g FROM generate_series(1, 500) g;
      INSERT INTO quiet SELECT g, 'q' || g FROM generate_series(1, 500) g;
      INSERT INTO emptied SELECT g, 'e' || g FROM generate_series(1, 50) g;`);
  });
  afterAll(async () => {
    if (repl && !repl.exited()) repl.child.kill('SIGKILL');
    await runCli(['cutover', ...base(), '--abort']).catch(() => undefined);
    await runCli(['cleanup', ...base(), '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('verifies only the tables changed since the baseline (a TRUNCATE counts); a row changed on an unchanged table is left to --verify full', async () => {
    repl = spawnCli(['replicate', ...base()]);
    await waitFor(
      'the initial copy and streaming',
      async () => {
        if (repl!.exited()) return 'exited';
        const { rows } = await tgt.admin(`SELECT to_regclass('pgshift.replication') IS NOT NULL AS ok`);
        if (!rows[0].ok) return null;
        const r = await tgt.admin(`SELECT copy_done_at IS NOT NULL AS done FROM pgshift.replication`);
        return r.rows[0]?.done ? 'streaming' : null;
      },
      90_000,
    );
    if (repl.exited()) throw new Error(`replicate ended:\n${repl.output()}`);
    // The baseline: an online verify that passes while replicate runs.
    const online = await runCli(['verify', ...base(), '--json']);
    expect(online.code, online.stderr + online.stdout).toBe(0);
    expect(parseJson(online).online).not.toBeNull();

    // After it: writes to busy, a TRUNCATE of emptied (applied while replicate runs), and, behind pgshift's
    // back, a row of quiet changed on the target.
    await src.owner(`UPDATE busy SET v = v || 'x' WHERE id <= 20; INSERT INTO busy VALUES (1000, 'new'); TRUNCATE emptied;`);
    await tgt.admin(`UPDATE quiet SET v = 'behind pgshift' WHERE id = 7`);
    await waitFor('busy applied', async () => ((await tgt.admin(`SELECT 1 FROM busy WHERE id = 1000`)).rows.length ? true : null), 30_000);
    repl.child.kill('SIGINT');
    await repl.exit;
    // After replicate stopped: the cutover's own catch-up applies (and counts) this one.
    await src.owner(`DELETE FROM busy WHERE id = 500`);

    const r = await runCli(['cutover', ...base(), '--grace', '2s', '--max-lag', '2s', '--verify', 'changed', '--json'], { timeoutMs: 110_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const rep = parseJson(r);
    expect(rep.verdict).toBe('safe to switch');
    expect(rep.verify.fallback).toBeNull();
    expect(rep.verify.baseline.position).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(rep.verify.compared).toEqual(['public.busy', 'public.emptied']);
    expect(rep.verify.tables).toBe(2);
    expect(rep.prediction.steps.find((s: { step: string }) => s.step === 'verify').basis).toMatch(/^2 table\(s\)/);

    // The independent comparison: equal but for the row changed behind pgshift's back, which --verify changed
    // did not read (the trade-off), and a full verify finds.
    const ignoreCapture = (d: { kind: string; object: string }) => isCaptureObject(d);
    const diffs = await compareDatabases(src, tgt, { ignore: ignoreCapture });
    expect(diffs.map((d) => d.object)).toEqual(['public.quiet']);
    const full = await runCli(['verify', ...base(), '--json']);
    expect(full.code, full.stdout).toBe(1);
    expect(full.stdout).toMatch(/quiet/);
    await tgt.admin(`UPDATE quiet SET v = 'q7' WHERE id = 7`);
    await expectSameDatabase(src, tgt, { ignore: ignoreCapture });
    await sleep(0);
  }, 200_000);
});
