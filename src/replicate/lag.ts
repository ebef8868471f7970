// Lag, live: bytes (source WAL position − position applied on the target) and seconds, plus changes/s and
// transactions/s since the last sample. Seconds: an upper bound on the age of the oldest change not applied yet
// (0 once nothing is pending) — now minus the later of (a) the commit time of the last applied transaction and
// (b) the newest moment whose source position the target has reached (every commit before that moment is applied).
// (a) alone grew without bound while the replicated tables were quiet and other WAL moved the source's position
// (vacuum, checkpoints, other tables): `--max-lag` catch-ups waited for an idle set, and predictions inflated.
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

/** Source positions kept while the target has not reached them (a stalled applier, sampled every few seconds). */
const MAX_SEEN = 1000;

export class LagMeter {
  private prev?: { t: number; changes: number; transactions: number };
  /** Source positions, oldest first, each with a moment before it was read: every commit before `at` is ≤ `position`. */
  private seen: { at: number; position: bigint }[] = [];
  private reachedAt: number | null = null;

  /**
   * `readAt`: a moment before `sourcePosition` was read on the source (null when it is a stale position kept from an
   * earlier read: it then says nothing about commits up to now).
   */
  sample(stats: ApplyStats, sourcePosition: bigint, retainedBytes: number | null, now = new Date(), readAt: Date | null = now): LagSample {
    const reached = stats.reachedPosition;
    if (readAt) this.seen.push({ at: readAt.getTime(), position: sourcePosition });
    // Thinned, never emptied, when the applier stalls: a position dropped only makes the bound later (larger lag).
    if (this.seen.length > MAX_SEEN) this.seen = this.seen.filter((_, i) => i % 2 === 1);
    while (this.seen.length && this.seen[0]!.position <= reached) this.reachedAt = Math.max(this.reachedAt ?? 0, this.seen.shift()!.at);
    const lagBytes = sourcePosition > reached ? Number(sourcePosition - reached) : 0;
    const since = Math.max(stats.lastCommitTime?.getTime() ?? 0, this.reachedAt ?? 0);
    const lagSeconds = lagBytes === 0 || since === 0 ? 0 : Math.max(0, (now.getTime() - since) / 1000);
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
