// Lag of trigger capture: what is still in the source's log (pending rows, age of the oldest one's transaction on
// the source's clock) and the apply rate (log rows consumed per second between two samples).
import type { BatchResult } from './apply.js';
import { formatCount } from '../../format.js';

export interface CaptureSample {
  at: Date;
  pendingChanges: number;
  lagSeconds: number;
  changes: number;
  batches: number;
  rowsWritten: number;
  changesPerSecond: number;
}

export class CaptureLag {
  private changes = 0;
  private batches = 0;
  private rows = 0;
  private prev?: { t: number; changes: number };

  /** Totals since the start of this run. */
  totals(): { changes: number; batches: number; rows: number } {
    return { changes: this.changes, batches: this.batches, rows: this.rows };
  }

  record(b: BatchResult): void {
    this.changes += b.changes;
    this.batches++;
    this.rows += b.rows;
  }

  sample(p: { pending: number; ageSeconds: number }, now = new Date()): CaptureSample {
    const t = now.getTime();
    const dt = this.prev ? (t - this.prev.t) / 1000 : 0;
    const rate = dt > 0 && this.prev ? (this.changes - this.prev.changes) / dt : 0;
    this.prev = { t, changes: this.changes };
    return {
      at: now,
      pendingChanges: p.pending,
      lagSeconds: p.pending > 0 ? p.ageSeconds : 0,
      changes: this.changes,
      batches: this.batches,
      rowsWritten: this.rows,
      changesPerSecond: rate,
    };
  }
}

export function captureStatusLine(s: CaptureSample): string {
  return `capture lag ${formatCount(s.pendingChanges)} changes pending / ${s.lagSeconds.toFixed(1)}s · ${formatCount(Math.round(s.changesPerSecond))} changes/s · ${formatCount(s.changes)} changes in ${formatCount(s.batches)} batches`;
}
