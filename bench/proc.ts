// Child processes for the benchmark: run one, pipe two (producer stdout → consumer stdin, no temp file),
// and measure a process's peak memory. Output goes to a log file per peer so the terminal stays readable
// and a failure can show its tail.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
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
  stdout: string;
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
 * Run one command, stderr to logFile, stdout captured (small outputs such as --json only).
 * With measureRss, runs under /usr/bin/time -f %M (max RSS of the process and its waited-for children,
 * in kB) when present, else polls /proc/PID/status VmHWM.
 */
export async function runOne(
  cmd: Cmd,
  opts: { logFile: string; env?: NodeJS.ProcessEnv; measureRss?: boolean; rssFile?: string; okCodes?: number[] },
): Promise<RunResult> {
  const useTime = Boolean(opts.measureRss && opts.rssFile && existsSync(TIME_BIN));
  const real: Cmd = useTime ? { bin: TIME_BIN, args: ['-f', '%M', '-o', opts.rssFile!, cmd.bin, ...cmd.args] } : cmd;
  const err = openSync(opts.logFile, 'a');
  const started = process.hrtime.bigint();
  const child = spawn(real.bin, real.args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', err] });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  let polledKb = 0;
  const poller =
    opts.measureRss && !useTime
      ? setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) polledKb = Math.max(polledKb, Number(m[1]));
          } catch {
            /* process gone between polls */
          }
        }, 100)
      : undefined;
  let code: number;
  try {
    code = await exited(child, show(cmd), opts.logFile, opts.okCodes);
  } finally {
    if (poller) clearInterval(poller);
    closeSync(err);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let peakKb = polledKb;
  if (useTime) peakKb = Number(/(\d+)\s*$/.exec(readFileSync(opts.rssFile!, 'utf8'))?.[1] ?? 0);
  return { code, seconds, stdout, ...(opts.measureRss && peakKb > 0 ? { peakRssBytes: peakKb * 1024 } : {}) };
}

/** producer | consumer, as a shell pipe would, without a shell (so nothing is re-quoted or expanded). */
export async function runPipe(producer: Cmd, consumer: Cmd, opts: { logFile: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  const err = openSync(opts.logFile, 'a');
  const started = process.hrtime.bigint();
  const env = opts.env ?? process.env;
  const p = spawn(producer.bin, producer.args, { env, stdio: ['ignore', 'pipe', err] });
  const c = spawn(consumer.bin, consumer.args, { env, stdio: ['pipe', 'pipe', err] });
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
  return { code: 0, seconds: Number(process.hrtime.bigint() - started) / 1e9, stdout };
}

/** Run async tasks at most `jobs` at a time (the psql peer copies two tables at once). */
export async function limited<T>(jobs: number, items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
}
