// The applier's batches commit asynchronously on the target (synchronous_commit = off, local to the batch's
// transaction, as a native subscription's apply worker does): a COMMIT no longer waits for its WAL flush, so the
// target is not held up by an fsync per batch. The source is told it may forget a batch only once the target's
// WAL is flushed past that batch's COMMIT: a target that crashes loses the unflushed batches AND their applied
// position together (one WAL), restarts from the position it still has, and the slot still holds everything
// after it (exactly once, invariant 2). The COMMIT carries a read of the target's WAL insert position (at or
// past the commit record) and flush position; later reads of the flush position release what it covers.
import type { QueryResult } from 'pg';
import { parseLsn } from '../pgoutput/lsn.js';
import type { Position } from '../change.js';

/** The batch's COMMIT, then where the target's WAL stands: a batch is durable once `f` reaches its `i`. */
export const COMMIT_ASYNC = `COMMIT; SELECT pg_current_wal_insert_lsn()::text AS i, pg_current_wal_flush_lsn()::text AS f`;
/** Made local to each batch's transaction (BEGIN's statement): other sessions of the run keep synchronous commits. */
export const ASYNC_SETTING = `set_config('synchronous_commit', 'off', true)`;
/** How far the target's WAL is flushed. */
export const FLUSHED = `SELECT pg_current_wal_flush_lsn()::text AS f`;
/**
 * A synchronous commit of a transaction that has an xid flushes the target's WAL up to its own commit record,
 * so every asynchronous commit before it too; then the flush position that proves it.
 */
export const FORCE_FLUSH = `BEGIN; SELECT txid_current(); COMMIT; SELECT pg_current_wal_flush_lsn()::text AS f`;

/** The rows of the last statement of a simple query that may hold several (pg answers an array for those). */
export function lastRows(r: QueryResult | QueryResult[]): Array<Record<string, string>> {
  const last = Array.isArray(r) ? r[r.length - 1]! : r;
  return last.rows as Array<Record<string, string>>;
}

/** The command tag of the first statement of such a query (COMMIT, or ROLLBACK for a transaction that failed). */
export function firstCommand(r: QueryResult | QueryResult[]): string {
  return (Array.isArray(r) ? r[0]! : r).command;
}

export class DurableAcks {
  /** Source positions waiting for the target's WAL flush to reach `lsn`, in order. */
  private pending: Array<{ lsn: bigint; position: Position }> = [];

  constructor(private readonly confirm: (position: Position) => void) {}

  get waiting(): boolean {
    return this.pending.length > 0;
  }

  /** A batch committed asynchronously (COMMIT_ASYNC's answer): released once durable. */
  committed(position: Position, answer: QueryResult | QueryResult[]): void {
    const row = lastRows(answer)[0]!;
    this.pending.push({ lsn: parseLsn(row.i!), position });
    this.flushed(answer);
  }

  /**
   * A position the source may forget once everything committed before it is durable (a keepalive beyond the
   * last batch): confirmed now when nothing is waiting, else with the last batch.
   */
  after(position: Position): void {
    const last = this.pending.at(-1);
    if (last === undefined) this.confirm(position);
    else this.pending.push({ lsn: last.lsn, position });
  }

  /** A read of the target's flush position (FLUSHED, FORCE_FLUSH or COMMIT_ASYNC): releases what it covers. */
  flushed(answer: QueryResult | QueryResult[]): void {
    const f = parseLsn(lastRows(answer)[0]!.f!);
    let released: Position | undefined;
    while (this.pending.length && this.pending[0]!.lsn <= f) released = this.pending.shift()!.position;
    if (released !== undefined) this.confirm(released);
  }

  /** A synchronous commit on the target followed every waiting batch (a streamed transaction's): all are durable. */
  all(): void {
    const last = this.pending.at(-1);
    this.pending = [];
    if (last) this.confirm(last.position);
  }

  /** Nothing waiting is confirmed (the connection failed: the source resends from the target's position). */
  drop(): void {
    this.pending = [];
  }
}
