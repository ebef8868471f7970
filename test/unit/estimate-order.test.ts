// The estimate simulates copy's own chunk order (copy/plan.ts chunkOrder: the largest table first, then its
// largest chunk), not the chunks sorted by size alone: a split big table's chunks go before a mid-sized table
// even when each of them is smaller than it.
import { describe, expect, it } from 'vitest';
import { tableKey } from '../../src/catalog/table-id.js';
import { chunkOrder, type Chunk } from '../../src/copy/plan.js';
import { DEFAULT_RATES } from '../../src/estimate/rates.js';
import { simulateDataPhase, type ModelTable } from '../../src/estimate/simulate.js';

const MB = 1e6;
const table = (name: string, bytes: number): ModelTable => ({
  key: tableKey({ schema: 'public', name }),
  display: `public.${name}`,
  heapBytes: bytes,
  toastBytes: 0,
  rows: 1000,
  columns: 1,
  format: 'binary',
});
const chunk = (name: string, i: number, n: number, bytes: number) =>
  ({ schema: 'public', name, chunk: i, chunks: n, method: n > 1 ? 'pk' : 'whole', lo: null, hi: null, estBytes: bytes }) as Chunk;

describe('estimate: chunk order', () => {
  it("simulates chunks in copy's order", async () => {
    const chunks = [chunk('mid', 0, 1, 150 * MB), ...[0, 1, 2, 3].map((i) => chunk('big', i, 4, 100 * MB))];
    expect(chunkOrder(chunks).map((c) => `${c.name} ${c.chunk}`)).toEqual(['big 0', 'big 1', 'big 2', 'big 3', 'mid 0']);
    const sim = await simulateDataPhase(
      { tables: [table('mid', 150 * MB), table('big', 400 * MB)], chunks, builds: [], indexBytes: {}, jobs: 1, indexJobs: 1 },
      { ...DEFAULT_RATES, chunkOverhead: 0, connect: 0 },
    );
    expect(sim.segments.map((s) => `${s.table} ${s.label}`)).toEqual([
      'public.big chunk 1/4',
      'public.big chunk 2/4',
      'public.big chunk 3/4',
      'public.big chunk 4/4',
      'public.mid whole',
    ]);
  });
});
