// The archive estimate's model (src/estimate/archive.ts modelArchiveCopy): pure schedule arithmetic of copy
// --source FILE — tables largest first on --jobs sessions, builds on --index-jobs sessions after their table,
// ANALYZE beside them (overlap) or after post-data (end).
import { describe, expect, it } from 'vitest';
import { foreignKeysOf, modelArchiveCopy, type ArchiveShape } from '../../src/estimate/archive.js';
import type { Archive, ArchiveEntry } from '../../src/archive/index.js';
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
  foreignKeys: [],
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

  it('a foreign key left to post-data scans its table there; more sessions than the capacity share it', () => {
    const m = modelArchiveCopy(shape({ postDataEntries: 1, foreignKeys: [{ bytes: 1000, tables: [], postData: true }] }), rates, {
      jobs: 2,
      indexJobs: 1,
      analyze: 'none',
      batchSize: 100,
    });
    expect(phase(m, 'post-data')).toBeCloseTo(0.1 + 2);
    const four = shape({
      tables: [1, 2, 3, 4].map((d) => ({ dumpId: d, table: `t${d}`, archiveBytes: 100, plainBytes: 100, sampled: true, builds: 0 })),
    });
    // Four sessions at once run at half speed each (capacity 2): 2 s, not 1 s.
    expect(phase(modelArchiveCopy(four, rates, { jobs: 4, indexJobs: 1, analyze: 'none', batchSize: 100 }), 'data')).toBeCloseTo(2);
  });

  it('foreign keys are built beside the data, once both tables and their builds are in, not in post-data', () => {
    // small (1 s of rows) references big (10 s, then its 10 s build): the key waits for big's build, then scans
    // small (2 × 100 B / 1000 B/s = 0.2 s) on the index session; post-data has nothing left of it.
    const fk = { bytes: 100, tables: [2, 1] };
    const m = modelArchiveCopy(shape({ foreignKeys: [fk] }), rates, { jobs: 2, indexJobs: 1, analyze: 'none', batchSize: 100 });
    expect(phase(m, 'post-data')).toBe(0);
    expect(phase(m, 'indexes')).toBeCloseTo(10 + 0.2);
    // Both tables small and loaded early (big is over the 1 MB a table may share a group with): the key is done
    // long before the big table's build ends — no time added.
    const early = modelArchiveCopy(
      shape({
        tables: [
          { dumpId: 1, table: 'public.big', archiveBytes: 2e6, plainBytes: 1000, sampled: true, builds: 1 },
          { dumpId: 2, table: 'public.a', archiveBytes: 100, plainBytes: 100, sampled: true, builds: 0 },
          { dumpId: 3, table: 'public.b', archiveBytes: 100, plainBytes: 100, sampled: true, builds: 0 },
        ],
        foreignKeys: [{ bytes: 100, tables: [2, 3] }],
      }),
      rates,
      { jobs: 2, indexJobs: 2, analyze: 'none', batchSize: 100 },
    );
    expect(phase(early, 'indexes')).toBeCloseTo(10);
    expect(phase(early, 'post-data')).toBe(0);
  });
});

describe('foreignKeysOf', () => {
  const entry = (dumpId: number, desc: string, section: number, tag: string, dependencies: number[] = []): ArchiveEntry => ({
    dumpId,
    hadDumper: false,
    tableOid: 0,
    oid: 0,
    tag,
    desc,
    section,
    defn: null,
    copyStmt: null,
    namespace: 'public',
    owner: null,
    dependencies,
    dataState: 'none',
    dataOffset: null,
    fileName: null,
  });
  const archive = {
    entries: [
      entry(10, 'TABLE', 2, 'parent'),
      entry(11, 'TABLE', 2, 'child'),
      entry(12, 'TABLE', 2, 'measurements'),
      entry(20, 'TABLE DATA', 3, 'parent', [10]),
      entry(21, 'TABLE DATA', 3, 'child', [11]),
      entry(30, 'CONSTRAINT', 4, 'parent parent_pkey', [10]),
      entry(31, 'INDEX ATTACH', 4, 'measurements_2024_pkey', [12]),
      // pg_dump tags a foreign key "<table> <name>" and makes it depend on both tables and the referenced key.
      entry(40, 'FK CONSTRAINT', 4, 'child child_parent_fk', [10, 11, 30]),
      entry(41, 'FK CONSTRAINT', 4, 'measurements measurements_parent_fk', [12, 10, 31]),
    ],
  } as unknown as Archive;
  it('the referencing table, both tables’ data entries, and whether it waits for post-data', () => {
    const fks = foreignKeysOf(
      archive,
      () => true,
      new Map([
        [10, 20],
        [11, 21],
      ]),
      new Map([
        [10, 1000],
        [11, 50],
        [12, 7],
      ]),
    );
    expect(fks.get(40)).toEqual({ bytes: 50, tables: [20, 21], postData: false });
    // measurements has no rows of its own (partitioned): the key waits for all the data; it needs an index attachment.
    expect(fks.get(41)).toEqual({ bytes: 7, tables: [], postData: true });
  });
});

describe('modelArchiveCopy: small tables in groups', () => {
  it('a group pays its round trips once, and its builds and ANALYZEs go as one item after it', () => {
    const rtt = { ...rates, roundTrip: 0.01, perTable: 0.03 + 0.002 };
    const small = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ dumpId: i + 1, table: `t${i}`, archiveBytes: 1000, plainBytes: 0, sampled: true, builds: 1 }));
    // 40 empty tables on one session: one group of 40 (2 round trips + 40 × 2 ms), not 40 × (3 round trips + 2 ms).
    const m = modelArchiveCopy(
      shape({ tables: small(40) }),
      { ...rtt, build: { overhead: 0.02 + 0.001, perByte: 0 } },
      {
        jobs: 1,
        indexJobs: 1,
        analyze: 'none',
        batchSize: 100,
      },
    );
    expect(phase(m, 'data')).toBeCloseTo(0.02 + 40 * 0.002);
    // Their 40 builds: 2 round trips for the group + 40 × 1 ms = 0.06 s after the group's rows, of which the
    // sequences and large objects phases (a round trip each) take 0.02; the indexes phase adds its own round trip.
    expect(phase(m, 'indexes')).toBeCloseTo(0.02 + 40 * 0.001 - 0.02 + 0.01);
  });
});
