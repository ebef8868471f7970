// The migrations `pgshift --help` teaches work when pasted (issue #29): each command of both paths is run exactly
// as printed, with $SRC/$DST replaced by real URLs, and must exit 0; each path ends with the independent comparison.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

/** The command lines of one block of the main --help, from its heading to the next blank line. */
function block(help: string, heading: RegExp): string[][] {
  const lines = help.split('\n');
  const at = lines.findIndex((l) => heading.test(l));
  expect(at, `--help has a block matching ${heading}`).toBeGreaterThanOrEqual(0);
  const out: string[][] = [];
  for (const l of lines.slice(at + 1)) {
    if (l.trim() === '') break;
    const m = /^\s+pgshift (.*?)(\s+#.*)?$/.exec(l);
    if (m) out.push(m[1]!.trim().split(/\s+/));
  }
  return out;
}

describe('--help: the typical migrations, as printed', () => {
  let src: TestDatabase;
  const targets: TestDatabase[] = [];
  let help = '';

  beforeAll(async () => {
    const { pg15 } = inject('clusters');
    src = await createDatabase(pg15, { label: 'help_src', replication: true });
    await src.owner(`CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2));
      INSERT INTO accounts (name, balance) SELECT 'a' || g, g FROM generate_series(1, 2000) g;
      CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id int REFERENCES accounts, at timestamptz DEFAULT now());
      INSERT INTO events (account_id) SELECT 1 + g % 2000 FROM generate_series(1, 5000) g;`);
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    help = r.stdout;
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), ...targets.map((t) => t.drop())]);
  });

  const paste = async (commands: string[][]) => {
    const tgt = await createDatabase(inject('clusters').pg17, { label: 'help_tgt' });
    targets.push(tgt);
    for (const args of commands) {
      const real = args.map((a) => (a === '$SRC' ? src.url : a === '$DST' ? tgt.url : a));
      // estimate's probe is shortened: the example's point is that it runs, not how long it samples.
      if (real[0] === 'estimate') real.push('--probe-seconds', '2');
      const r = await runCli(real, { timeoutMs: 110_000 });
      expect(r.code, `pgshift ${args.join(' ')}\n${r.stderr}`).toBe(0);
      if (real[0] === 'replicate') await src.owner(`INSERT INTO events (account_id) SELECT 1 + g % 2000 FROM generate_series(1, 100) g`);
    }
    return tgt;
  };

  it('with replication: inventory, estimate, replicate twice, verify, cleanup', { timeout: 300_000 }, async () => {
    const commands = block(help, /^Typical migration/);
    expect(commands.map((c) => c[0])).toEqual(['inventory', 'estimate', 'replicate', 'replicate', 'verify', 'cleanup']);
    // The last replicate ran after the last write: verify above already compared; check independently too.
    const tgt = await paste(commands.filter((c) => c[0] !== 'verify' && c[0] !== 'cleanup'));
    const final = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(final.code, final.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
    for (const c of commands.filter((x) => x[0] === 'verify' || x[0] === 'cleanup')) {
      const real = c.map((a) => (a === '$SRC' ? src.url : a === '$DST' ? tgt.url : a));
      const r = await runCli(real);
      expect(r.code, `pgshift ${c.join(' ')}\n${r.stderr}`).toBe(0);
    }
  });

  it('with writes frozen: copy, verify, cleanup', { timeout: 300_000 }, async () => {
    const commands = block(help, /^Or with writes frozen/);
    expect(commands.map((c) => c[0])).toEqual(['copy', 'verify', 'cleanup']);
    const tgt = await paste(commands);
    await expectSameDatabase(src, tgt);
  });
});
