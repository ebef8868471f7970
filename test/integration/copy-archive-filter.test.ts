// copy/verify --source FILE with --include/--exclude (#26): a table left out is left out whole (definition,
// rows, indexes, owned sequence, comments, a view on it), as a live copy's filters do; everything else is
// restored and identical to the dumped source; verify checks the same selection; a selection that cannot be
// restored (a kept table's foreign key into a left-out one, an --include that matches nothing) is refused
// before anything is written.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { compareDatabases, tableRowCounts } from '../support/compare.js';
import { dumpToFile } from '../support/dump-restore.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('copy/verify --source FILE with --include/--exclude', () => {
  let src: TestDatabase;
  const dbs: TestDatabase[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-archive-filter-'));
  const dump = join(dir, 'latest.dump');
  const target = async (label: string) => {
    const t = await createDatabase(inject('clusters').pg17, { label });
    dbs.push(t);
    return t;
  };
  const hasState = async (t: TestDatabase) => (await t.admin(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgshift'`)).rows[0].n === 1;
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'arfilt_src' });
    await src.owner(`
      CREATE TABLE accounts (id int PRIMARY KEY, name text); INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 500) g;
      CREATE TABLE orders (id serial PRIMARY KEY, account_id int REFERENCES accounts, total numeric); INSERT INTO orders (account_id, total) SELECT 1 + g % 500, g / 7.0 FROM generate_series(1, 3000) g;
      CREATE TABLE logs (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), msg text); INSERT INTO logs (msg) SELECT 'm' || g FROM generate_series(1, 2000) g;
      CREATE INDEX logs_at ON logs (at); COMMENT ON TABLE logs IS 'noisy'; COMMENT ON COLUMN logs.msg IS 'the text';
      CREATE VIEW recent_logs AS SELECT * FROM logs WHERE at > now() - interval '1 day';
      CREATE TABLE scratch_a (x int); INSERT INTO scratch_a VALUES (1);
      CREATE TABLE scratch_b (x int); INSERT INTO scratch_b VALUES (2);`);
    await dumpToFile(src, dump, ['-Fc', '--no-owner', '--no-acl']);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([src?.drop(), ...dbs.map((d) => d.drop())]);
  });

  it('--exclude: the table left out whole, the rest identical; verify checks the same selection', async () => {
    const tgt = await target('arfilt_ex');
    const r = await runCli(['copy', '--source', dump, '--target', tgt.url, '--exclude', 'public.logs', '--exclude', 'scratch_*', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = parseJson(r);
    expect(summary.tables).toBe(2);
    // --analyze overlap (the default): every restored table analyzed beside the builds, none left for the end.
    const { rows: stats } = await tgt.admin(
      `SELECT relname, last_analyze IS NOT NULL AS analyzed FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY relname`,
    );
    expect(stats).toEqual([
      { relname: 'accounts', analyzed: true },
      { relname: 'orders', analyzed: true },
    ]);
    expect(summary.phases.analyze ?? 0).toBe(0);
    const counts = await tableRowCounts(tgt);
    expect(Object.fromEntries(counts)).toEqual({ 'public.accounts': 500, 'public.orders': 3000 });
    // The only differences from the source: what hangs off the left-out tables.
    const diffs = await compareDatabases(src, tgt);
    expect(diffs.length).toBeGreaterThan(0);
    expect(diffs.filter((d) => !/logs|scratch_/.test(d.object)).map((d) => `${d.kind} ${d.object}: ${d.detail}`)).toEqual([]);
    const { rows } = await tgt.admin(
      `SELECT to_regclass('public.logs_id_seq') IS NULL AS seq_gone, to_regclass('public.recent_logs') IS NULL AS view_gone, to_regclass('public.orders_id_seq') IS NOT NULL AS kept_seq`,
    );
    expect(rows[0]).toEqual({ seq_gone: true, view_gone: true, kept_seq: true });
    const v = await runCli(['verify', '--source', dump, '--target', tgt.url, '--exclude', 'public.logs', '--exclude', 'scratch_*', '--json']);
    expect(v.code, v.stderr).toBe(0);
    const vr = parseJson(v);
    expect(vr.tables.map((t: { table: string }) => t.table)).toEqual(['public.accounts', 'public.orders']);
    expect(vr.sequences.map((s: { sequence: string }) => s.sequence)).toEqual(['public.orders_id_seq']);
    // Without the same filters the left-out tables are missing: verify says so.
    const whole = await runCli(['verify', '--source', dump, '--target', tgt.url]);
    expect(whole.code).not.toBe(0);
  });

  it('--include: only the selected tables (and what they need) are restored; a resume keeps the selection', async () => {
    const tgt = await target('arfilt_in');
    const r = await runCli(['copy', '--source', dump, '--target', tgt.url, '--include', 'public.accounts', '--include', 'public.orders', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.fromEntries(await tableRowCounts(tgt))).toEqual({ 'public.accounts': 500, 'public.orders': 3000 });
    const diffs = await compareDatabases(src, tgt);
    expect(diffs.filter((d) => !/logs|scratch_/.test(d.object)).map((d) => `${d.kind} ${d.object}: ${d.detail}`)).toEqual([]);
    const again = await runCli(['copy', '--source', dump, '--target', tgt.url, '--resume', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(parseJson(again).alreadyComplete).toBe(true);
    const changed = await runCli(['copy', '--source', dump, '--target', tgt.url, '--resume', '--exclude', 'public.orders']);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/cannot change on --resume/);
    const v = await runCli(['verify', '--source', dump, '--target', tgt.url, '--include', 'public.accounts', '--include', 'public.orders']);
    expect(v.code, v.stderr).toBe(0);
  });

  it('refused before anything is written: a kept foreign key into a left-out table, an --include that matches nothing', async () => {
    const tgt = await target('arfilt_no');
    const fk = await runCli(['copy', '--source', dump, '--target', tgt.url, '--exclude', 'public.accounts']);
    expect(fk.code).toBe(2);
    expect(fk.stderr).toMatch(/foreign key orders_account_id_fkey of public\.orders, which is selected, references public\.accounts left out/);
    const typo = await runCli(['copy', '--source', dump, '--target', tgt.url, '--include', 'public.acounts']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/--include "public\.acounts" matches no table/);
    const vtypo = await runCli(['verify', '--source', dump, '--target', tgt.url, '--include', 'public.acounts']);
    expect(vtypo.code).toBe(2);
    expect(await hasState(tgt)).toBe(false);
    expect((await tableRowCounts(tgt)).size).toBe(0);
  });
});
