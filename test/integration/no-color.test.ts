// Colour and the pretty log printer (#27.4): a log line is painted only on a terminal and never under NO_COLOR;
// without a terminal stderr carries JSON lines. The terminal is a real pseudo-terminal (util-linux `script`), so
// the first case proves the check can see colour at all.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, runCli } from '../support/cli.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const HAVE_SCRIPT = spawnSync('script', ['--version']).status === 0;
const ESC = '\x1b';

/** Run `pgshift inventory --log-level debug` on a pseudo-terminal; everything it printed (stdout and stderr). */
function onTerminal(url: string, env: Record<string, string | undefined>): { code: number | null; out: string } {
  const r = spawnSync('script', ['-qec', `"${process.execPath}" "${BIN}" inventory --source "$SRC_URL" --log-level debug`, '/dev/null'], {
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env, SRC_URL: url },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('colour only on a terminal, never under NO_COLOR', () => {
  let src: TestDatabase;
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'nocolor' });
    await src.owner(`CREATE TABLE t (id int PRIMARY KEY)`);
  });
  afterAll(async () => {
    await src?.drop();
  });

  it('without a terminal: JSON log lines, no escape sequence anywhere', async () => {
    const r = await runCli(['inventory', '--source', src.url, '--log-level', 'debug'], { env: { NO_COLOR: undefined, FORCE_COLOR: undefined } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('"msg":"inventory: reading the source catalog"');
    expect(r.stdout + r.stderr).not.toContain(ESC);
  });

  it.skipIf(!HAVE_SCRIPT)('on a terminal the log is pretty and coloured; with NO_COLOR the same lines carry no escape sequence', () => {
    const plain = onTerminal(src.url, {});
    expect(plain.code, plain.out).toBe(0);
    expect(plain.out).toContain(`${ESC}[90mDEBUG${ESC}[0m inventory: reading the source catalog`);

    const noColor = onTerminal(src.url, { NO_COLOR: '1' });
    expect(noColor.code, noColor.out).toBe(0);
    expect(noColor.out).toMatch(/\d\d:\d\d:\d\d DEBUG inventory: reading the source catalog/);
    expect(noColor.out).not.toContain(ESC);
  });
});
