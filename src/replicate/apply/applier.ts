// The applier: source events in commit order → target transactions. Several source transactions share one
// target transaction (bounded by changes and time); the applied position is written in that SAME transaction,
// and only after COMMIT is the source told it may forget them (exactly once across any crash). A lost
// connection on either side rolls back the open batch and restarts both from the position persisted on the
// target, with backoff.
import type { ConnectionSpec } from '../../config.js';
import { connect, type Client } from '../../db/connect.js';
import { classifyError, PgshiftError } from '../../errors.js';
import { backoffMs, isTransient } from '../retry.js';
import type { Logger } from '../../log.js';
import type { ChangeSource, Position, SourceEvent, TakingIterator } from '../change.js';
import { loadApplied, saveAppliedQuery } from '../../state/replication.js';
import { ChangeWriter, SchemaChangedError } from './writer.js';
import { StreamedTransactions, TooManyStreamedError } from './streamed.js';
import { discard } from '../../db/connect.js';
import { Alarm, sleep } from './alarm.js';
import { VerifyPoints } from './points.js';
import { PointStop } from './point-stop.js';

export { SchemaChangedError };

/** Session settings of the applier: values parse as the source rendered them; user types come qualified. */
export const APPLY_SETTINGS: Record<string, string> = {
  search_path: 'pg_catalog',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  extra_float_digits: '3',
  lc_monetary: 'C',
  // Statements are prepared once per connection; a generic plan made while a table was small (a seq scan and
  // hash join over unnest) stays cached as the table grows, and every 1,000-row UPDATE/DELETE then scans the
  // whole table: 4.6× slower at 300k rows, worse beyond. A custom plan per statement costs far less.
  plan_cache_mode: 'force_custom_plan',
};

/** Events folded between two turns of the event loop while statements are in flight (~1–3 ms of client work). */
const YIELD_EVERY = 128;
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface ApplyOptions {
  /** Commit the target transaction once it holds this many changes (at a source commit). */
  maxBatchChanges?: number;
  /** …or once it has been open this long. */
  maxBatchMs?: number;
  logger: Logger;
  /** Describes a position for messages (pgoutput: an LSN). */
  formatPosition?: (p: Position) => string;
  /** Where the target stands before the first batch (for lag until the first commit). */
  initial?: { position: Position; commitTime: Date | null };
  /**
   * Runs on every (re)connection to the target before anything is applied: a run re-checks there that it
   * still holds the target (its run lock), so two runs never apply to one target.
   */
  onConnect?: (client: Client) => Promise<void>;
  /** Answer online verify requests on the target (pgshift.verify_point, points.ts). Default true. */
  verifyPoints?: boolean;
  /** How often the target is asked for a verify request (ms). Default 200. */
  verifyPollMs?: number;
}

export interface ApplyStats {
  transactions: number;
  changes: number;
  batches: number;
  reconnects: number;
  /** Position committed on the target (last applied source commit). */
  appliedPosition: Position;
  /** Position up to which nothing is left to apply (≥ appliedPosition: idle keepalives advance it). */
  reachedPosition: Position;
  lastCommitTime: Date | null;
  missingRows: number;
  /** Transactions applied while they were in progress on the source (streamed), committed on the target. */
  streamed: number;
  /** Online verify points reached (the target exported exactly at a source position), and the last pause. */
  verifyPoints: number;
  lastVerifyPauseMs: number | null;
}

export class Applier {
  readonly stats: ApplyStats;
  private stopping = false;
  private readonly alarm = new Alarm();
  private readonly maxChanges: number;
  private readonly maxMs: number;
  private readonly points: VerifyPoints | null;

  constructor(
    private readonly target: ConnectionSpec,
    private readonly source: ChangeSource,
    private readonly opts: ApplyOptions,
  ) {
    this.maxChanges = opts.maxBatchChanges ?? 20_000;
    this.maxMs = opts.maxBatchMs ?? 500;
    const p = opts.initial?.position ?? 0n;
    this.stats = {
      transactions: 0,
      changes: 0,
      batches: 0,
      reconnects: 0,
      appliedPosition: p,
      reachedPosition: p,
      lastCommitTime: opts.initial?.commitTime ?? null,
      missingRows: 0,
      streamed: 0,
      verifyPoints: 0,
      lastVerifyPauseMs: null,
    };
    this.points = opts.verifyPoints === false ? null : new VerifyPoints(target, 'pgoutput', opts.logger, { pollMs: opts.verifyPollMs });
    if (this.points) this.points.onRequest = () => this.alarm.ring();
  }

  /** Finish the complete transactions of the open batch, persist, acknowledge, and return from run(). */
  stop(): void {
    this.stopping = true;
    this.alarm.ring();
  }

