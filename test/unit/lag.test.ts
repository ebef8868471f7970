// Lag in seconds is an upper bound on the age of the oldest change not applied yet. It used to be "now minus the
// last applied commit" whenever any WAL was pending, so quiet replicated tables plus other WAL (vacuum,
// checkpoints, tables not replicated) looked like ever-growing lag.
import { describe, expect, it } from 'vitest';
import type { ApplyStats } from '../../src/replicate/apply/applier.js';
import { LagMeter } from '../../src/replicate/lag.js';

const T0 = Date.parse('2026-12-07T12:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);
const stats = (reached: bigint, lastCommit: Date | null) =>
  ({ reachedPosition: reached, lastCommitTime: lastCommit, changes: 0, transactions: 0 }) as unknown as ApplyStats;

describe('LagMeter: lag seconds', () => {
  it('quiet replicated tables while other WAL moves the source: the lag is the time since a reached source position, not since the last commit', () => {
    const m = new LagMeter();
    const hourAgo = at(-3600);
    // First sample: the source at 1000, the target at 900 (keepalives lag a little): nothing reached yet.
    expect(m.sample(stats(900n, hourAgo), 1000n, null, at(0), at(0)).lagSeconds).toBeCloseTo(3600, 0);
    // Five seconds on: a keepalive took the target past 1000; the source moved on to 2000 with WAL of no change of ours.
    expect(m.sample(stats(1500n, hourAgo), 2000n, null, at(5), at(5)).lagSeconds).toBeCloseTo(5, 5);
    // And so on: the bound follows the samples.
    expect(m.sample(stats(2100n, hourAgo), 3000n, null, at(10), at(10)).lagSeconds).toBeCloseTo(5, 5);
  });

  it('an applier that stalls: the lag keeps growing from the last moment reached', () => {
    const m = new LagMeter();
    m.sample(stats(1000n, at(-1)), 1000n, null, at(0), at(0));
    expect(m.sample(stats(1000n, at(-1)), 5000n, null, at(30), at(30)).lagSeconds).toBeCloseTo(30, 5);
    expect(m.sample(stats(1000n, at(-1)), 9000n, null, at(60), at(60)).lagSeconds).toBeCloseTo(60, 5);
  });

  it('a recent commit bounds it as before; nothing pending is 0; a stale position proves nothing', () => {
    const m = new LagMeter();
    expect(m.sample(stats(1000n, at(-2)), 1200n, null, at(0), at(0)).lagSeconds).toBeCloseTo(2, 5);
    expect(m.sample(stats(1200n, at(-2)), 1200n, null, at(1), at(1)).lagSeconds).toBe(0);
    // The source could not be read (stale position kept): the moment of this sample is not a reached one.
    expect(m.sample(stats(1300n, at(-2)), 1200n, null, at(20), null).lagSeconds).toBe(0);
    expect(m.sample(stats(1300n, at(-2)), 1400n, null, at(30), at(30)).lagSeconds).toBeCloseTo(29, 5);
  });

  it('keeps a bounded list of positions while the applier stalls for hours', () => {
    const m = new LagMeter();
    for (let i = 0; i < 5000; i++) m.sample(stats(0n, at(-1)), BigInt(1000 + i), null, at(i), at(i));
    expect((m as unknown as { seen: unknown[] }).seen.length).toBeLessThanOrEqual(1000);
    // Caught up at last: the newest position reached gives the bound.
    expect(m.sample(stats(10_000n, at(-1)), 20_000n, null, at(5000), at(5000)).lagSeconds).toBeLessThanOrEqual(2);
  });
});
