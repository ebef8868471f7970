// Statements sent to the target without waiting for each answer, so the client decodes and folds the next
// changes while the target executes the previous ones (on a small machine the two would otherwise take turns).
// Each statement is issued when the previous one has been answered (a promise chain, not pg's internal queue,
// which pg 8 deprecates): the same round trips as awaiting each, without the client waiting on them.
//
// Bounded: barrier() waits for everything sent so far; the writer calls it before sending the next group, so
// at most one group executes on the server while the client builds the next.
// Failures: the first error is kept and thrown by the next barrier(); nothing sent after it is issued (the
// caller rolls back). A COMMIT can still be answered ROLLBACK (the transaction failed outside the pipeline),
// so a `then` that confirms a commit must check the command tag: no position is ever acknowledged for changes
// that were not committed.
import type { QueryConfig, QueryResult } from 'pg';
import type { Client } from '../../db/connect.js';

export class Pipeline {
  private inflight: Promise<void>[] = [];
  private tail: Promise<unknown> = Promise.resolve();
  private failure: unknown;

  constructor(private client: Client) {}

  /** A new connection after a reconnect: nothing sent on the old one is waited for. */
  reset(client: Client): void {
    this.client = client;
    this.inflight = [];
    this.tail = Promise.resolve();
    this.failure = undefined;
  }

  /**
   * Sends a statement now; `then` runs with its result in order, unless something sent before it failed.
   * `describe` turns an error into what the user reads (the table, the statement).
   */
  send(q: string | QueryConfig, then?: (r: QueryResult) => void, describe?: (err: unknown) => unknown): void {
    const client = this.client;
    const issued = this.tail.then(() => (this.failure === undefined ? client.query(q as QueryConfig) : null));
    this.tail = issued.catch(() => undefined);
    const p = issued.then(
      (r) => {
        if (r !== null && this.failure === undefined) then?.(r);
      },
      (err: unknown) => {
        this.failure ??= (describe ? describe(err) : err) ?? err;
      },
    );
    // A `then` that throws (e.g. a COMMIT answered with ROLLBACK) is a failure like any other.
    this.inflight.push(p.catch((err: unknown) => void (this.failure ??= err)));
  }

  /** Runs `fn` once everything sent so far has succeeded (skipped after a failure). */
  afterSent(fn: () => void): void {
    const all = this.inflight.slice();
    const p = Promise.all(all).then(() => {
      if (this.failure === undefined) fn();
    });
    this.inflight.push(p);
  }

  /** Waits for everything sent so far; throws the first failure. */
  async barrier(): Promise<void> {
    while (this.inflight.length) {
      const all = this.inflight;
      this.inflight = [];
      await Promise.all(all);
    }
    if (this.failure !== undefined) throw this.failure;
  }
}
