// Transactions the source streams while they are still in progress (pgoutput protocol 2, see change.ts
// StreamEvent), applied as they arrive: one target connection and one target transaction per top-level xid
// (several may be open at once, their blocks interleave), a SAVEPOINT at the first change of each subtransaction
// so that the abort of one is a ROLLBACK TO SAVEPOINT, and the whole target transaction rolled back when the
// source aborts it. At the source's commit the applier first commits what it applied before (the batched path),
// then calls commit() here: the applied position is written INSIDE this transaction (the same `pgshift.batch`
// guard as a batch) and it commits — exactly once across a crash, since a lost connection rolls the open
// transaction back with its session and the source streams it again from its first block after the reconnect.
// Memory stays flat: each transaction's writer holds at most one statement group (writer.ts).
import type { QueryConfig } from 'pg';
import { discard, type Client } from '../../db/connect.js';
import { PgshiftError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Change, RelationEvent } from '../change.js';
import { ChangeWriter } from './writer.js';

interface OpenTransaction {
  xid: number;
  client: Client;
  writer: ChangeWriter;
  /** Subtransactions with a savepoint, in the order they were set (a rollback to one destroys the later ones). */
  savepoints: number[];
  /** The same, subxid → index in `savepoints`. */
  known: Map<number, number>;
  /** Changes written (for the stats at commit). */
  changes: number;
}

export interface StreamedOptions {
  logger: Logger;
  /** A new target connection with the apply session settings (and the run's checks) in place. */
  connect: () => Promise<Client>;
  /** Called when a statement fails on one of these connections while the applier waits for something else. */
  onFailure: () => void;
}

const savepoint = (subxid: number) => `pgshift_sx_${subxid}`;

/** Streamed transactions open on the target at once (a connection each). */
export const MAX_OPEN_STREAMED = 8;

/**
 * More in-progress transactions than MAX_OPEN_STREAMED at once: the applier reconnects from the persisted
 * position with streaming of in-progress transactions off for the rest of the run (each is then sent whole at
 * its commit, as with --no-stream-large-tx). Nothing was committed of them: no change is lost or applied twice.
 */
export class TooManyStreamedError extends PgshiftError {
  readonly transient = true;
}

export class StreamedTransactions {
  private readonly open = new Map<number, OpenTransaction>();
  /** The transaction whose block is being received (between stream-start and stream-stop). */
  private current: OpenTransaction | null = null;
  /** Connections of transactions that ended cleanly, kept for the next streamed transaction. */
  private readonly idle: Client[] = [];

  constructor(private readonly opts: StreamedOptions) {}

  /** Transactions open on the target. */
  get size(): number {
    return this.open.size;
  }

  get inBlock(): boolean {
    return this.current !== null;
  }

  /** A statement failed on one of the connections (thrown by check()). */
  get failed(): boolean {
    for (const t of this.open.values()) if (t.writer.pipe.failed) return true;
    return false;
  }

  /** Throws the first failure of any open transaction's statements. */
  async check(): Promise<void> {
    for (const t of this.open.values()) if (t.writer.pipe.failed) await t.writer.pipe.barrier();
  }

  async start(xid: number, first: boolean): Promise<void> {
    if (this.current) throw new PgshiftError(`streaming: transaction ${xid} started while a block of ${this.current.xid} was open`, { phase: 'streaming' });
    let t = this.open.get(xid);
    if (!t) {
      // The source sends a transaction again from its first block after every reconnect; a later block of one
      // never begun here would apply it in part.
      if (!first)
        throw new PgshiftError(
          `streaming: the source continued in-progress transaction ${xid} whose first part this connection never received; nothing of it was applied`,
          { phase: 'streaming', hint: 'run the same command again (it resumes from the position persisted on the target)' },
        );
      if (this.open.size >= MAX_OPEN_STREAMED) {
        throw new TooManyStreamedError(
          `streaming: more than ${MAX_OPEN_STREAMED} large transactions are in progress on the source at once; large transactions are now applied after their commit for the rest of this run`,
          { phase: 'streaming' },
        );
      }
      const client = this.idle.pop() ?? (await this.opts.connect());
      const writer = new ChangeWriter(client, this.opts.logger);
      writer.pipe.onFailure = this.opts.onFailure;
      // The batch number (transaction-local) guards the applied position written at commit (see commit()).
      writer.pipe.send(`BEGIN; SELECT set_config('pgshift.batch', 'x${xid}', true)`);
      t = { xid, client, writer, savepoints: [], known: new Map(), changes: 0 };
      this.open.set(xid, t);
    }
    this.current = t;
  }

  /** A change of the block being received; `subxid`: the (sub)transaction that made it. */
  apply(subxid: number, c: Change): Promise<void> | undefined {
    const t = this.block();
    t.changes++;
    if (subxid !== t.xid && !t.known.has(subxid)) return this.subtransaction(t, subxid, c);
    return t.writer.apply(c);
  }

