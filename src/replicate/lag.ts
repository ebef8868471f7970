// Lag, live: bytes (source WAL position − position applied on the target) and seconds (now − commit time of the
// last applied transaction; 0 once nothing is pending), plus changes/s and transactions/s since the last sample.
import type { ApplyStats } from './apply/applier.js';

export interface LagSample {
  at: Date;
  sourcePosition: bigint;
  appliedPosition: bigint;
  lagBytes: number;
  lagSeconds: number;
  transactions: number;
  changes: number;
  changesPerSecond: number;
  transactionsPerSecond: number;
  retainedBytes: number | null;
}

export class LagMeter {
  private prev?: { t: number; changes: number; transactions: number };

  sample(stats: ApplyStats, sourcePosition: bigint, retainedBytes: number | null, now = new Date()): LagSample {
    const reached = stats.reachedPosition;
    const lagBytes = sourcePosition > reached ? Number(sourcePosition - reached) : 0;
    const lagSeconds = lagBytes === 0 || !stats.lastCommitTime ? 0 : Math.max(0, (now.getTime() - stats.lastCommitTime.getTime()) / 1000);
    const t = now.getTime();
    const dt = this.prev ? (t - this.prev.t) / 1000 : 0;
    const rate = (cur: number, before: number | undefined) => (dt > 0 && before !== undefined ? (cur - before) / dt : 0);
    const s: LagSample = {
      at: now,
      sourcePosition,
      appliedPosition: reached,
      lagBytes,
      lagSeconds,
      transactions: stats.transactions,
      changes: stats.changes,
      changesPerSecond: rate(stats.changes, this.prev?.changes),
      transactionsPerSecond: rate(stats.transactions, this.prev?.transactions),
      retainedBytes,
    };
    this.prev = { t, changes: stats.changes, transactions: stats.transactions };
    return s;
  }
}
