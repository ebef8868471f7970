import { describe, expect, it } from 'vitest';
import { concurrencySeconds, StreamStats } from '../../src/copy/stream-stats.js';

describe('stream stats', () => {
  it('splits the streaming seconds by how many streams ran at once', () => {
    // ms: [0, 4000] and [1000, 3000] overlap for 2 s; [3000, 6000] touches the second (not concurrent with it),
    // overlaps the first for 1 s, then runs alone for 2 s.
    const c = concurrencySeconds([
      { start: 0, end: 4000 },
      { start: 1000, end: 3000 },
      { start: 3000, end: 6000 },
    ]);
    expect(c).toEqual({ '1': 3, '2': 3 });
  });

  it('the union of the streams, the span with its gaps, large chunks listed and small tables summed', () => {
    const s = new StreamStats();
    s.add('public.big', { chunk: 0, chunks: 2 }, { bytes: 90, wireBytes: 100, startedAt: 1000, endedAt: 3000 });
    s.add('public.big', { chunk: 1, chunks: 2 }, { bytes: 90, wireBytes: 100, startedAt: 1500, endedAt: 2500 });
    s.add('public.t', { chunk: 0, chunks: 1 }, { bytes: 9, wireBytes: 10, startedAt: 4000, endedAt: 4500 });
    const sum = s.summary();
    expect(sum).toMatchObject({ wireBytes: 210, payloadBytes: 189, seconds: 2.5, spanSeconds: 3.5, concurrency: { '1': 1.5, '2': 1 } });
    expect(sum.chunks).toEqual([
      { table: 'public.big', chunk: 1, chunks: 2, wireBytes: 100, seconds: 2, startedAt: 0 },
      { table: 'public.big', chunk: 2, chunks: 2, wireBytes: 100, seconds: 1, startedAt: 0.5 },
    ]);
    expect(sum.small).toEqual({ chunks: 1, wireBytes: 10, seconds: 0.5 });
  });
});
