// THE CHANGE MODEL shared by every change source (pgoutput: src/replicate/pgoutput/, trigger capture: issue #11)
// and the one applier (src/replicate/apply/). Committed early on branch `replicate` so the trigger-capture work
// can build on it; the applier knows nothing of where changes come from.
//
// Rules every source must follow:
// - Values are the RAW TEXT the source server produced with the column type's output function (what
//   `col::text` gives), or null for SQL NULL. Never parse them in JavaScript: the applier binds them as text
//   and casts them to the target column's type (`$1::numeric(10,2)`), so microseconds, NaN, -0, numeric
//   digits and json key order survive.
// - A transaction is delivered as `begin`, its changes in source order, then `commit`, in COMMIT ORDER of the
//   source. Events of two transactions never interleave.
// - `position` is opaque to the applier except for ordering: a larger position is a later commit. It is
//   persisted on the target in the same transaction as the changes it covers, and a restarted source must
//   deliver exactly the transactions whose commit position is greater than the one it is started from.

import { displayTable, type TableId } from '../catalog/table-id.js';

/** A table on the source (same schema/name on the target). */
export type { TableId };

/** pgoutput: LSN of the commit's end (what a subscriber confirms); triggers: the capture log's sequence number. */
export type Position = bigint;

/** Raw text of a column value, null for SQL NULL. */
export type Value = string | null;

/**
 * Column name → raw text value. Columns that are ABSENT were not carried (an UPDATE that left a TOASTed value
 * unchanged): the applier leaves them as they are. Present-with-null means "set to NULL".
 * Generated columns may be present; the applier never writes them.
 */
export type Row = Record<string, Value>;

/**
 * How an UPDATE/DELETE finds its row on the target.
 * - 'key': `old` holds the replica-identity columns (primary key or unique index); at most one row matches.
 * - 'full': `old` holds the whole old row (REPLICA IDENTITY FULL, or no key at all); duplicate rows may
 *   match and exactly ONE of them is changed.
 */
export type Identity = 'key' | 'full';

export interface InsertChange {
  kind: 'insert';
  table: TableId;
  /** Every column (except, optionally, generated ones). */
  row: Row;
}

export interface UpdateChange {
  kind: 'update';
  table: TableId;
  identity: Identity;
  /** Values that locate the old row (see Identity). For 'key', the key columns even when the key did not change. */
  old: Row;
  /** New values of the columns carried; absent columns keep their current value (unchanged TOAST). */
  row: Row;
}

export interface DeleteChange {
  kind: 'delete';
  table: TableId;
  identity: Identity;
  old: Row;
}

export interface TruncateChange {
  kind: 'truncate';
  /** All tables of one TRUNCATE statement (truncated together, so foreign keys between them hold). */
  tables: TableId[];
  cascade: boolean;
  restartIdentity: boolean;
}

export type Change = InsertChange | UpdateChange | DeleteChange | TruncateChange;

/**
 * What a source delivers, streamed (a 10-million-row transaction never sits in memory as a whole).
 * `keepalive` says: nothing is pending up to `position` (lets an idle applier report progress and catch-up).
 */
export type SourceEvent =
  /**
   * `position`: the transaction counts as already applied (and is skipped) when position <= the applied
   * position. The commit position when the source knows it at begin; pgoutput sends final_lsn + 1.
   */
  | { type: 'begin'; position: Position; commitTime: Date }
  /** `xid`: only inside a streamed block (see StreamEvent): the (sub)transaction that made the change. */
  | { type: 'change'; change: Change; xid?: number }
  | { type: 'commit'; position: Position; commitTime: Date }
  | { type: 'keepalive'; position: Position }
  | RelationEvent
  | StreamEvent;

