// The CLI's last-resort handlers (cli/main.ts guardProcess): a stray rejected promise must not turn a command's
// outcome into Node's crash exit 1 (pgshift's "negative answer"), and an uncaught exception ends with exit 4.
// Runs the built bundle in a child process, as the CLI runs.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BUNDLE = fileURLToPath(new URL('../../dist/src/cli/bundle.js', import.meta.url));

function run(before: string): { code: number | null; stderr: string; stdout: string } {
  const script = `const { main } = await import(${JSON.stringify(BUNDLE)}); ${before}; process.exitCode = await main(['node', 'pgshift', '--version']); await new Promise((r) => setTimeout(r, 50));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe('CLI last-resort handlers', () => {
  it('a promise that fails with nothing waiting for it is reported, and the command still exits with its own code', () => {
    const r = run(`setTimeout(() => { Promise.reject(new Error('late socket failure')); }, 10)`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\d+\.\d+\.\d+/);
    expect(r.stderr).toContain('pgshift: warning: internal: an operation failed with nothing waiting for it: late socket failure');
  });

  it('an exception nothing caught ends with exit 4 (failure), never 1 (a negative answer)', () => {
    const r = run(`setTimeout(() => { throw new Error('boom in a callback'); }, 10)`);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('pgshift: internal error: boom in a callback');
    expect(r.stderr).toContain('next: run the same command again');
  });
});
