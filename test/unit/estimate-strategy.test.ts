// The estimate's strategy (dump/restore or replication, with the freeze each needs) and the duration/timeline
// helpers: pure, no server.
import { describe, expect, it } from 'vitest';
import { tableKey } from '../../src/catalog/table-id.js';
import { parseDuration } from '../../src/estimate/duration.js';
import { chooseStrategy } from '../../src/estimate/model.js';
import { renderTimeline } from '../../src/estimate/render.js';

const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 6);
const key = (name: string) => tableKey({ schema: 'public', name });

describe('estimate: strategy', () => {
  const base = {
    copySeconds: 1200,
    verifySeconds: 300,
    foreignKeySeconds: 0,
    sequences: 10,
    writeRate: { walBytesPerSecond: 1e6, commitsPerSecond: 50, sampledSeconds: 2 },
    format: (s: number) => `${Math.round(s)}s`,
  };
  it('dump/restore fits when copy + verify is inside the budget', () => {
    const s = chooseStrategy({ ...base, replication: { available: true, reason: null }, budgetSeconds: 3600 });
    expect(s.recommendation).toBe('dump-restore');
    expect(s.dumpRestore).toEqual({ freezeSeconds: 1500, fits: true });
    expect(s.verdict).toMatch(/fits/);
  });
  it('replication when dump/restore does not fit and replication is available', () => {
    const s = chooseStrategy({ ...base, replication: { available: true, reason: null }, budgetSeconds: 900 });
    expect(s.recommendation).toBe('replication');
    expect(s.dumpRestore.fits).toBe(false);
    expect(s.replication.fits).toBe(true);
    expect(s.replication.freezeSeconds).toBeGreaterThan(300);
    expect(s.replication.freezeSeconds).toBeLessThan(320);
    expect(s.replication.retainedWalBytes).toBe(1200e6);
  });
  it('says which path remains when logical replication is not available', () => {
    const s = chooseStrategy({ ...base, replication: { available: false, reason: 'the role lacks REPLICATION' }, budgetSeconds: 900 });
    expect(s.recommendation).toBe('none fits');
    expect(s.replication.fits).toBe(false);
    expect(s.verdict).toMatch(/lacks REPLICATION/);
    expect(s.verdict).toMatch(/longer window|REPLICATION/);
  });
  it("replicate's finish re-checks the foreign keys it dropped with writes frozen: part of the replication freeze", () => {
    const without = chooseStrategy({ ...base, replication: { available: true, reason: null }, budgetSeconds: 900 });
    const withKeys = chooseStrategy({ ...base, foreignKeySeconds: 120, replication: { available: true, reason: null }, budgetSeconds: 900 });
    close(withKeys.replication.freezeSeconds - without.replication.freezeSeconds, 120);
    expect(withKeys.replication.foreignKeySeconds).toBe(120);
    expect(withKeys.verdict).toMatch(/re-check foreign keys \(120s\)/);
  });

  describe('trigger capture (no REPLICATION needed)', () => {
    const open = { status: { available: true, reason: null }, sourceRoundTrip: 0.001, targetRoundTrip: 0.001 };
    const noRepl = { available: false, reason: 'the role lacks REPLICATION' };
    const writeRate = { ...base.writeRate, changesPerSecond: 200 };
    it('is the answer when replication is not available and dump/restore does not fit', () => {
      const s = chooseStrategy({ ...base, writeRate, replication: noRepl, triggerCapture: open, budgetSeconds: 900 });
      expect(s.recommendation).toBe('trigger-capture');
      expect(s.triggers.fits).toBe(true);
      // The last batch: 1 s of lag, 12 round trips to each side, 200 changes at 10,800/s; then finish and verify.
      close(s.triggers.catchUpSeconds, 1 + 12 * 0.002 + 200 / 10_800);
      close(s.triggers.freezeSeconds, s.triggers.catchUpSeconds + 0.5 + 10 * 0.005 + 300);
      close(s.triggers.backlogAfterCopy.changes!, 200 * 1200);
      close(s.triggers.backlogAfterCopy.drainSeconds!, 12 * 0.002 + (200 * 1200) / (10_800 - 200));
      expect(s.triggers.drainChangesPerSecond).toBe(10_800);
      close(s.triggers.batchRoundTripSeconds, 12 * 0.002);
      close(s.triggers.sourceOverhead.coreShare!, (200 * 50) / 1e6);
      expect(s.verdict).toMatch(/Use trigger capture \(pgshift replicate --capture triggers/);
    });
    it('without a budget, the verdict names it instead of "the path that remains"', () => {
      const s = chooseStrategy({ ...base, writeRate, replication: noRepl, triggerCapture: open, budgetSeconds: null });
      expect(s.recommendation).toBe('trigger-capture');
      expect(s.verdict).toMatch(/but trigger capture .* about 302s; it adds about 50 µs of source CPU per writing statement/);
      expect(s.verdict).not.toMatch(/path that remains/);
    });
    it('is not offered when the source writes faster than the applier drains, nor when the role cannot create triggers', () => {
      const fast = chooseStrategy({
        ...base,
        writeRate: { ...writeRate, changesPerSecond: 20_000 },
        replication: noRepl,
        triggerCapture: open,
        budgetSeconds: null,
      });
      expect(fast.triggers.keepsUp).toBe(false);
      expect(fast.triggers.backlogAfterCopy.drainSeconds).toBeNull();
      expect(fast.recommendation).toBe('dump-restore');
      expect(fast.verdict).toMatch(/would not keep up/);
      const closed = { ...open, status: { available: false, reason: 'trigger capture is not available: the role may not create triggers on public.a' } };
      const s = chooseStrategy({ ...base, writeRate, replication: noRepl, triggerCapture: closed, budgetSeconds: 900 });
      expect(s.recommendation).toBe('none fits');
      expect(s.triggers.fits).toBe(false);
    });
  });

  it('without a budget, compares both freezes without a yes/no', () => {
    const s = chooseStrategy({ ...base, replication: { available: true, reason: null }, budgetSeconds: null });
    expect(s.dumpRestore.fits).toBeNull();
    expect(s.verdict).toMatch(/--downtime-budget/);
  });
});

describe('estimate: --downtime-budget and the timeline', () => {
  it('reads durations', () => {
    expect(parseDuration('--downtime-budget', '15m')).toBe(900);
    expect(parseDuration('--downtime-budget', '1h30m')).toBe(5400);
    expect(parseDuration('--downtime-budget', '90s')).toBe(90);
    expect(parseDuration('--downtime-budget', '120')).toBe(120);
    expect(() => parseDuration('--downtime-budget', '15 parsecs')).toThrow(/cannot read/);
    expect(() => parseDuration('--downtime-budget', '0m')).toThrow(/cannot read/);
  });

  it('draws one row per connection with a letter per table', () => {
    const segs = [
      { lane: 'copy 1', kind: 'chunk' as const, key: key('a'), table: 'public.a', label: 'whole', start: 1, end: 3 },
      { lane: 'copy 2', kind: 'chunk' as const, key: key('b'), table: 'public.b', label: 'whole', start: 1, end: 2 },
      { lane: 'index 1', kind: 'index' as const, key: key('b'), table: 'public.b', label: 'b_pkey', start: 2, end: 3 },
    ];
    const text = renderTimeline({ schedule: segs, phases: [{ name: 'data', seconds: 2, start: 1 }] } as never, 20);
    const lines = text.split('\n');
    expect(lines[1]).toBe(`  copy 1   |${'A'.repeat(20)}|`);
    expect(lines[2]).toBe(`  copy 2   |${'B'.repeat(10)}${' '.repeat(10)}|`);
    expect(lines[3]).toBe(`  index 1  |${' '.repeat(10)}${'b'.repeat(10)}|`);
    expect(lines[4]).toContain('A public.a');
  });
});
