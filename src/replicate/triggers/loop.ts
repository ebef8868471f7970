// The trigger capture's apply loop: batches (apply.ts) one after the other until stopped, each on a source and a
// target connection of its own, reconnecting with the one retry policy (../retry.ts) from the snapshot recorded
// on the target. A batch whose snapshot is taken after a moment covers every change committed before it:
// `reachedAt` is the start of the last batch that completed (with or without changes).
import type { ConnectionSpec } from '../../config.js';
import { connect, discard, type Client } from '../../db/connect.js';
import type { Logger } from '../../log.js';
import { sleep } from '../../sleep.js';
import { backoffMs, isTransient } from '../retry.js';
import { CaptureApplier, type BatchResult } from './apply.js';
import { CaptureLag } from './lag.js';
import type { CapturedTable } from './install.js';

export class CaptureLoop {
  applied: string;
  reconnects = 0;
  /** Local clock time at which the last completed batch began: every change committed before it is applied. */
  reachedAt = 0;
  lastCommit: Date | null = null;
  readonly lag = new CaptureLag();
  private stopping = false;
  private wake = new AbortController();

  constructor(
    private readonly source: ConnectionSpec,
    private readonly target: ConnectionSpec,
    private readonly tables: CapturedTable[],
    applied: string,
    private readonly opts: { logger: Logger; idleMs: number; onConnect: (tgt: Client) => Promise<void> },
  ) {
    this.applied = applied;
  }

  stop(): void {
    this.stopping = true;
    this.wake.abort();
  }

  /** Cut an idle wait short: the next batch starts now. */
  poke(): void {
    this.wake.abort();
  }

  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => this.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) this.stop();
    let attempt = 0;
    try {
      while (!this.stopping) {
        let src: Client | undefined;
        let tgt: Client | undefined;
        try {
          src = await connect(this.source, { applicationName: 'pgshift replicate apply', phase: 'apply' });
          // The log cleanup writes on the source: still allowed while pgshift cutover holds it read-only for everyone else.
          await src.query(`SET default_transaction_read_only = off`);
          tgt = await connect(this.target, { applicationName: 'pgshift replicate apply', phase: 'apply' });
          // Every (re)connection of the applier: this run still holds the target, and no other applier is alive.
          await this.opts.onConnect(tgt);
          const applier = new CaptureApplier(src, tgt, this.tables, this.opts.logger);
          await applier.init();
          const { rows } = await tgt.query(`SELECT applied_snapshot FROM pgshift.capture WHERE id = 1`);
          this.applied = rows[0].applied_snapshot;
          // Log rows a crash left behind after their batch committed on the target.
          await applier.forget(this.applied);
          while (!this.stopping) {
            const batchStart = Date.now();
            const r: BatchResult | null = await applier.batch(this.applied);
            attempt = 0;
            if (r) {
              this.applied = r.snapshot;
              if (r.newest) this.lastCommit = r.newest;
              this.lag.record(r);
              await applier.forget(r.snapshot);
            }
            this.reachedAt = batchStart;
            if (!r || r.changes < 100) await this.idle();
          }
        } catch (err) {
          if (!isTransient(err) || this.stopping) throw err;
          attempt++;
          this.reconnects++;
          const wait = backoffMs(attempt);
          this.opts.logger.warn(
            `replicate: connection lost (${(err as Error).message}); reconnecting in ${(wait / 1000).toFixed(1)}s from the snapshot recorded on the target`,
          );
          await sleep(wait, signal);
        } finally {
          // Bounded: a connection lost or wedged mid-batch must not hold up the reconnection.
          await Promise.all([discard(src), discard(tgt)]);
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async idle(): Promise<void> {
    await sleep(this.opts.idleMs, this.wake.signal);
    if (!this.stopping) this.wake = new AbortController();
  }
}
