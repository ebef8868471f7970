// Pieces of the fault suite: a seeded PRNG, the CLI run as a child we can signal, and the faults themselves.
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { BIN, type CliResult } from '../support/cli.js';
import { sleep } from '../../src/sleep.js';

export { sleep };

/** mulberry32: tiny, seedable, good enough to pick fault points reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function faultSeed(env = process.env): number {
  const given = env.PGSHIFT_FAULT_SEED;
  if (given !== undefined && given !== '') {
    const n = Number(given);
    if (!Number.isInteger(n) || n < 0) throw new Error(`PGSHIFT_FAULT_SEED must be a non-negative integer, not ${given}`);
    return n;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

export interface RunningCli {
  child: ChildProcess;
  done: Promise<CliResult>;
  /** Milliseconds since start. */
  elapsed(): number;
}

/** Start the real CLI (dist/ via bin/pgshift.js) as a user would, without waiting for it. */
export function startCli(args: string[]): RunningCli {
  const started = Date.now();
  const env = { ...process.env, PGSHIFT_SOURCE_URL: undefined, PGSHIFT_TARGET_URL: undefined } as NodeJS.ProcessEnv;
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  // A run that hangs must not hang the suite: 10 minutes is far beyond any run here.
  const guard = setTimeout(() => child.kill('SIGKILL'), 600_000);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  return { child, done, elapsed: () => Date.now() - started };
}

/** Resolve with the result if the run ends within ms, else undefined (the run keeps going). */
export async function within(run: RunningCli, ms: number): Promise<CliResult | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([run.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** pg_terminate_backend on every pgshift session in one database (as the superuser); how many were ended. */
export async function terminatePgshiftBackends(adminUrl: string, database: string): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl.replace(/[?&]sslmode=[^&]*/, ''), ssl: false });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
        WHERE application_name LIKE 'pgshift%' AND datname = $1 AND pid <> pg_backend_pid()`,
      [database],
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}
