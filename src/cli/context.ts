// What every command gets: a logger, output helpers that respect --json, and the one error → exit code mapping.
import { Command, Option } from 'commander';
import { ExitCode, InterruptedError, PgshiftError, UsageError } from '../errors.js';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from '../log.js';
import { Progress } from '../progress.js';
import { redact, redactValue } from '../redact.js';
import { terminalSafe } from '../terminal.js';

export interface CommonOptions {
  json?: boolean;
  logLevel?: LogLevel;
  source?: string;
  target?: string;
}

export interface Context {
  logger: Logger;
  json: boolean;
  /** Human output on stdout (suppressed with --json). */
  print(text: string): void;
  progress(): Progress;
  /** Aborted on the first SIGINT/SIGTERM: stop, roll back what is in flight, close every connection. */
  signal: AbortSignal;
}

/** Shells' convention: 128 + the signal number. */
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };
/** After a stop is asked, the process ends within this even if something hangs (a dead socket, a stuck server). */
const STOP_DEADLINE_MS = 15_000;
/** After a signalled run's wind-down: time for stdout/stderr to drain before the process is ended regardless. */
const WIND_DOWN_GRACE_MS = 1_000;

/** --source / --target / --json / --log-level with help text that teaches. */
export function withConnectionOptions(cmd: Command, sides: { source?: 'required' | 'optional'; target?: 'required' | 'optional' }): Command {
  if (sides.source) {
    cmd.addOption(
      new Option(
        '--source <url>',
        `source database URL${sides.source === 'optional' ? ' (optional)' : ''}; env PGSHIFT_SOURCE_URL. ` +
          'Example: --source postgres://u@host:5432/db?sslmode=require with the password in ~/.pgpass (a password here shows in ps: prefer the env var)',
      ),
    );
  }
  if (sides.target) {
    cmd.addOption(
      new Option(
        '--target <url>',
        `target database URL${sides.target === 'optional' ? ' (optional)' : ''}; env PGSHIFT_TARGET_URL. ` +
          'Example: --target postgres://app@new-db:5432/app?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem (password in ~/.pgpass or PGSHIFT_TARGET_URL)',
      ),
    );
  }
  return withOutputOptions(cmd);
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** --include / --exclude, repeatable, same meaning in every command. */
export function withFilterOptions(cmd: Command, what = 'tables'): Command {
  return cmd
    .addOption(
      new Option('--include <pattern>', `only ${what} matching schema.table (wildcards * ?); repeatable. Example: --include "public.order*"`).argParser(
        collect,
      ),
    )
    .addOption(new Option('--exclude <pattern>', `skip ${what} matching the pattern; repeatable. Example: --exclude "audit.*"`).argParser(collect));
}

export function withOutputOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--json', 'print exactly one JSON document on stdout (logs stay on stderr). Example: --json | jq .'))
    .addOption(
      new Option('--log-level <level>', 'stderr log detail; debug also prints stack traces. Example: --log-level debug')
        .choices(LOG_LEVELS as unknown as string[])
        .default('info'),
    );
}

function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(text, () => resolve()));
}

/**
 * Signals, in one place. The first SIGINT/SIGTERM aborts ctx.signal and the command winds down (rolls back,
 * closes, says how to go on); the exit code is then 130/143 whatever the body returned. A second signal, or a
 * wind-down that outlasts STOP_DEADLINE_MS, ends the process at once with process.exit (the only other one is
 * main.ts's, after an uncaught exception), because a user who presses Ctrl-C twice means it, and nothing must keep
 * a cutover terminal hanging.
 */
