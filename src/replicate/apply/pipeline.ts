// Statements sent to the target without waiting for each answer, so the client decodes and folds the next
// changes while the target executes the previous ones (on a small machine the two would otherwise take turns).
// Each statement is issued when the previous one has been answered (a promise chain, not pg's internal queue,
// which pg 8 deprecates): the same round trips as awaiting each, without the client waiting on them.
//
// Bounded: barrier() waits for everything sent so far; the writer calls it before sending the next group, so
// at most one group executes on the server while the client builds the next. Memory is O(1) in what is in
// flight: one promise for the end of the chain, whatever the number of statements or afterSent() calls.
// Failures: the first error is kept and thrown by the next barrier(); nothing sent after it is issued. abort()
// does the same for an error that arose elsewhere (the source connection lost): after it, NOTHING more goes out
// on this connection — a ROLLBACK sent beside queued statements let them run in autocommit (issue #21).
import type { QueryConfig, QueryResult } from 'pg';
import type { Client } from '../../db/connect.js';

export class Pipeline {
  /** Settles once the last statement sent has been answered and its `then` has run. */
  private last: Promise<void> = Promise.resolve();
  /** Statements and callbacks sent so far (a barrier waits until no more arrive while it waits). */
  private sent = 0;
  private failure: unknown;
  private aborted = false;
  /** Bumped by reset(): what was queued on an earlier connection neither runs nor counts nor fails this one. */
  private generation = 0;
  /** Called once when a statement fails: whoever waits for something else hears of it at once. */
  onFailure?: () => void;
  /** Milliseconds barrier() spent waiting for the target (what the client could not overlap). */
  waitedMs = 0;

  constructor(private client: Client) {}

  /** A new connection after a reconnect: nothing sent on the old one is waited for. */
  reset(client: Client): void {
    this.client = client;
    this.generation++;
    this.unanswered = 0;
    this.last = Promise.resolve();
    this.failure = undefined;
    this.aborted = false;
  }

  /**
   * Statements sent and not answered yet. Each goes out when the previous one's answer has been read, which
   * happens only while the client's event loop runs: a caller busy for long with work of its own should hand
   * control back now and then while this is above zero, or the target sits idle after the first statement.
   */
  get inFlight(): number {
    return this.unanswered;
  }
  private unanswered = 0;

  /** How many statements and callbacks were sent (an afterSent registered at count n covers exactly those). */
  get count(): number {
    return this.sent;
  }

  get failed(): boolean {
    return this.failure !== undefined || this.aborted;
  }

  /**
   * Sends a statement once everything before it has been answered; `then` runs with its result, unless
   * something sent before it failed or the pipeline was aborted. `describe` turns an error into what the user
   * reads (the table, the statement).
   */
  send(q: string | QueryConfig, then?: (r: QueryResult) => void, describe?: (err: unknown) => unknown): void {
    const client = this.client;
    const generation = this.generation;
    const current = () => generation === this.generation;
    this.sent++;
    this.unanswered++;
    this.last = this.last.then(async () => {
      if (!current()) return;
      if (this.failed) return void this.unanswered--;
      let r: QueryResult;
      try {
        r = await client.query(q as QueryConfig);
      } catch (err) {
        if (current()) this.fail((describe ? describe(err) : err) ?? err);
        return;
      } finally {
        if (current()) this.unanswered--;
      }
      if (!current()) return;
      // A `then` that throws (e.g. a COMMIT answered with ROLLBACK) is a failure like any other.
      if (!this.failed) {
        try {
          then?.(r);
        } catch (err) {
          this.fail(err);
        }
      }
    });
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.onFailure?.();
  }

  /** Runs `fn` once everything sent so far has succeeded (skipped after a failure or abort). */
  afterSent(fn: () => void): void {
    const generation = this.generation;
    this.sent++;
    this.last = this.last.then(() => {
      if (!this.failed && generation === this.generation) fn();
    });
  }

  /** Waits for everything sent so far; throws the first failure. */
  async barrier(): Promise<void> {
    let seen: number;
    const t0 = performance.now();
    do {
      seen = this.sent;
      await this.last;
    } while (seen !== this.sent);
    this.waitedMs += performance.now() - t0;
    if (this.failure !== undefined) throw this.failure;
    if (this.aborted) throw new Error('pipeline aborted');
  }

  /**
   * Stop: nothing more is issued on this connection (what is queued is dropped, callbacks do not run).
   * Resolves once the statement already on the wire has been answered, or after `waitMs`, whichever is first:
   * then the caller may discard the connection knowing nothing else of ours reaches the server.
   */
  async abort(waitMs = 5000): Promise<void> {
    this.aborted = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.last, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }
}
