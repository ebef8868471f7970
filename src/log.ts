// pino, in-process (transports run in a worker thread and lose lines on SIGTERM).
// Human-readable on a TTY, JSON lines otherwise; always stderr, so stdout stays for results/--json. Colour only
// on a TTY and never under NO_COLOR (https://no-color.org); FORCE_COLOR (not 0/false) turns it on, as in Node.
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { redact, redactValue } from './redact.js';
import { terminalSafe } from './terminal.js';

export type { Logger };
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name']);

/** Formats pino's JSON lines for people: "12:03:04 INFO  copy: done table=public.users rows=10". */
export class PrettyStream extends Writable {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly color: boolean,
  ) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        const time = new Date(Number(rec.time)).toTimeString().slice(0, 8);
        const level = LEVEL_NAMES[Number(rec.level)] ?? 'LOG';
        const extras = Object.entries(rec)
          .filter(([k]) => !HIDDEN.has(k))
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        const paint = this.color ? colorFor(level) : (s: string) => s;
        this.out.write(`${time} ${paint(level.padEnd(5))} ${terminalSafe(`${String(rec.msg ?? '')}${extras ? ` ${extras}` : ''}`)}\n`);
      } catch {
        this.out.write(`${terminalSafe(line)}\n`);
      }
    }
    done();
  }
}

function colorFor(level: string): (s: string) => string {
  const code = { ERROR: 31, FATAL: 31, WARN: 33, INFO: 36, DEBUG: 90, TRACE: 90 }[level] ?? 0;
  return (s) => `\x1b[${code}m${s}\x1b[0m`;
}

/** Colour for the pretty printer: FORCE_COLOR wins (as in Node), then NO_COLOR, then whether `stream` is a TTY. */
export function useColor(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.toLowerCase());
  if (env.NO_COLOR) return false;
  return Boolean((stream as NodeJS.WriteStream).isTTY);
}

export interface LogOptions {
  level?: LogLevel;
  /** Force a format; default: pretty when stderr is a TTY. */
  pretty?: boolean;
  stream?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const pretty = opts.pretty ?? Boolean((stream as NodeJS.WriteStream).isTTY);
  const dest = pretty ? new PrettyStream(stream, useColor(stream)) : pino.destination({ fd: 2, sync: true });
  return pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      hooks: {
        // Mask secrets in messages and in every field, whatever the call site passed.
        logMethod(args, method) {
          // Messages also lose their control characters (names from the database): JSON lines escape C0 but not C1.
          method.apply(this, args.map((a) => (typeof a === 'string' ? terminalSafe(redact(a)) : redactValue(a))) as Parameters<typeof method>);
        },
      },
      formatters: { level: (_label, number) => ({ level: number }) },
    },
    opts.stream && !pretty ? (opts.stream as pino.DestinationStream) : dest,
  );
}

/** A logger that drops everything: the library's default when a caller passes none. */
export const silentLogger: Logger = pino({ level: 'silent' });
