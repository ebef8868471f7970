// Every error pgshift raises on purpose, and the one place that maps them to exit codes.
import { redact } from './redact.js';

export const ExitCode = {
  ok: 0,
  /** A negative answer: verify found differences, replicate not caught up. */
  negative: 1,
  /** Usage or configuration error: fix the command line. */
  usage: 2,
  /** Connection, authentication or permission error. */
  connection: 3,
  /** Anything else. */
  failure: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorDetails {
  /** What the user should do next. Printed after the message. */
  hint?: string;
  cause?: unknown;
  /** Phase of the migration that failed (inventory, schema, data, …). */
  phase?: string;
  /** Table or object that failed, already qualified for display. */
  object?: string;
}

export class PgshiftError extends Error {
  readonly exitCode: ExitCode = ExitCode.failure;
  readonly hint?: string;
  readonly phase?: string;
  readonly object?: string;
  constructor(message: string, details: ErrorDetails = {}) {
    super(redact(message), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.hint = details.hint === undefined ? undefined : redact(details.hint);
    this.phase = details.phase;
    this.object = details.object;
  }
}

export class UsageError extends PgshiftError {
  override readonly exitCode = ExitCode.usage;
}

export class ConnectionError extends PgshiftError {
  override readonly exitCode = ExitCode.connection;
}

/** Missing privilege on an object; same exit code as connection problems (the user must fix access). */
export class PermissionError extends PgshiftError {
  override readonly exitCode = ExitCode.connection;
}

/**
 * Replication stopped on a condition the user fixes by one named step (DDL on the source, a table created after
 * the start): everything before it is kept; exit 1 like "not caught up", never 4 (nothing failed).
 */
export class StoppedError extends PgshiftError {
  override readonly exitCode = ExitCode.negative;
}

/** Ctrl-C / SIGTERM: state is kept; the user can resume. */
export class InterruptedError extends PgshiftError {}

interface PgLikeError {
  code?: string;
  message?: string;
  errno?: number;
  syscall?: string;
  table?: string;
  schema?: string;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);

// Which connection an error came from, stamped by db/connect.ts on every query error (no import cycle).
const SIDE = Symbol.for('pgshift.side');
const LOST = Symbol.for('pgshift.connectionLost');

/** Stamp an error with the side of the connection it came from; `lost` when that connection is gone. */
export function tagSide<E>(err: E, side: 'source' | 'target', lost = false): E {
  if (typeof err === 'object' && err !== null && !(SIDE in err)) {
    Object.defineProperty(err, SIDE, { value: side, enumerable: false });
    Object.defineProperty(err, LOST, { value: lost, enumerable: false });
  }
  return err;
}

export function errorSide(err: unknown): { side: 'source' | 'target'; lost: boolean } | undefined {
  if (typeof err !== 'object' || err === null || !(SIDE in err)) return undefined;
  const e = err as Record<symbol, unknown>;
  return { side: e[SIDE] as 'source' | 'target', lost: e[LOST] === true };
}

// SQLSTATEs of a server that ended the session: pg_terminate_backend, shutdown, crash restart.
const SESSION_ENDED = new Set(['57P01', '57P02', '57P03']);

/** SQLSTATE / errno of an error from pg or the network, if any. */
export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as PgLikeError).code === 'string' ? (err as PgLikeError).code : undefined;
}

/**
 * Turn an error from pg / the network into a PgshiftError, by SQLSTATE class and errno. The message text only
 * refines a hint (42501 covers both a missing GRANT and row-level security), never the class or exit code.
 * `what` names the endpoint or operation ("source postgres://u@host/db", "COPY public.users").
 */
export function classifyError(err: unknown, what: string, details: ErrorDetails = {}): PgshiftError {
  if (err instanceof PgshiftError) return err;
  const code = errorCode(err) ?? '';
  const raw = err instanceof Error ? err.message : String(err);
  const base = { ...details, cause: err };
  const from = errorSide(err);
  // A connection that died mid-run (data phase, post-data, …): say which side, so the user knows where to look.
  if (from && (from.lost || SESSION_ENDED.has(code) || code.startsWith('08') || NETWORK_CODES.has(code))) {
    return new ConnectionError(`${what}: lost the connection to the ${from.side} server (${code ? `${code}: ` : ''}${raw})`, {
      ...base,
      hint: `make sure the ${from.side} server is up and reachable${details.hint ? `; ${details.hint}` : ''}`,
    });
  }
  if (code === '28P01' || code === '28000') {
    return new ConnectionError(`${what}: authentication failed (${raw})`, {
      ...base,
      hint: details.hint ?? 'check the user name and password in the URL (on Heroku: heroku config:get DATABASE_URL)',
    });
  }
  if (code === '3D000') {
    return new ConnectionError(`${what}: database does not exist (${raw})`, {
      ...base,
      hint: details.hint ?? 'check the database name at the end of the URL; create it first on a target',
    });
  }
  if (code === '42501') {
    return new PermissionError(`${what}: permission denied (${raw})`, {
      ...base,
      hint: /row-level security/i.test(raw)
        ? `row-level security would hide rows from this role: connect as a role with BYPASSRLS, or as the owner of a table without FORCE ROW LEVEL SECURITY${details.hint ? `; then ${details.hint}` : ''}`
        : (details.hint ?? 'grant the connecting role the missing privilege (or connect as the owner), then re-run'),
    });
  }
  if (code === '53200') {
    // "out of shared memory" / "You might need to increase max_locks_per_transaction": the lock table is full.
    return new PgshiftError(`${what}: the server's lock table is full (${raw})`, {
      ...base,
      hint: `raise max_locks_per_transaction on that server (it sizes the lock table with max_connections), restart it, then re-run${details.hint ? `; ${details.hint}` : ''}`,
    });
  }
  if (code.startsWith('08') || code === '53300' || code === '57P03') {
    return new ConnectionError(`${what}: ${raw}`, {
      ...base,
      hint: details.hint ?? (code === '53300' ? 'too many connections: lower --jobs or close other clients' : 'check that the server is up and reachable'),
    });
  }
  if (NETWORK_CODES.has(code)) {
    return new ConnectionError(`${what}: cannot reach the server (${code}: ${raw})`, {
      ...base,
      hint: details.hint ?? 'check host and port, firewalls and that the server is running',
    });
  }
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
    return new ConnectionError(`${what}: TLS certificate check failed (${code}: ${raw})`, {
      ...base,
      hint:
        details.hint ?? 'give the CA with sslrootcert=/path/ca.crt, or use sslmode=require to encrypt without verifying (Heroku uses self-signed certificates)',
    });
  }
  return new PgshiftError(`${what}: ${raw}`, base);
}
