// Child processes for the benchmark: run one, pipe two (producer stdout → consumer stdin, no temp file),
// and measure what each costs the client machine: CPU seconds (user+sys of the process and every descendant
// it waited for, from /usr/bin/time, i.e. getrusage RUSAGE_CHILDREN) and peak RSS. Output goes to a log file
// per peer so the terminal stays readable and a failure can show its tail.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redact } from '../src/redact.js';

export interface Cmd {
  bin: string;
  args: string[];
}

export interface RunResult {
  /** Exit code (always 0 unless accepted through okCodes). */
  code: number;
  seconds: number;
  /** Peak resident set size in bytes (only when measured). */
  peakRssBytes?: number;
  /** User + system CPU seconds of the process tree (only when measured). */
  cpuSeconds?: number;
  stdout: string;
}

/** What a peer's processes cost the client, summed over every step (peak RSS: the largest step). */
export class Usage {
  cpuSeconds = 0;
  peakRssBytes = 0;
  measured = false;
  add(r: { cpuSeconds?: number; peakRssBytes?: number }): void {
    if (r.cpuSeconds === undefined) return;
    this.measured = true;
    this.cpuSeconds += r.cpuSeconds;
    this.peakRssBytes = Math.max(this.peakRssBytes, r.peakRssBytes ?? 0);
  }
  get result(): { cpuSeconds?: number; peakRssBytes?: number } {
    return this.measured ? { cpuSeconds: this.cpuSeconds, ...(this.peakRssBytes ? { peakRssBytes: this.peakRssBytes } : {}) } : {};
  }
}

let timeFiles = 0;
/** Wrap cmd in /usr/bin/time (CPU and max RSS into a file) when present. */
function timed(cmd: Cmd, dir: string): { cmd: Cmd; file?: string } {
  if (!existsSync(TIME_BIN)) return { cmd };
  const file = join(dir, `time-${process.pid}-${++timeFiles}.txt`);
  return { cmd: { bin: TIME_BIN, args: ['-f', 'rusage %U %S %M', '-o', file, cmd.bin, ...cmd.args] }, file };
}

function readTime(file: string | undefined): { cpuSeconds?: number; peakRssBytes?: number } {
  if (!file) return {};
  try {
    const m = /rusage ([\d.]+) ([\d.]+) (\d+)/.exec(readFileSync(file, 'utf8'));
    rmSync(file, { force: true });
    return m ? { cpuSeconds: Number(m[1]) + Number(m[2]), peakRssBytes: Number(m[3]) * 1024 } : {};
  } catch {
    return {};
  }
}

export const TIME_BIN = '/usr/bin/time';

/** Shell-like rendering for reports; passwords masked. */
export function show(cmd: Cmd): string {
  return redact([cmd.bin, ...cmd.args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' '));
}

function tail(file: string, lines = 15): string {
  try {
    return redact(readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'));
  } catch {
    return '(no log)';
  }
}

function exited(child: ChildProcess, what: string, logFile: string, okCodes: number[] = [0]): Promise<number> {
  return new Promise((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`${what}: cannot start (${err.message})`)));
    child.on('close', (code, signal) => {
      if (code !== null && okCodes.includes(code)) resolve(code);
      else reject(new Error(`${what} exited with ${signal ?? code}; last lines of ${logFile}:\n${tail(logFile)}`));
    });
  });
}

/**
 * Run one command, stderr to logFile, stdout captured (small outputs such as --json only), under
 * /usr/bin/time when present (CPU seconds and peak RSS of the process tree; `usage` accumulates them).
 */
export async function runOne(cmd: Cmd, opts: { logFile: string; env?: NodeJS.ProcessEnv; okCodes?: number[]; usage?: Usage }): Promise<RunResult> {
  const t = timed(cmd, tmpdir());
  const err = openSync(opts.logFile, 'a');
  const started = process.hrtime.bigint();
  const child = spawn(t.cmd.bin, t.cmd.args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', err] });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  let code: number;
  try {
    code = await exited(child, show(cmd), opts.logFile, opts.okCodes);
  } finally {
    closeSync(err);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const u = readTime(t.file);
  opts.usage?.add(u);
  return { code, seconds, stdout, ...u };
}

/** producer | consumer, as a shell pipe would, without a shell (so nothing is re-quoted or expanded). */
export async function runPipe(producer: Cmd, consumer: Cmd, opts: { logFile: string; env?: NodeJS.ProcessEnv; usage?: Usage }): Promise<RunResult> {
  const err = openSync(opts.logFile, 'a');
  const started = process.hrtime.bigint();
  const env = opts.env ?? process.env;
  const tp = timed(producer, tmpdir());
  const tc = timed(consumer, tmpdir());
  const p = spawn(tp.cmd.bin, tp.cmd.args, { env, stdio: ['ignore', 'pipe', err] });
  const c = spawn(tc.cmd.bin, tc.cmd.args, { env, stdio: ['pipe', 'pipe', err] });
  p.stdout!.pipe(c.stdin!);
  // If the consumer dies first the producer gets EPIPE; its exit code then reports it.
  c.stdin!.on('error', () => undefined);
  let stdout = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  try {
    await Promise.all([exited(p, show(producer), opts.logFile), exited(c, show(consumer), opts.logFile)]);
  } catch (e) {
    p.kill();
    c.kill();
    throw e;
  } finally {
    closeSync(err);
  }
  // Both ends run at once: their CPU and their memory add up.
  const up = readTime(tp.file);
  const uc = readTime(tc.file);
  const u =
    up.cpuSeconds === undefined || uc.cpuSeconds === undefined
      ? {}
      : { cpuSeconds: up.cpuSeconds + uc.cpuSeconds, peakRssBytes: (up.peakRssBytes ?? 0) + (uc.peakRssBytes ?? 0) };
  opts.usage?.add(u);
  return { code: 0, seconds: Number(process.hrtime.bigint() - started) / 1e9, stdout, ...u };
}

/** Run async tasks at most `jobs` at a time (the psql peer copies two tables at once). */
export async function limited<T>(jobs: number, items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
}
