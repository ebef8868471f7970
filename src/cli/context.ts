// What every command gets: a logger, output helpers that respect --json, and the one error → exit code mapping.
import { Command, Option } from 'commander';
import { ExitCode, PgshiftError, UsageError } from '../errors.js';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from '../log.js';
import { Progress } from '../progress.js';
import { redact, redactValue } from '../redact.js';

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
}

/** --source / --target / --json / --log-level with help text that teaches. */
export function withConnectionOptions(cmd: Command, sides: { source?: 'required' | 'optional'; target?: 'required' | 'optional' }): Command {
  if (sides.source) {
    cmd.addOption(
      new Option('--source <url>', `source database URL${sides.source === 'optional' ? ' (optional)' : ''}; env PGSHIFT_SOURCE_URL. ` +
        'Example: --source "$(heroku config:get DATABASE_URL -a myapp)" or postgres://u:pw@host:5432/db?sslmode=require'),
    );
  }
  if (sides.target) {
    cmd.addOption(
      new Option('--target <url>', `target database URL${sides.target === 'optional' ? ' (optional)' : ''}; env PGSHIFT_TARGET_URL. ` +
        'Example: --target postgres://app:pw@new-db:5432/app?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem'),
    );
  }
  return withOutputOptions(cmd);
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** --include / --exclude, repeatable, same meaning in every command. */
export function withFilterOptions(cmd: Command, what = 'tables'): Command {
  return cmd
    .addOption(new Option('--include <pattern>', `only ${what} matching schema.table (wildcards * ?); repeatable. Example: --include "public.order*"`).argParser(collect))
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

/** Run a command body; map every error to its exit code in this one place. Never calls process.exit. */
export async function run(opts: CommonOptions, body: (ctx: Context) => Promise<{ exitCode?: number; json?: unknown } | void>): Promise<number> {
  const json = Boolean(opts.json);
  const level = opts.logLevel ?? 'info';
  const logger = createLogger({ level });
  let progress: Progress | undefined;
  const ctx: Context = {
    logger,
    json,
    print: (text) => {
      if (!json) process.stdout.write(`${redact(text)}\n`);
    },
    progress: () => (progress ??= new Progress({ logger, tty: process.stderr })),
  };
  try {
    const result = (await body(ctx)) ?? {};
    progress?.close();
    if (json && result.json !== undefined) await writeOut(`${JSON.stringify(redactValue(result.json), null, 2)}\n`);
    return result.exitCode ?? ExitCode.ok;
  } catch (err) {
    progress?.close();
    return await reportError(err, { json, debug: level === 'debug' || level === 'trace', logger });
  }
}

export async function reportError(err: unknown, o: { json: boolean; debug: boolean; logger?: Logger }): Promise<number> {
  const e = err instanceof PgshiftError ? err : new PgshiftError(`unexpected failure: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  const lines = [`pgshift: error: ${e.message}`];
  if (e.hint) lines.push(`  next: ${e.hint}`);
  if (o.debug) {
    const stack = (err instanceof Error && (err.cause instanceof Error ? err.cause.stack : err.stack)) || '';
    if (stack) lines.push(redact(stack));
  }
  process.stderr.write(`${lines.join('\n')}\n`);
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
