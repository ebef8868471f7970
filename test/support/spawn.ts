// A pgshift CLI process the test can watch and interrupt mid-flight (runCli only waits for the end).
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './cli.js';
import type { TestDatabase } from './fixtures.js';
import { sleep } from '../../src/sleep.js';

export { sleep };

export interface Running {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: () => boolean;
}

export function spawnCli(args: string[]): Running {
  // detached: its own process group, so a SIGKILL can take down pgshift *and* any tool it spawned,
  // as losing the machine would.
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, PGSHIFT_SOURCE_URL: undefined, PGSHIFT_TARGET_URL: undefined } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let done = false;
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  return { child, output: () => out, exit, exited: () => done };
}

/** Poll until check() is true; fail if the process ends first or the deadline passes. */
export async function waitWhileRunning(run: Running, what: string, check: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) {
      if (run.exited()) break;
      return;
    }
    if (run.exited()) break;
    await sleep(20);
  }
  throw new Error(`${run.exited() ? 'the command ended' : 'timed out'} before ${what}; output:\n${run.output()}`);
}

/** Chunks committed on the target so far (0 before the state exists). */
export async function doneChunks(tgt: TestDatabase): Promise<number> {
  const { rows: present } = await tgt.admin(`SELECT to_regclass('pgshift.copy_chunk') IS NOT NULL AS ok`);
  if (!present[0].ok) return 0;
  const { rows } = await tgt.admin(`SELECT count(*)::int AS n FROM pgshift.copy_chunk WHERE done_at IS NOT NULL`);
  return rows[0].n;
}

/** Sessions of pgshift on this database other than idle ones (what a stopped run must not leave behind). */
export async function pgshiftSessions(db: TestDatabase): Promise<{ state: string; application_name: string }[]> {
  const { rows } = await db.admin(
    `SELECT state, application_name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'pgshift%'`,
  );
  return rows;
}
