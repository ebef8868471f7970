// THE retry policy of replication, for both change sources: which failures are worth retrying from the position
// persisted on the target, and how long to wait before the next attempt. By error class, SQLSTATE and connection
// state, never by message text.
import { errorCode, errorSide, PgshiftError } from '../errors.js';
import { SchemaChangedError } from './apply/shapes.js';
import { CaptureSchemaError } from './triggers/apply.js';
import { CaptureLogError } from './triggers/validate.js';

const TRANSIENT_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** Errors that name something the user must fix (a changed table, a capture log row it cannot have written). */
const NEVER = [SchemaChangedError, CaptureSchemaError, CaptureLogError] as const;

/**
 * Worth retrying from the position persisted on the target:
 * - a connection that is gone (stamped `lost` by db/connect.ts, or `transient` by the replication stream);
 * - 08 connection exception; 57P01–57P03 admin/crash shutdown, cannot connect now; 53300 too many connections;
 *   55006 object in use (the slot still held by the walsender of a connection just lost);
 * - 40001/40P01: a serialization failure or deadlock with another session rolled the batch back;
 * - network errno codes.
 * Never: a changed table definition (SchemaChangedError, or the capture's schema check), a log row the capture
 * cannot have written (CaptureLogError), a pgshift error raised on purpose with no cause (a check that failed),
 * or anything else the user must fix.
 */
export function isTransient(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (NEVER.some((k) => e instanceof k)) return false;
  }
  if (err instanceof PgshiftError && !err.cause && !markedTransient(err) && !errorSide(err)?.lost) return false;
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (errorSide(e)?.lost) return true;
    const code = errorCode(e) ?? '';
    if (
      code.startsWith('08') ||
      /^57P0[123]$/.test(code) ||
      code === '53300' ||
      code === '55006' ||
      code === '40001' ||
      code === '40P01' ||
      TRANSIENT_ERRNO.has(code)
    )
      return true;
    if (markedTransient(e)) return true;
  }
  return false;
}

function markedTransient(e: unknown): boolean {
  return e instanceof Error && (e as { transient?: boolean }).transient === true;
}

/** Wait before reconnection attempt `attempt` (1, 2, …): 1 s doubling up to 30 s. */
export function backoffMs(attempt: number): number {
  return Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
}
