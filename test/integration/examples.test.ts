// Every example pgshift teaches works when pasted (issue #29): each command's `--help` examples, the main help's
// password block, and the runnable blocks (`<!-- runnable: NAME -->` before a code block) of the README and docs/
// are run in bash exactly as printed — `pgshift` on PATH is the
// built CLI, the example URLs become real ones, `heroku config:get DATABASE_URL` answers with the source's URL
// (test/support/examples.ts). Every example that copies ends with the independent source-vs-target comparison.
// The main help's two migration paths are run by help-examples.test.ts.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { expectSameDatabase, type Difference } from '../support/compare.js';
import {
  commandOf,
  examplesBin,
  helpExamples,
  helpFragments,
  runnableBlocks,
  runShell,
  until,
  type Example,
  type ShellOptions,
  type ShellRun,
} from '../support/examples.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const COMMANDS = ['inventory', 'estimate', 'copy', 'verify', 'replicate', 'cutover', 'rollback', 'cleanup'];
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const DOCS = new URL('../../docs/', import.meta.url);
/** Runnable blocks of docs/**.md, each named by its file and its marker. */
function docsBlocks(dir = DOCS): Array<{ where: string; text: string }> {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const url = new URL(e.name + (e.isDirectory() ? '/' : ''), dir);
    if (e.isDirectory()) return docsBlocks(url);
    if (!e.name.endsWith('.md')) return [];
    return [...runnableBlocks(readFileSync(url, 'utf8'))].map(([name, text]) => ({ where: `${url.pathname}: ${name}`, text }));
  });
}

