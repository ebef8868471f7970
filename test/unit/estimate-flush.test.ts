// Two measured costs of small work on a durable target, as the model applies them: a whole-table chunk's commit
// waits for the WAL its rows wrote, and other tables' btree builds are written at the rate of the sampled table's
// own btrees (each the median of a few builds) rather than one generic index's single timing.
import { describe, expect, it } from 'vitest';
import type { Chunk } from '../../src/copy/plan.js';
import { buildRates } from '../../src/estimate/probe-builds.js';
import type { TimedCopy } from '../../src/estimate/probe-sample.js';
import { DEFAULT_RATES, scaleRates, type Rates } from '../../src/estimate/rates.js';
import { chunkSeconds, FLUSH_CAP_BYTES, indexKey, type ModelTable } from '../../src/estimate/simulate.js';

const MB = 1024 * 1024;
const t: ModelTable = { key: 'k', display: 'public.t', heapBytes: 100 * MB, toastBytes: 0, rows: 1e6, columns: 3, format: 'binary' };
const chunk = (method: Chunk['method'], estBytes: number): Chunk => ({
  schema: 'public',
  name: 't',
  chunk: 0,
  chunks: 1,
  method,
  lo: null,
  hi: null,
  estBytes,
});
const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThan(1e-9);

describe('estimate: a whole-table chunk pays for its WAL flush at commit', () => {
  // 100 MB/s, 5 ms fixed, a commit 2 ms slower after 1 MB of rows.
  const r: Rates = { ...DEFAULT_RATES, copy: { text: 100e6, binary: 100e6 }, chunkOverhead: 0.005, commitFlush: { bytes: MB, seconds: 0.002 } };

  it('pro rata up to the cap, flat past it; only whole-table chunks (a range chunk commits without waiting)', () => {
    close(chunkSeconds(t, chunk('whole', MB / 2), r), 0.005 + MB / 2 / 100e6 + 0.001);
    close(chunkSeconds(t, chunk('whole', FLUSH_CAP_BYTES), r), 0.005 + FLUSH_CAP_BYTES / 100e6 + 0.002 * (FLUSH_CAP_BYTES / MB));
    close(chunkSeconds(t, chunk('whole', 50 * MB), r), 0.005 + (50 * MB) / 100e6 + 0.002 * (FLUSH_CAP_BYTES / MB));
    close(chunkSeconds(t, chunk('pk', MB / 2), r), 0.005 + MB / 2 / 100e6);
  });

  it('unmeasured (uncalibrated): nothing is added; the range scales it like the other fixed costs', () => {
    const { commitFlush: _, ...bare } = r;
    close(chunkSeconds(t, chunk('whole', MB), bare), 0.005 + MB / 100e6);
    expect(scaleRates(r, 2).commitFlush).toEqual({ bytes: MB, seconds: 0.001 });
  });
});

const [A, B, H] = ['t_a', 't_b', 't_h'].map((n) => indexKey('public', n)) as [string, string, string];

describe("estimate: the btree write rate comes from the sampled table's own btrees", () => {
  const solo: TimedCopy = {
    rows: 10_000,
    seconds: 0.1,
    scratchBytes: 4 * MB,
    ddl: 0.001,
    scan: { seconds: 0.01, heapBytes: 4 * MB },
    // The generic index: one timing, 1 MB written in 0.01 s after the scan (100 MB/s).
    index: { seconds: 0.021, bytes: MB, heapBytes: 4 * MB },
    realIndexes: {
      [A]: { seconds: 0.031, rows: 10_000, heapBytes: 4 * MB, indexBytes: MB, method: 'btree' },
      [B]: { seconds: 0.051, rows: 10_000, heapBytes: 4 * MB, indexBytes: MB, method: 'btree' },
      [H]: { seconds: 0.5, rows: 10_000, heapBytes: 4 * MB, indexBytes: MB, method: 'hash' },
    },
  };

  it('net of the fixed cost and the scan, over the btrees only', () => {
    const { rates } = buildRates(solo, 0.001, 'public.t');
    // scan 4 MB / 0.01 s; btree a writes 1 MB in 0.031 − 0.001 − 0.01 = 0.02 s, b in 0.04 s: 2 MB / 0.06 s.
    close(rates.scan!, (4 * MB) / 0.01);
    close(rates.indexWrite!, (2 * MB) / 0.06);
    expect(Object.keys(rates.perIndex!).sort()).toEqual([A, B, H].sort());
  });

  it('without btrees of its own, the generic index gives it', () => {
    const { rates } = buildRates({ ...solo, realIndexes: { [H]: solo.realIndexes![H]! } }, 0.001, 'public.t');
    close(rates.indexWrite!, MB / (0.021 - 0.01 - 0.001));
  });
});
