// Progress for long phases: redrawn bars with rate and ETA on a TTY, a log line every few seconds otherwise.
import { formatBytes, formatDuration, formatCount } from './format.js';
import type { Logger } from './log.js';
import { terminalSafe } from './terminal.js';

export interface PhaseTotals {
  bytes?: number;
  rows?: number;
  items?: number;
}

export interface PhaseProgress {
  /** Add work done (bytes / rows / items finished). */
  add(delta: { bytes?: number; rows?: number; items?: number }): void;
  /** Mark the phase finished; prints its final line. */
  done(note?: string): void;
  readonly counts: Readonly<Required<PhaseTotals>>;
}

export interface ProgressOptions {
  logger: Logger;
  /** Redraw bars on this stream (stderr); when absent or not a TTY, log periodically. */
  tty?: NodeJS.WriteStream;
  /** Seconds between log lines without a TTY. */
  intervalSeconds?: number;
  /** Turn output off entirely (--json keeps stderr quiet unless asked). */
  quiet?: boolean;
}

class Phase implements PhaseProgress {
  readonly counts = { bytes: 0, rows: 0, items: 0 };
  readonly started = Date.now();
  finished = false;
  constructor(
    readonly name: string,
    readonly totals: PhaseTotals,
    private readonly owner: Progress,
  ) {}
  add(delta: { bytes?: number; rows?: number; items?: number }): void {
    this.counts.bytes += delta.bytes ?? 0;
    this.counts.rows += delta.rows ?? 0;
    this.counts.items += delta.items ?? 0;
    this.owner.tick();
  }
  done(note?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.owner.finish(this, note);
  }
  /** Fraction done by the best measure available. */
  fraction(): number | undefined {
    if (this.totals.bytes) return Math.min(1, this.counts.bytes / this.totals.bytes);
    if (this.totals.items) return Math.min(1, this.counts.items / this.totals.items);
    if (this.totals.rows) return Math.min(1, this.counts.rows / this.totals.rows);
    return undefined;
  }
  describe(width = 24): string {
    const secs = (Date.now() - this.started) / 1000;
    const f = this.fraction();
    const pct = f === undefined ? '' : `${(f * 100).toFixed(0).padStart(3)}% `;
    const bar = f === undefined || width === 0 ? pct : `[${'#'.repeat(Math.round(f * width)).padEnd(width, '.')}] ${pct}`;
    const parts: string[] = [];
    if (this.totals.items) parts.push(`${this.counts.items}/${this.totals.items}`);
    if (this.counts.rows) parts.push(`${formatCount(this.counts.rows)} rows`);
    if (this.counts.bytes) {
      parts.push(`${formatBytes(this.counts.bytes)}${this.totals.bytes ? `/${formatBytes(this.totals.bytes)}` : ''}`);
      if (secs > 0.5) parts.push(`${formatBytes(this.counts.bytes / secs)}/s`);
    }
    if (f !== undefined && f > 0 && f < 1 && secs > 1) parts.push(`ETA ${formatDuration((secs / f) * (1 - f))}`);
    return `${this.name.padEnd(10)} ${bar}${parts.join('  ')}`;
  }
}

export class Progress {
  private readonly phases: Phase[] = [];
  private readonly tty?: NodeJS.WriteStream;
  private drawnLines = 0;
  private lastDraw = 0;
  private timer?: NodeJS.Timeout;
  constructor(private readonly opts: ProgressOptions) {
    this.tty = !opts.quiet && opts.tty?.isTTY ? opts.tty : undefined;
    if (!this.tty && !opts.quiet) {
      this.timer = setInterval(() => this.logActive(), (opts.intervalSeconds ?? 5) * 1000);
      this.timer.unref();
    }
  }

  phase(name: string, totals: PhaseTotals = {}): PhaseProgress {
    const p = new Phase(name, totals, this);
    this.phases.push(p);
    this.tick(true);
    return p;
  }

  tick(force = false): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 200) return;
    this.lastDraw = now;
    this.redraw();
  }

  finish(phase: Phase, note?: string): void {
    const secs = (Date.now() - phase.started) / 1000;
    if (this.tty) this.redraw();
    if (!this.opts.quiet) {
      this.clear();
      this.opts.logger.info(
        { phase: phase.name, seconds: Number(secs.toFixed(2)), rows: phase.counts.rows || undefined, bytes: phase.counts.bytes || undefined },
        `${phase.name}: done in ${formatDuration(secs)}${note ? ` — ${note}` : ''}`,
      );
      this.redraw();
    }
  }

  /** Stop timers and leave the terminal clean. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }

  private active(): Phase[] {
    return this.phases.filter((p) => !p.finished);
  }

  private clear(): void {
    if (!this.tty || this.drawnLines === 0) return;
    this.tty.write(`\x1b[${this.drawnLines}A\x1b[J`);
    this.drawnLines = 0;
  }

  private redraw(): void {
    if (!this.tty) return;
    this.clear();
    const lines = this.active().map((p) => terminalSafe(p.describe()));
    if (lines.length) this.tty.write(`${lines.join('\n')}\n`);
    this.drawnLines = lines.length;
  }

  private logActive(): void {
    for (const p of this.active()) this.opts.logger.info({ phase: p.name, ...p.counts }, p.describe(0).replace(/\s+/g, ' '));
  }
}