describe('examples in --help and the README, run as printed', () => {
  let src: TestDatabase;
  const dbs: TestDatabase[] = [];
  const help = new Map<string, string>();
  let bin: ReturnType<typeof examplesBin>;

  const target = async (label = 'ex_tgt') => {
    const t = await createDatabase(inject('clusters').pg17, { label });
    dbs.push(t);
    return t;
  };
  const run = (ex: Pick<Example, 'text'>, dst: TestDatabase, more: Partial<ShellOptions> = {}) => {
    // An example that reads `latest.dump` (Heroku's backup download) gets a pg_dump -Fc of the source as it is now.
    if (/\blatest\.dump\b/.test(ex.text)) execFileSync('pg_dump', ['-Fc', '-f', join(bin.work, 'latest.dump'), '--dbname', src.url], { stdio: 'pipe' });
    return runShell(ex.text, { src: src.url, dst: dst.url, bin, timeoutMs: 110_000, ...more });
  };
  const expectCode = (r: ShellRun, code: number, ex: Pick<Example, 'text'>) =>
    expect(r.code, `exit ${r.code} from:\n${ex.text}\nstdout:\n${r.stdout.slice(-2000)}\nstderr:\n${r.stderr.slice(-3000)}`).toBe(code);
  const examplesOf = (cmd: string) => helpExamples(help.get(cmd)!).filter((e) => e.block === 'Examples:');
  // Tables --exclude "audit.*" leaves out on purpose.
  const withoutAudit = { ignore: (d: Difference) => /audit/.test(d.object) };
  const write = (n = 200) => src.owner(`INSERT INTO events (account_id) SELECT 1 + g % 2000 FROM generate_series(1, ${n}) g`);

  beforeAll(async () => {
    const { pg15 } = inject('clusters');
    src = await createDatabase(pg15, { label: 'ex_src', replication: true });
    await src.owner(`CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2));
      INSERT INTO accounts (name, balance) SELECT 'a' || g, g FROM generate_series(1, 2000) g;
      CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id int REFERENCES accounts, at timestamptz DEFAULT now());
      INSERT INTO events (account_id) SELECT 1 + g % 2000 FROM generate_series(1, 5000) g;
      CREATE TABLE orders (id serial PRIMARY KEY, account_id int REFERENCES accounts, total numeric(12,2));
      INSERT INTO orders (account_id, total) SELECT 1 + g % 2000, g FROM generate_series(1, 1000) g;
      CREATE SCHEMA audit; CREATE TABLE audit.log (id serial PRIMARY KEY, what text);
      INSERT INTO audit.log (what) SELECT 'w' || g FROM generate_series(1, 300) g;`);
    for (const c of ['', ...COMMANDS]) {
      const r = await runCli(c ? [c, '--help'] : ['--help']);
      expect(r.code).toBe(0);
      help.set(c || 'main', r.stdout);
    }
    bin = examplesBin();
  });
  afterAll(async () => {
    bin?.remove();
    await Promise.all([src?.drop(), ...dbs.map((d) => d.drop())]);
  });

  it('every help has examples; no line of a description or example is wider than 80 columns', () => {
    for (const c of COMMANDS) expect(examplesOf(c).length, `${c} --help has examples`).toBeGreaterThan(0);
    for (const [c, h] of help) {
      expect(helpFragments(h), `pgshift ${c} --help: lines of an example block that a shell would run as commands`).toEqual([]);
      const text = h.split(/^Options:/m)[0]!;
      for (const l of text.split('\n')) expect(l.length, `pgshift ${c} --help: ${l}`).toBeLessThanOrEqual(80);
    }
    // An example is a pgshift command (or a comment): a line that is neither is a wrapped fragment.
    for (const c of COMMANDS) for (const e of examplesOf(c)) expect(e.text, `pgshift ${c} --help`).toMatch(/^(pgshift |# )/);
  });

  it('inventory and estimate', { timeout: 300_000 }, async () => {
    const dst = await target();
    for (const c of ['inventory', 'estimate']) {
      for (const ex of examplesOf(c)) {
        const r = await run(ex, dst);
        expectCode(r, 0, ex);
        if (/--json/.test(ex.text) && !/\|/.test(ex.text)) JSON.parse(r.stdout);
      }
    }
    // estimate's --json | jq .totalSeconds prints a number.
    const jq = examplesOf('estimate').find((e) => /jq \.totalSeconds/.test(e.text));
    if (jq) expect(Number((await run(jq, dst)).stdout.trim())).toBeGreaterThan(0);
  });

  it('copy, then cleanup: each on the target it needs, compared with the source', { timeout: 300_000 }, async () => {
    let dst: TestDatabase | undefined;
    for (const ex of examplesOf('copy')) {
      // --resume finishes the copy before it (here: already finished, which it says); any other copy starts on an
      // empty database.
      if (!/--resume/.test(ex.text) || !dst) dst = await target();
      const r = await run(ex, dst);
      expectCode(r, 0, ex);
      if (/--json/.test(ex.text)) expect(JSON.parse(r.stdout).ok).toBe(true);
      await expectSameDatabase(src, dst, /--exclude "audit/.test(ex.text) ? withoutAudit : {});
    }
    for (const ex of examplesOf('cleanup')) {
      const r = await run(ex, dst!);
      expectCode(r, 0, ex);
    }
    expect((await dst!.owner(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgshift'`)).rows[0].n).toBe(0);
    await expectSameDatabase(src, dst!, withoutAudit);
  });

  it('verify', { timeout: 300_000 }, async () => {
    const dst = await target();
    const c = await runCli(['copy', '--source', src.url, '--target', dst.url]);
    expect(c.code, c.stderr).toBe(0);
    for (const ex of examplesOf('verify')) {
      if (ex.text.startsWith('#') && !/\n/.test(ex.text)) continue;
      const r = await run(ex, dst);
      // --owners after a copy without --keep-owner: the tables belong to another role on each side, which
      // verify must report (exit 1) — the comment above that example says it is for a copy with --keep-owner.
      if (/--owners/.test(ex.text)) {
        expectCode(r, 1, ex);
        expect(r.stdout).toMatch(/owner/i);
      } else expectCode(r, 0, ex);
    }
  });

  it('replicate: until Ctrl-C, caught up, with metrics, cleanup; trigger capture', { timeout: 400_000 }, async () => {
    const dst = await target();
    const streaming = (out: () => string) => until(() => /lag /.test(out()), 60_000, 'a lag line (streaming)');
    for (const ex of examplesOf('replicate')) {
      const command = commandOf(ex.text);
      if (command === 'cleanup' || /--capture triggers/.test(ex.text)) continue;
      await write();
      const port = /--metrics-port (\d+)/.exec(ex.text)?.[1];
      const live = !/--until-caught-up/.test(ex.text);
      let metrics = '';
      const r = await run(ex, dst, {
        interrupt: live
          ? async (out) => {
              await streaming(out);
              if (port) {
                await until(
                  async () => {
                    const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
                    metrics = res?.ok ? await res.text() : '';
                    return metrics !== '';
                  },
                  30_000,
                  `metrics on port ${port}`,
                );
              }
            }
          : undefined,
      });
      expectCode(r, live ? 130 : 0, ex);
      if (port) expect(metrics).toMatch(/pgshift_replication_lag_bytes/);
    }
    // The last run was stopped after changes were written: one more catch-up, then source and target compared.
    const final = await runCli(['replicate', '--source', src.url, '--target', dst.url, '--until-caught-up']);
    expect(final.code, final.stderr).toBe(0);
    await expectSameDatabase(src, dst);
    for (const ex of examplesOf('replicate').filter((e) => commandOf(e.text) === 'cleanup')) expectCode(await run(ex, dst), 0, ex);
    expect((await src.admin(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = current_database()`)).rows[0].n).toBe(0);

    for (const ex of examplesOf('replicate').filter((e) => /--capture triggers/.test(e.text))) {
      const dst2 = await target();
      expectCode(await run(ex, dst2), 0, ex);
      // Compared once the capture (its schema and triggers on the source) is removed again.
      const clean = await runCli(['cleanup', '--source', src.url, '--target', dst2.url]);
      expect(clean.code, clean.stderr).toBe(0);
      await expectSameDatabase(src, dst2);
    }
  });

  it('cutover: safe to switch, --abort, then the team freezing writes itself (--freeze wait)', { timeout: 300_000 }, async () => {
    const dst = await target();
    const first = await runCli(['replicate', '--source', src.url, '--target', dst.url, '--until-caught-up']);
    expect(first.code, first.stderr).toBe(0);
    try {
      for (const ex of examplesOf('cutover')) {
        if (!/--abort/.test(ex.text)) await write(); // the application writes until each cutover
        expectCode(await run(ex, dst), 0, ex);
        // After each cut over, the source refuses writes until --abort.
        if (!/--abort/.test(ex.text) && !/--freeze wait/.test(ex.text)) await expect(write()).rejects.toThrow(/read-only/);
      }
      await expectSameDatabase(src, dst);
    } finally {
      await runCli(['cutover', '--source', src.url, '--target', dst.url, '--abort']);
      await runCli(['cleanup', '--source', src.url, '--target', dst.url]);
    }
  });

  it('rollback: --abort keeps the new side, then back to the source after a cutover --reverse', { timeout: 300_000 }, async () => {
    const dst = await target('ex_rb_tgt');
    const urls = ['--source', src.url, '--target', dst.url];
    const first = await runCli(['replicate', ...urls, '--until-caught-up']);
    expect(first.code, first.stderr).toBe(0);
    try {
      await write();
      const cut = await runCli(['cutover', ...urls, '--reverse']);
      expect(cut.code, cut.stderr + cut.stdout).toBe(0);
      let rolledBack = false;
      for (const ex of examplesOf('rollback')) {
        // The application writes on the new side until the rollback (its role has no REPLICATION: trigger capture);
        // after it, the new side is read-only and a rollback again reports the one done.
        if (!rolledBack) await dst.owner(`INSERT INTO events (account_id) SELECT 1 + g % 2000 FROM generate_series(1, 50) g`);
        expectCode(await run(ex, dst), 0, ex);
        rolledBack ||= !/--abort/.test(ex.text);
      }
      // Back on the source, equal to the new side (compared once cleanup removed the reverse capture from it).
      const clean = await runCli(['cleanup', ...urls]);
      expect(clean.code, clean.stderr).toBe(0);
      await expectSameDatabase(src, dst);
      // The source takes writes again; the new side stays read-only.
      await write();
      await expect(dst.owner(`INSERT INTO events (account_id) VALUES (1)`)).rejects.toThrow(/read-only/);
    } finally {
      await runCli(['rollback', ...urls, '--abort']);
      await runCli(['cleanup', ...urls, '--force']);
      await src.admin(`SET default_transaction_read_only = off; ALTER DATABASE ${src.database} RESET default_transaction_read_only`);
    }
  });

  it("the main help's block that keeps passwords off the command line", { timeout: 200_000 }, async () => {
    const block = helpExamples(help.get('main')!).filter((e) => /^Keep passwords/.test(e.block));
    expect(block.map((e) => e.text.split(/\s/)[0])).toEqual(['export', 'export', 'echo', 'pgshift']);
    const dst = await target();
    const r = await run({ text: block.map((e) => e.text).join('\n') }, dst);
    expectCode(r, 0, { text: block.map((e) => e.text).join('\n') });
    expect(r.stderr).not.toMatch(/password.*command line/i);
    await expectSameDatabase(src, dst);
  });

  it('README: the migration in six commands, and the dump/restore path; runnable blocks in docs/', { timeout: 400_000 }, async () => {
    const blocks = runnableBlocks(README);
    expect([...blocks.keys()].sort()).toEqual(['copy', 'replicate', 'setup']);
    for (const path of ['replicate', 'copy']) {
      const dst = await target();
      const text = `${blocks.get('setup')}\n${blocks.get(path)}`;
      const r = await run({ text }, dst);
      expectCode(r, 0, { text });
      await expectSameDatabase(src, dst);
    }
    // A block in docs/ marked runnable runs the same way, after the README's setup, on an empty target.
    for (const b of docsBlocks()) {
      const dst = await target();
      const text = `${blocks.get('setup')}\n${b.text}`;
      expectCode(await run({ text }, dst), 0, { text: `${b.where}\n${text}` });
      await expectSameDatabase(src, dst);
    }
  });
});