  private async subtransaction(t: OpenTransaction, subxid: number, c: Change): Promise<void> {
    // What the writer queued belongs before the savepoint.
    await t.writer.flush();
    t.writer.pipe.send(`SAVEPOINT ${savepoint(subxid)}`);
    t.known.set(subxid, t.savepoints.length);
    t.savepoints.push(subxid);
    await t.writer.apply(c);
  }

  /** A Relation message inside a block: checked on this transaction's connection, with what precedes it sent. */
  async relation(ev: RelationEvent): Promise<void> {
    await this.block().writer.checkRelation(ev);
  }

  /** End of a block: what it queued is sent (the target works on it while the source streams on). */
  async stop(): Promise<void> {
    const t = this.current;
    this.current = null;
    if (t) await t.writer.flush();
  }

  /** The source aborted a subtransaction (ROLLBACK TO SAVEPOINT) or, subxid = xid, the whole transaction. */
  async abort(xid: number, subxid: number): Promise<void> {
    const t = this.open.get(xid);
    if (!t) return; // nothing of it was applied here
    if (subxid === xid) {
      this.open.delete(xid);
      t.writer.discard();
      t.writer.pipe.send('ROLLBACK');
      await this.release(t);
      return;
    }
    const at = t.known.get(subxid);
    if (at === undefined) return; // no change of it (or of its children) was applied: nothing to undo
    await t.writer.flush();
    t.writer.pipe.send(`ROLLBACK TO SAVEPOINT ${savepoint(subxid)}`);
    // Savepoints set after it are gone with the rollback; its own stays (it is not used again).
    for (const gone of t.savepoints.splice(at + 1)) t.known.delete(gone);
  }

  /**
   * The source committed `xid`: its last statements, the applied position (written only inside this
   * transaction: `save` must check its `pgshift.batch` against `batchOf(xid)`), COMMIT — and wait for the answer.
   * Returns the number of changes it applied, and of those that found no row on the target.
   */
  async commit(xid: number, save: (batch: string) => QueryConfig, describe: string, extra?: QueryConfig | null): Promise<{ changes: number; missing: number }> {
    const t = this.open.get(xid);
    if (!t)
      throw new PgshiftError(
        `streaming: the source committed transaction ${xid} (${describe}) whose changes were never received here; nothing was acknowledged`,
        { phase: 'streaming', hint: 'run the same command again (it resumes from the position persisted on the target)' },
      );
    this.open.delete(xid);
    await t.writer.flush();
    t.writer.pipe.send(save(`x${xid}`), (r) => {
      if (r.rowCount !== 1)
        throw new PgshiftError(`the applied position ${describe} was not written inside its streamed transaction on the target; nothing was acknowledged`, {
          phase: 'streaming',
        });
    });
    // e.g. the per-table change counts of online verify's baseline (same transaction as the changes).
    if (extra) t.writer.pipe.send(extra);
    let ok = false;
    t.writer.pipe.send('COMMIT', (r) => {
      if (r.command !== 'COMMIT')
        throw new PgshiftError(`the target rolled back the streamed transaction ${describe} instead of committing it (answered ${r.command})`, {
          phase: 'streaming',
        });
      ok = true;
    });
    try {
      await t.writer.pipe.barrier();
    } catch (err) {
      // Whether it committed is read from the target's state after the reconnect, never assumed.
      await t.writer.pipe.abort();
      await discard(t.client);
      throw err;
    }
    if (!ok) throw new PgshiftError(`the streamed transaction ${describe} was not confirmed committed on the target`, { phase: 'streaming' });
    await this.release(t);
    return { changes: t.changes, missing: t.writer.missingRows };
  }

  /**
   * Nothing more goes out on any of these connections; they are closed, and the server rolls back whatever
   * was open (the source streams those transactions again after a reconnect).
   */
  async abortAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    this.current = null;
    await Promise.all(
      all.map(async (t) => {
        await t.writer.pipe.abort();
        await discard(t.client);
      }),
    );
    await Promise.all(this.idle.splice(0).map((c) => discard(c)));
  }

  /** A transaction that ended cleanly: its connection waits for the next one (a few at most), else is closed. */
  private async release(t: OpenTransaction): Promise<void> {
    try {
      await t.writer.pipe.barrier();
    } catch (err) {
      await t.writer.pipe.abort();
      await discard(t.client);
      throw err;
    }
    if (this.idle.length < 2) this.idle.push(t.client);
    else await discard(t.client);
  }

  private block(): OpenTransaction {
    if (!this.current) throw new PgshiftError('streaming: a change of a streamed transaction outside its block', { phase: 'streaming' });
    return this.current;
  }
}
