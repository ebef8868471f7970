// The archive estimate's model (src/estimate/archive.ts modelArchiveCopy): pure schedule arithmetic of copy
// --source FILE — tables largest first on --jobs sessions, builds on --index-jobs sessions after their table,
// ANALYZE beside them (overlap) or after post-data (end).
import { describe, expect, it } from 'vitest';
import { modelArchiveCopy, type ArchiveShape } from '../../src/estimate/archive.js';
import type { ArchiveRates } from '../../src/estimate/archive-probe.js';

const rates: ArchiveRates = {
  connect: 0,
  roundTrip: 0,
  toolStart: 0,
  renderPreData: 0,
  preData: { seconds: 1, entries: 10 },
  perEntry: 0.1,
  copy: 100,
  perTable: 0,
  inflate: Infinity,
  build: { overhead: 0, perByte: 0.01 },
  scan: 1000,
  analyze: { perTable: 0.5, perRow: 0 },
  ratio: {},
  defaultRatio: 1,
  bytesPerRow: 10,
};
const shape = (over: Partial<ArchiveShape> = {}): ArchiveShape => ({
  tables: [
    { dumpId: 1, table: 'public.big', archiveBytes: 1000, plainBytes: 1000, sampled: true, builds: 1 },
    { dumpId: 2, table: 'public.small', archiveBytes: 100, plainBytes: 100, sampled: false, builds: 0 },
  ],
  preDataEntries: 10,
  postDataEntries: 0,
  foreignKeyBytes: [],
  sequences: 0,
  largeObjectBytes: 0,
  openSeconds: 0,
  ...over,
});
const phase = (m: ReturnType<typeof modelArchiveCopy>, name: string) => m.phases.find((p) => p.name === name)!.seconds;

describe('modelArchiveCopy', () => {
  it("copy's phases in copy's order; tables largest first on their own sessions", () => {
    const m = modelArchiveCopy(shape(), rates, { jobs: 2, indexJobs: 1, analyze: 'overlap', batchSize: 100 });
    expect(m.phases.map((p) => p.name)).toEqual(['preflight', 'pre-data', 'data', 'sequences', 'large objects', 'indexes', 'post-data', 'analyze']);
    // 1000 B at 100 B/s on one session beside the small table on the other: 10 s.
    expect(phase(m, 'data')).toBeCloseTo(10);
    expect(m.loadedAt.get(2)! - m.loadedAt.get(1)!).toBeCloseTo(-9);
  });

  it('builds and ANALYZE follow the data on --index-jobs sessions (overlap); with end, ANALYZE is a phase of its own', () => {
    const overlap = modelArchiveCopy(shape(), rates, { jobs: 2, indexJobs: 1, analyze: 'overlap', batchSize: 100 });
    // After big's rows (10 s): its build (10 s) and ANALYZE (0.5 s); small's ANALYZE ran at 1 s, beside the data.
    expect(phase(overlap, 'indexes')).toBeCloseTo(10.5);
    expect(phase(overlap, 'analyze')).toBe(0);
    const end = modelArchiveCopy(shape(), rates, { jobs: 2, indexJobs: 1, analyze: 'end', batchSize: 100 });
    expect(phase(end, 'indexes')).toBeCloseTo(10);
    expect(phase(end, 'analyze')).toBeCloseTo(0.5);
    expect(phase(modelArchiveCopy(shape(), rates, { jobs: 2, indexJobs: 1, analyze: 'none', batchSize: 100 }), 'analyze')).toBe(0);
  });

  it('foreign keys scan their table in post-data; more sessions than the capacity share it', () => {
    const m = modelArchiveCopy(shape({ postDataEntries: 1, foreignKeyBytes: [1000] }), rates, { jobs: 2, indexJobs: 1, analyze: 'none', batchSize: 100 });
    expect(phase(m, 'post-data')).toBeCloseTo(0.1 + 2);
    const four = shape({
      tables: [1, 2, 3, 4].map((d) => ({ dumpId: d, table: `t${d}`, archiveBytes: 100, plainBytes: 100, sampled: true, builds: 0 })),
    });
    // Four sessions at once run at half speed each (capacity 2): 2 s, not 1 s.
    expect(phase(modelArchiveCopy(four, rates, { jobs: 4, indexJobs: 1, analyze: 'none', batchSize: 100 }), 'data')).toBeCloseTo(2);
  });
});
