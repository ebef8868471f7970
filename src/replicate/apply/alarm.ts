// The applier's timer: one deadline shared by many waits, and a sleep that an abort ends early.

/**
 * Waits for an event or for the earliest deadline armed (or ring()), whichever comes first. One timer serves
 * many events: a timer per event cost more CPU than decoding the event.
 */
export class Alarm {
  private timer?: NodeJS.Timeout;
  private at = Infinity;
  private onRing?: () => void;

  /** Ring no later than `deadline` (ms since the epoch). */
  arm(deadline: number): void {
    if (deadline >= this.at) return;
    if (this.timer) clearTimeout(this.timer);
    this.at = deadline;
    this.timer = setTimeout(() => this.ring(), Math.max(0, deadline - Date.now()));
  }

  /** `p`'s value, or null if the alarm rings first. */
  wait<T>(p: Promise<T>): Promise<T | null> {
    return new Promise((resolve, reject) => {
      this.onRing = () => resolve(null);
      p.then(resolve, reject);
    });
  }

  ring(): void {
    const f = this.onRing;
    this.disarm();
    f?.();
  }

  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Infinity;
    this.onRing = undefined;
  }
}

// The one sleep (no listener outlives a wait): src/sleep.ts.
export { sleep } from '../../sleep.js';