  get stopped(): boolean {
    return this.stopping;
  }

  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => this.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    let attempt = 0;
    try {
      while (!this.stopping) {
        let client: Client | undefined;
        try {
          client = await this.connectTarget('pgshift replicate apply');
          await this.opts.onConnect?.(client);
          await this.consume(client, signal, () => (attempt = 0));
          return;
        } catch (err) {
          // Nothing more is sent on this connection (consume aborted its pipeline): it is discarded below, and
          // the server rolls back the open batch with the session. A ROLLBACK sent here would run beside
          // statements still queued and let them commit one by one (issue #21).
          if (!isTransient(err) || this.stopping) throw err;
          if (err instanceof TooManyStreamedError) this.source.stopStreamingInProgress?.();
          attempt++;
          this.stats.reconnects++;
          const wait = backoffMs(attempt);
          this.opts.logger.warn(
            `replicate: connection lost (${(err as Error).message}); reconnecting in ${(wait / 1000).toFixed(1)}s from the position persisted on the target`,
          );
          await sleep(wait, signal);
        } finally {
          await discard(client);
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await this.points?.close();
    }
  }

  /** A target connection with the apply session settings, in one round trip (start-up time counts on every run). */
  private async connectTarget(applicationName: string): Promise<Client> {
    const client = await connect(this.target, { applicationName, phase: 'apply' });
    try {
      await client.query(`SELECT set_config(k, v, false) FROM unnest($1::text[], $2::text[]) AS s(k, v)`, [
        Object.keys(APPLY_SETTINGS),
        Object.values(APPLY_SETTINGS),
      ]);
    } catch (err) {
      await discard(client);
      throw err;
    }
    return client;
  }

  private async consume(client: Client, signal: AbortSignal, onProgress: () => void): Promise<void> {
    const writer = new ChangeWriter(client, this.opts.logger);
    // A statement that fails while the applier waits for the source (an idle stream) is reported at once.
    writer.pipe.onFailure = () => this.alarm.ring();
    // Transactions streamed while in progress on the source: a connection each, opened while this one holds the
    // apply lock, and closed with it (their open transactions roll back with their sessions).
    const streams = new StreamedTransactions({
      logger: this.opts.logger,
      connect: () => this.connectTarget('pgshift replicate apply streamed'),
      onFailure: () => this.alarm.ring(),
    });
    const applied = await loadApplied(client);
    if (this.points) this.points.epoch = await VerifyPoints.loadEpoch(client);
    if (applied > this.stats.appliedPosition) this.stats.appliedPosition = applied;
    if (applied > this.stats.reachedPosition) this.stats.reachedPosition = applied;
    const fmt = this.opts.formatPosition ?? ((p: Position) => p.toString());
    const it: TakingIterator = this.source.events(applied, signal)[Symbol.asyncIterator]();
    let next: Promise<IteratorResult<SourceEvent>> | null = null;
    let batchOpen = false;
    let inTx = false;
    let skipping = false;
    let batchChanges = 0;
    let batchTx = 0;
    let batchStarted = 0;
    let last: { position: Position; commitTime: Date } | null = null;
    let keepalive: Position | null = null;
    // The keepalive confirmation waiting behind what was sent (one at a time: a keepalive every few ms behind a
    // slow statement must not queue a callback each — memory stays flat). `at`: the pipe's count when queued.
    let ack: { position: Position; at: number } | null = null;
    // Each batch's transaction carries a number; the applied position is written only inside the transaction
    // that set it, so a statement that would run outside it (autocommit) fails instead of moving the position.
    let batchNo = 0;
    // Where the loop waited (debug log at its end): for the source's next event, or for the target (barrier).
    let sourceWaitMs = 0;
    let sinceYield = 0;
    const cpu0 = process.cpuUsage();
    const t0Loop = performance.now();

    /** A batch's COMMIT has come back: only now is the source told it may forget these changes. */
    let streamedMissing = 0;
    const committed = (b: { last: typeof last; tx: number; changes: number; missing?: number }) => {
      streamedMissing += b.missing ?? 0;
      this.stats.batches++;
      this.stats.transactions += b.tx;
      this.stats.changes += b.changes;
      if (b.last) {
        this.stats.appliedPosition = b.last.position;
        this.stats.lastCommitTime = b.last.commitTime;
        if (b.last.position > this.stats.reachedPosition) this.stats.reachedPosition = b.last.position;
        this.source.confirm(b.last.position);
      }
      this.stats.missingRows = writer.missingRows + streamedMissing;
      stop.lastCommitAt = Date.now();
      onProgress();
    };

    // Sends the batch's last statements, its applied position and COMMIT without waiting: the next batch is
    // decoded meanwhile, and its own first flush waits for this COMMIT (writer.flush → pipe.barrier).
    const commit = async () => {
      if (batchOpen) {
        await writer.flush();
        const b = { last, tx: batchTx, changes: batchChanges };
        if (last) {
          const at = last.position;
          writer.pipe.send(saveAppliedQuery(last.position, last.commitTime, batchNo), (r) => {
            if (r.rowCount !== 1)
              throw new PgshiftError(`the applied position ${fmt(at)} was not written inside its batch's transaction on the target; nothing was acknowledged`, {
                phase: 'streaming',
              });
          });
        }
        // Online verify's per-table counts, in the batch's transaction (point-stop.ts).
        const counted = stop.batchCounts();
        if (counted) writer.pipe.send(counted);
        writer.pipe.send('COMMIT', (r) => {
          if (r.command !== 'COMMIT')
            throw new PgshiftError(`the target rolled back a batch instead of committing it (answered ${r.command})`, { phase: 'streaming' });
          committed(b);
        });
        batchOpen = false;
        batchChanges = 0;
        batchTx = 0;
        last = null;
      }
      if (keepalive !== null) {
        // Nothing of ours is pending up to this keepalive once everything sent before it is committed. One
        // waiting confirmation covers a later keepalive only if nothing was sent in between.
        if (ack !== null && ack.at === writer.pipe.count) {
          if (keepalive > ack.position) ack.position = keepalive;
        } else {
          const mine = { position: keepalive, at: 0 };
          writer.pipe.afterSent(() => {
            if (ack === mine) ack = null;
            if (mine.position > this.stats.reachedPosition) this.stats.reachedPosition = mine.position;
            this.source.confirm(mine.position);
          });
          mine.at = writer.pipe.count;
          ack = mine;
        }
        keepalive = null;
      }
    };

    // Online verify: the point this consume() stops at, and what each commit applied per table.
    const stop = new PointStop(this.points, {
      commitAll: async () => {
        await commit();
        await writer.pipe.barrier();
      },
      applied: () => this.stats.appliedPosition,
      stopped: () => this.stopping,
      logger: this.opts.logger,
      reached: (pauseMs) => {
        this.stats.verifyPoints++;
        this.stats.lastVerifyPauseMs = pauseMs;
      },
    });

    try {
      for (;;) {
        if (writer.pipe.failed) await writer.pipe.barrier(); // throws the failure
        if (streams.failed) await streams.check();
        if (this.stopping) {
          // A partial source transaction is rolled back (it is sent again); complete ones are committed.
          if (inTx) {
            writer.discard();
            writer.pipe.send('ROLLBACK');
            batchOpen = false;
          } else await commit();
          await writer.pipe.barrier();
          return;
        }
        if (!inTx) {
          const taken = stop.atBoundary();
          if (taken !== false && (await taken)) continue;
        }
        if (next === null && writer.pipe.inFlight > 0 && ++sinceYield >= YIELD_EVERY) {
          // A backlog at hand is folded synchronously, event after event; the statements already sent go out one
          // by one, each when the previous answer is read — only while the event loop runs. Hand it control now
          // and then, so the target works on them while the client folds the next changes (not after).
          sinceYield = 0;
          await yieldToIo();
          continue;
        }
        let ev: SourceEvent | undefined;
        if (next === null && it.take) {
          ev = it.take();
          if (ev === undefined && batchOpen && !inTx) {
            // Nothing more at hand: commit now rather than wait for more (lag stays low; a backlog, always at
            // hand, still fills large batches).
            await commit();
            continue;
          }
        }
        if (ev === undefined) {
          next ??= it.next();
          let wait = batchOpen && !inTx ? Math.max(0, this.maxMs - (Date.now() - batchStarted)) : 1000;
          if (stop.active) {
            // An idle stream reaches the point with a keepalive: ask the source for one now and then.
            (this.source as { ping?: () => void }).ping?.();
            wait = Math.min(wait, 50);
          } else if (this.points && !inTx) wait = Math.min(wait, this.opts.verifyPollMs ?? 200);
          this.alarm.arm(Date.now() + wait);
          const t0 = performance.now();
          const r = await this.alarm.wait(next);
          sourceWaitMs += performance.now() - t0;
          if (r === null) {
            // The alarm may have been set for an earlier deadline: commit only once this batch's time is up.
            if (batchOpen && !inTx && (this.stopping || Date.now() - batchStarted >= this.maxMs)) await commit();
            else if (!inTx && keepalive !== null) await commit();
            continue;
          }
          next = null;
          if (r.done) throw new PgshiftError('the change source ended unexpectedly', { phase: 'streaming' });
          ev = r.value;
        }
        switch (ev.type) {
          case 'relation':
            if (streams.inBlock) {
              // Checked with everything before the block committed (a stop keeps all that precedes it).
              await writer.pipe.barrier();
              await streams.relation(ev);
            } else if (!skipping) await writer.checkRelation(ev, fmt(this.stats.appliedPosition));
            break;
          case 'stream-start':
            stop.streamStart(ev.xid);
            if (inTx) throw new PgshiftError('a streamed block inside a transaction from the change source', { phase: 'streaming' });
            // What the batch holds was committed on the source before anything the block carries: its COMMIT
            // goes out first, so a streamed statement never waits on a lock only the batch's COMMIT releases.
            if (batchOpen) await commit();
            await streams.start(ev.xid, ev.first);
            break;
          case 'stream-stop':
            await streams.stop();
            break;
          case 'stream-abort':
            stop.streamAbort(ev.xid, ev.subxid);
            await streams.abort(ev.xid, ev.subxid);
            break;
          case 'stream-commit': {
            // Committed after the verify point: the point comes first (point-stop.ts).
            await stop.before(ev.position);
            const streamCounted = stop.streamCommitCounts(ev.xid);
            if (ev.position <= this.stats.appliedPosition) {
              // Already applied (a source resending around a restart): rolled back here, never applied twice.
              await streams.abort(ev.xid, ev.xid);
              break;
            }
            // Everything committed on the source before it is committed on the target first (positions only
            // move forward), then its own position and COMMIT, in its transaction.
            await commit();
            await writer.pipe.barrier();
            const at = { position: ev.position, commitTime: ev.commitTime };
            const done = await streams.commit(ev.xid, (batch) => saveAppliedQuery(at.position, at.commitTime, batch), fmt(at.position), streamCounted);
            committed({ last: at, tx: 1, changes: done.changes, missing: done.missing });
            this.stats.streamed++;
            break;
          }
          case 'begin':
            // A transaction after the verify point: the point comes first (point-stop.ts says why by begin).
            {
              const reaching = stop.before(ev.position);
              if (reaching !== false) await reaching;
            }
            inTx = true;
            // Already applied (a source may resend around a restart): skipped, never applied twice.
            skipping = ev.position <= this.stats.appliedPosition;
            if (!skipping && !batchOpen) {
              // One round trip (simple protocol): the batch number is local to this transaction.
              writer.pipe.send(`BEGIN; SELECT set_config('pgshift.batch', '${++batchNo}', true)`);
              batchOpen = true;
              batchStarted = Date.now();
            }
            break;
          case 'change':
            if (ev.xid !== undefined) {
              stop.streamChange(ev.change);
              const waiting = streams.apply(ev.xid, ev.change);
              if (waiting) await waiting;
              break;
            }
            if (!inTx) throw new PgshiftError('change outside a transaction from the change source', { phase: 'streaming' });
            if (skipping) break;
            {
              // Most changes are queued synchronously: no promise to wait for.
              const waiting = writer.apply(ev.change);
              if (waiting) await waiting;
            }
            stop.count(ev.change);
            batchChanges++;
            break;
          case 'commit':
            inTx = false;
            if (skipping) {
              skipping = false;
              break;
            }
            last = { position: ev.position, commitTime: ev.commitTime };
            batchTx++;
            if (batchChanges >= this.maxChanges || Date.now() - batchStarted >= this.maxMs) await commit();
            break;
          case 'keepalive':
            if (inTx) break;
            keepalive = keepalive === null || ev.position > keepalive ? ev.position : keepalive;
            // The source has sent everything up to here: an idle stream reaches the point without a transaction.
            {
              const reaching = stop.before(ev.position, true);
              if (reaching !== false && (await reaching)) break;
            }
            if (!batchOpen) await commit();
            break;
        }
      }
    } catch (err) {
      // Whatever failed (source, target, a check), nothing more goes out on this connection.
      await writer.pipe.abort();
      throw err;
    } finally {
      const cpu = process.cpuUsage(cpu0);
      this.opts.logger.debug(
        {
          loopMs: Math.round(performance.now() - t0Loop),
          sourceWaitMs: Math.round(sourceWaitMs),
          targetWaitMs: Math.round(writer.pipe.waitedMs),
          cpuMs: Math.round((cpu.user + cpu.system) / 1000),
        },
        'replicate: apply loop ended',
      );
      // Streamed transactions not committed yet roll back with their sessions; the source sends them again.
      await streams.abortAll();
      this.alarm.disarm();
      await it.return?.().catch(() => undefined);
    }
  }
}

export { isTransient };

export { classifyError };