/**
 * A transaction still in progress on the source, sent in blocks as it runs (pgoutput protocol 2, `streaming`):
 * `stream-start` … changes (each with the xid of its subtransaction) … `stream-stop`, repeated, blocks of
 * different transactions interleaving with each other and with whole transactions; then ONE of `stream-commit`
 * (in commit order like `commit`: its `position` is the commit's end) or `stream-abort` (`subxid` = `xid`: the
 * whole transaction; else only that subtransaction, ROLLBACK TO SAVEPOINT). A source restarted from a position
 * sends every transaction that commits after it again from its first block (`first`).
 */
export type StreamEvent =
  | { type: 'stream-start'; xid: number; first: boolean }
  | { type: 'stream-stop' }
  | { type: 'stream-commit'; xid: number; position: Position; commitTime: Date }
  | { type: 'stream-abort'; xid: number; subxid: number };

/**
 * Optional: the source announces the columns it will send for a table (pgoutput does before first use and
 * after DDL). A source should hand it over outside a transaction when it can (pgoutput moves the ones that open
 * a transaction before its `begin`, and take() returns undefined before one, so the applier commits first). The applier checks them against the target and stops with a message naming the table and the
 * fix when they no longer fit (DDL is not replicated). `previous` is the earlier announcement in this stream.
 */
export interface RelationEvent {
  type: 'relation';
  /** Inside a streamed block: the (sub)transaction it was sent for (the definition applies from there on). */
  xid?: number;
  table: TableId;
  columns: SourceColumn[];
  previous?: SourceColumn[];
  /**
   * Looks up the table's columns in the source's catalog NOW (null: the table is gone there), when the
   * announcement and the target disagree (a query on the source: only then).
   * The announcement describes the table as of the changes that follow it, which may predate DDL since: a column
   * announced that neither the source nor the target has any more was dropped on both, and is not written.
   */
  current?: () => Promise<CurrentColumn[] | null>;
  /** --apply-ddl: columns added or dropped on the source are added/dropped on the target (see writer.ts). */
  applyDdl?: boolean;
}

export interface CurrentColumn {
  name: string;
  /** format_type() with search_path = pg_catalog: user types come schema-qualified. */
  type: string;
  notNull: boolean;
  /** pg_get_expr of the column default, null for none. */
  default: string | null;
}

export interface SourceColumn {
  name: string;
  /** Source type OID; only built-in ones (< 16384) are comparable with the target's. 0 when unknown. */
  typeOid: number;
}

/** A whole transaction, for tests and small sources; `position` is its commit position. */
export interface Transaction {
  position: Position;
  commitTime: Date;
  changes: Change[];
}

export function* transactionEvents(tx: Transaction): Generator<SourceEvent> {
  yield { type: 'begin', position: tx.position, commitTime: tx.commitTime };
  for (const change of tx.changes) yield { type: 'change', change };
  yield { type: 'commit', position: tx.position, commitTime: tx.commitTime };
}

/** An events() iterator that can hand over events already at hand synchronously. */
export type TakingIterator = AsyncIterator<SourceEvent> & { take?: () => SourceEvent | undefined };

/** A change source as the applier sees it. */
export interface ChangeSource {
  /**
   * Deliver, in commit order, every transaction whose commit position is greater than `from`. The iterator
   * may also offer `take()`: the next event if it is already at hand, else undefined (never an error or the
   * end: those come from next()) — a backlog then drains without a promise per event.
   */
  events(from: Position, signal: AbortSignal): AsyncIterable<SourceEvent>;
  /** Everything up to `position` is committed on the target: the source may forget it (ack / delete log). */
  confirm(position: Position): void;
  /**
   * Optional: from the next events() call on, send in-progress transactions only once they commit (the
   * applier asks when more of them run at once than it opens target connections for).
   */
  stopStreamingInProgress?(): void;
  /** Current end of the source's change log: lag is measured against it, --until-caught-up waits for it. */
  currentPosition(): Promise<Position>;
  close(): Promise<void>;
}

/** schema.name for messages, quoted only when needed. */
export const tableLabel: (t: TableId) => string = displayTable;