function trapSignals(logger: Logger, onStop: () => void): { received(): 'SIGINT' | 'SIGTERM' | undefined; release(): void } {
  let got: 'SIGINT' | 'SIGTERM' | undefined;
  let deadline: NodeJS.Timeout | undefined;
  const handler = (sig: 'SIGINT' | 'SIGTERM') => {
    if (got) {
      process.stderr.write(`pgshift: ${sig} again — exiting now; uncommitted work rolls back on the server\n`);
      process.exit(SIGNAL_EXIT[got]);
    }
    got = sig;
    logger.warn(`${sig}: stopping — rolling back in-flight work and closing connections (send it again to exit at once)`);
    deadline = setTimeout(() => {
      process.stderr.write(`pgshift: did not stop within ${STOP_DEADLINE_MS / 1000}s of ${sig}; exiting\n`);
      process.exit(SIGNAL_EXIT[sig]);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    onStop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    received: () => got,
    release: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

type Body = (ctx: Context) => Promise<{ exitCode?: number; json?: unknown } | void>;

/** A password written in --source/--target is readable by every user of the machine (ps): say so, once. */
function warnCommandLinePasswords(opts: CommonOptions, logger: Logger): void {
  const hasPassword = (url: string | undefined) => {
    try {
      return Boolean(url && new URL(url.trim()).password);
    } catch {
      return false; // a malformed URL is reported by the command itself
    }
  };
  const sides = (['source', 'target'] as const).filter((side) => hasPassword(opts[side]));
  if (sides.length === 0) return;
  const flags = sides.map((s) => `--${s}`).join(' and ');
  const envs = sides.map((s) => (s === 'source' ? 'PGSHIFT_SOURCE_URL' : 'PGSHIFT_TARGET_URL')).join(' / ');
  logger.warn(
    `${flags} ${sides.length > 1 ? 'hold passwords' : 'holds a password'} on the command line, where other users of this machine can read it (ps); ` +
      `pass the URL in ${envs} instead, or leave the password out of the URL and put it in ~/.pgpass (or PGPASSFILE, mode 0600)`,
  );
}

/** Run a command body; map every error to its exit code in this one place. */
export async function run(opts: CommonOptions, body: Body): Promise<number> {
  const json = Boolean(opts.json);
  const level = opts.logLevel ?? 'info';
  const logger = createLogger({ level });
  warnCommandLinePasswords(opts, logger);
  let progress: Progress | undefined;
  const controller = new AbortController();
  const signals = trapSignals(logger, () => {
    progress?.close();
    controller.abort(new InterruptedError('interrupted by signal'));
  });
  const ctx: Context = {
    logger,
    json,
    print: (text) => {
      if (!json) process.stdout.write(`${terminalSafe(redact(text))}\n`);
    },
    progress: () => (progress ??= new Progress({ logger, tty: process.stderr })),
    signal: controller.signal,
  };
  try {
    const result = (await body(ctx)) ?? {};
    progress?.close();
    if (json && result.json !== undefined) await writeOut(`${JSON.stringify(redactValue(result.json), null, 2)}\n`);
    const sig = signals.received();
    return sig ? SIGNAL_EXIT[sig] : (result.exitCode ?? ExitCode.ok);
  } catch (err) {
    progress?.close();
    const code = await reportError(err, { json, debug: level === 'debug' || level === 'trace', logger });
    const sig = signals.received();
    return sig ? SIGNAL_EXIT[sig] : code;
  } finally {
    signals.release();
    const sig = signals.received();
    if (sig) exitAfterWindDown(SIGNAL_EXIT[sig], logger);
  }
}

/**
 * A signalled run has wound down (rolled back, closed what it holds): whatever still keeps the event loop alive now
 * is a leak, and must not keep the user's terminal waiting. Exit shortly, naming what was left at debug level.
 */
function exitAfterWindDown(code: number, logger: Logger): void {
  setTimeout(() => {
    logger.debug({ resources: process.getActiveResourcesInfo() }, 'stopped: exiting with handles still open');
    process.exit(code);
  }, WIND_DOWN_GRACE_MS).unref();
}

export async function reportError(err: unknown, o: { json: boolean; debug: boolean; logger?: Logger }): Promise<number> {
  const e = err instanceof PgshiftError ? err : new PgshiftError(`unexpected failure: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  const lines = [`pgshift: error: ${e.message}`];
  if (e.hint) lines.push(`  next: ${e.hint}`);
  if (o.debug) {
    const stack = (err instanceof Error && (err.cause instanceof Error ? err.cause.stack : err.stack)) || '';
    if (stack) lines.push(redact(stack));
  }
  process.stderr.write(`${terminalSafe(lines.join('\n'))}\n`);
  if (o.json) {
    await writeOut(
      `${JSON.stringify(redactValue({ ok: false, error: { message: e.message, hint: e.hint ?? null, phase: e.phase ?? null, object: e.object ?? null, exitCode: e.exitCode } }), null, 2)}\n`,
    );
  }
  return e.exitCode;
}

/** Commander's own parse errors become exit code 2 with our format. */
export function usageFromCommander(message: string): UsageError {
  return new UsageError(message.replace(/^error: /, ''), { hint: 'see pgshift --help, or pgshift <command> --help' });
}
