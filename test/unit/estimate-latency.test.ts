// estimate models the link to the source (#30): copy's round trips there, by step, and a verdict naming latency
// when it dominates.
import { describe, expect, it } from 'vitest';
import type { Chunk } from '../../src/copy/plan.js';
import { dataRoundTrips, linkCost, pgDumpRoundTrips } from '../../src/estimate/latency.js';
import { DEFAULT_RATES } from '../../src/estimate/rates.js';
import { chunkSeconds } from '../../src/estimate/simulate.js';

const whole = (i: number, bytes = 8192): Chunk => ({ schema: 's', name: `t${i}`, chunk: 0, chunks: 1, method: 'whole', lo: null, hi: null, estBytes: bytes });
const fmt = (s: number) => `${s.toFixed(1)}s`;

describe('estimate: the link to the source', () => {
  it('counts one source round trip per batch of small tables, per big chunk, and per snapshot import', () => {
    const small = Array.from({ length: 1000 }, (_, i) => whole(i));
    // 1,000 small tables on 2 jobs: batches of 50 → 20 round trips, plus 2 imports.
    expect(dataRoundTrips(small, 2)).toBe(22);
    const big = [whole(-1, 600 * 1024 ** 2), whole(-2, 100 * 1024 ** 2)];
    expect(dataRoundTrips([...big, ...small.slice(0, 10)], 2)).toBe(2 + 2 + 2);
  });

  it("charges pg_dump's per-table locks before 16 and per-sequence reads before 18", () => {
    expect(pgDumpRoundTrips(15, 1000, 1000)).toBe(60 + 1000 + 1000);
    expect(pgDumpRoundTrips(17, 1000, 1000)).toBe(60 + 1 + 1000);
    expect(pgDumpRoundTrips(18, 1000, 1000)).toBe(60 + 1 + 1);
    // Through pgshift's relay: the locks pipelined, the sequences read once, whatever the major.
    expect(pgDumpRoundTrips(15, 1000, 1000, true)).toBe(60 + 2);
  });

  it('names latency in the verdict when it dominates, and suggests more --jobs and a newer pg_dump', () => {
    const chunks = Array.from({ length: 3000 }, (_, i) => whole(i));
    const far = linkCost({
      sourceRoundTrip: 0.04,
      chunks,
      tables: 3000,
      sequences: 3000,
      pgDumpMajor: 15,
      setupRoundTrips: 20,
      jobs: 2,
      copySeconds: 300,
      format: fmt,
    });
    expect(far.share).toBeGreaterThan(0.5);
    expect(far.note).toMatch(/^Latency dominates: \d+ round trips to the source at 40\.0 ms/);
    expect(far.note).not.toContain('--jobs');
    // Big tables split in many chunks: their round trips are worth more connections.
    const chunky = Array.from({ length: 3000 }, (_, i) => whole(i, 600 * 1024 ** 2));
    const wide = linkCost({
      sourceRoundTrip: 0.04,
      chunks: chunky,
      tables: 30,
      sequences: 0,
      pgDumpMajor: 18,
      setupRoundTrips: 20,
      jobs: 2,
      copySeconds: 100,
      format: fmt,
    });
    expect(wide.note).toContain('--jobs 4');
    expect(wide.note).not.toContain('pg_dump 18');
    expect(far.note).toContain('pg_dump 15');
    const near = linkCost({
      sourceRoundTrip: 0.0004,
      chunks,
      tables: 3000,
      sequences: 3000,
      pgDumpMajor: 15,
      setupRoundTrips: 20,
      jobs: 2,
      copySeconds: 30,
      format: fmt,
    });
    expect(near.note).toBeUndefined();
    expect(near.roundTrips.schemaDump).toBe(6060);
  });

  it('charges a small table only its share of the source round trip its batch makes', () => {
    const rates = { ...DEFAULT_RATES, chunkOverhead: 0.1, sourceRoundTrip: 0.04 };
    const t = { key: 's.t', display: 's.t', heapBytes: 8192, toastBytes: 0, rows: 10, columns: 2, format: 'binary' as const };
    const alone = chunkSeconds(t, whole(1), rates);
    const inBatch = chunkSeconds(t, whole(1), rates, 50);
    expect(alone - inBatch).toBeCloseTo(0.04 * (1 - 1 / 50), 6);
    // A big chunk is never batched.
    expect(chunkSeconds(t, whole(2, 600 * 1024 ** 2), rates, 50)).toBe(chunkSeconds(t, whole(2, 600 * 1024 ** 2), rates));
  });
});
