// The estimate model on synthetic catalogs: pure and fast, no server. Rates are round numbers so every expected
// time can be worked out by hand.
import { describe, expect, it } from 'vitest';
import { tableKey } from '../../src/catalog/table-id.js';
import type { TableInfo } from '../../src/catalog/tables.js';
import type { Chunk } from '../../src/copy/plan.js';
import type { BuildJob } from '../../src/copy/schedule.js';
import { COPY_SOURCE_ROUND_TRIPS, foreignKeySeconds, listSchedule, modelCopy, type PlanLike, type PlanSizes } from '../../src/estimate/model.js';
import { contentionOf, DEFAULT_RATES, type Rates } from '../../src/estimate/rates.js';
import {
  buildSeconds,
  hashGrowth,
  indexKey,
  indexWorkers,
  parallelGain,
  scaleIndexSample,
  simulateDataPhase,
  speeds,
  type ModelTable,
} from '../../src/estimate/simulate.js';

const MB = 1e6;

/** 100 MB/s per pipe, no fixed costs, capacity 8: times are bytes / 1e8. */
const RATES: Rates = {
  ...DEFAULT_RATES,
  copy: { text: 100 * MB, binary: 100 * MB },
  perTable: {},
  chunkOverhead: 0,
  connect: 0,
  scan: 1000 * MB,
  indexWrite: 100 * MB,
  buildOverhead: 0,
  capacity: 8,
  // One process per index build unless a test says otherwise.
  parallelMaintenance: { maxWorkers: 0, minPages: 1024 },
};

const key = (name: string) => tableKey({ schema: 'public', name });

function table(name: string, bytes: number, o: { binary?: boolean; rows?: number } = {}): TableInfo {
  return {
    oid: 1,
    schema: 'public',
    name,
    qualified: `"public"."${name}"`,
    display: `public.${name}`,
    kind: 'table',
    relkind: 'r',
    unlogged: false,
    parent: null,
    hasInheritanceChildren: false,
    rows: o.rows ?? 1000,
    tableBytes: bytes,
    toastBytes: 0,
    indexBytes: 0,
    primaryKey: ['id'],
    replicaIdentity: 'default',
    identityColumns: ['id'],
    columns: [{ name: 'id', type: 'bigint', typeOid: 20, notNull: true, generated: false, identity: null, binarySafe: o.binary ?? true }],
  };
}

const model = (t: TableInfo): ModelTable => ({
  key: tableKey(t),
  display: t.display,
  heapBytes: t.tableBytes,
  toastBytes: t.toastBytes,
  rows: t.rows,
  columns: t.columns.length,
  format: 'binary',
});

function chunks(t: TableInfo, n = 1): Chunk[] {
  return Array.from({ length: n }, (_, i) => ({
    schema: t.schema,
    name: t.name,
    chunk: i,
    chunks: n,
    method: n > 1 ? 'pk' : 'whole',
    lo: null,
    hi: null,
    estBytes: Math.round(t.tableBytes / n),
  }));
}

const index = (t: string, name: string, isKey = false): BuildJob => ({
  kind: 'index',
  schema: 'public',
  table: t,
  name,
  stateName: name,
  statements: [],
  needsData: [key(t)],
  needsKeys: [],
  isKey,
});
const fk = (t: string, ref: string, name: string): BuildJob => ({
  kind: 'foreign key',
  schema: 'public',
  table: t,
  name,
  stateName: `FK ${name}`,
  statements: [],
  needsData: [key(t), key(ref)],
  needsKeys: [key(ref)],
});

const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 6);

describe('estimate: data phase simulation', () => {
  it('runs chunks largest first on --jobs pipes', async () => {
    const [a, b, c] = [table('a', 300 * MB), table('b', 200 * MB), table('c', 100 * MB)];
    const input = { tables: [a, b, c].map(model), chunks: [...chunks(c), ...chunks(a), ...chunks(b)], builds: [], indexBytes: {} };
    const one = await simulateDataPhase({ ...input, jobs: 1, indexJobs: 1 }, RATES);
    expect(one.segments.map((s) => s.table)).toEqual(['public.a', 'public.b', 'public.c']);
    close(one.seconds, 6);
    // Two pipes: a (3 s) on one; b (2 s) then c (1 s) on the other.
    const two = await simulateDataPhase({ ...input, jobs: 2, indexJobs: 1 }, RATES);
    close(two.seconds, 3);
    expect(two.segments.find((s) => s.table === 'public.c')!.lane).toBe('copy 2');
  });

  it('slows pipes down alike when more run than the capacity allows', async () => {
    const [a, b] = [table('a', 100 * MB), table('b', 100 * MB)];
    const input = { tables: [a, b].map(model), chunks: [...chunks(a), ...chunks(b)], builds: [], indexBytes: {}, jobs: 2, indexJobs: 1 };
    close((await simulateDataPhase(input, { ...RATES, capacity: 2 })).seconds, 1);
    close((await simulateDataPhase(input, { ...RATES, capacity: 1 })).seconds, 2);
    close((await simulateDataPhase(input, { ...RATES, capacity: 1.5 })).seconds, 2 / 1.5);
  });

  it('a COPY and an index build that overlap slow each other by the measured contention', async () => {
    // b (200 MB, 2 s) on one pipe, a (100 MB, 1 s) on the other; a's index (0.1 s scan + 0.5 s write) starts
    // at 1 s beside b's last second. Capacity 8: the old model saw room for both at full speed.
    const [a, b] = [table('a', 100 * MB), table('b', 200 * MB)];
    const input = {
      tables: [a, b].map(model),
      chunks: [...chunks(a), ...chunks(b)],
      builds: [index('a', 'a_idx')],
      indexBytes: { [indexKey('public', 'a_idx')]: 50 * MB },
      jobs: 2,
      indexJobs: 1,
    };
    const apart = await simulateDataPhase(input, RATES);
    const idx = (sim: typeof apart) => sim.segments.find((s) => s.label === 'a_idx')!;
    close(idx(apart).end, 1.6);
    close(apart.seconds, 2);
    // Measured: two pipes at once 1.0× (each takes half of the other's room), a COPY beside a build 1.5×, a
    // build beside a COPY 1.5× (two builds 1.0×). Both run at 2/3 speed while they overlap: the build ends at
    // 1 + 0.6 × 1.5 = 1.9 s, by when b has 0.4 s left at full speed: 2.3 s.
    const contention = { copy: { copy: 0.5, build: 1.0 }, build: { copy: 1.0, build: 0.5 } };
    const together = await simulateDataPhase(input, { ...RATES, contention });
    close(idx(together).start, 1);
    close(idx(together).end, 1.9);
    close(together.seconds, 2.3);
    expect(together.seconds).toBeGreaterThan(apart.seconds);
    // Two pipes alone (0–1 s) did not slow each other: a's chunk still took 1 s.
    close(together.segments.find((s) => s.table === 'public.a' && s.kind === 'chunk')!.end, 1);
  });

  it('contention measured as pairs extends to more activities at once (each adds its load)', () => {
    const contention = { copy: { copy: 0.6, build: 0.3 }, build: { copy: 0.4, build: 0.7 } };
    // Two COPYs and two builds: a COPY carries 2 × 0.6 + 2 × 0.3 = 1.8, a build 2 × 0.4 + 2 × 0.7 = 2.2.
    const v = speeds(
      [
        { kind: 'copy', weight: 1 },
        { kind: 'copy', weight: 1 },
        { kind: 'build', weight: 1 },
        { kind: 'build', weight: 1 },
      ],
      contention,
    );
    close(v[0]!, 1 / 1.8);
    close(v[2]!, 1 / 2.2);
    // Under a summed load of 1 nothing slows down.
    close(
      speeds(
        [
          { kind: 'copy', weight: 1 },
          { kind: 'build', weight: 1 },
        ],
        contention,
      )[0]!,
      1,
    );
    // Without a measurement, every pair of kinds takes 1 / capacity (the pipes' measured capacity, as before).
    expect(contentionOf({ capacity: 2 })).toEqual({ copy: { copy: 0.5, build: 0.5 }, build: { copy: 0.5, build: 0.5 } });
  });

  it("a key's ALTER TABLE waits for the other builds on its table (SHARE locks), and later builds queue behind it", async () => {
    // big (100 MB, 1 s) then three builds on it, two builders: pkey (CREATE UNIQUE INDEX 0.2 s, then ALTER TABLE
    // … USING INDEX), a (1 s), b (0.3 s). pkey's build ends at 1.2 s but its ALTER TABLE waits for a (till 2 s);
    // b, asked for by pkey's builder only after pkey committed, starts at 2 s: 2.3 s, not 1.5 s.
    const big = table('big', 100 * MB);
    const job = (name: string, statements: string[]) => ({ ...index('big', name, true), statements });
    const sized = { [indexKey('public', 'big_pkey')]: 20 * MB, [indexKey('public', 'a')]: 100 * MB, [indexKey('public', 'b')]: 30 * MB };
    const input = (pkey: string[]) => ({
      tables: [model(big)],
      chunks: chunks(big),
      builds: [job('big_pkey', pkey), job('a', ['CREATE INDEX a ON public.big (x)']), job('b', ['CREATE INDEX b ON public.big (y)'])],
      indexBytes: sized,
      jobs: 1,
      indexJobs: 2,
    });
    const free = { ...RATES, scan: 1e15 };
    const keyed = await simulateDataPhase(
      input(['CREATE UNIQUE INDEX big_pkey ON public.big (id)', 'ALTER TABLE ONLY public.big ADD CONSTRAINT big_pkey PRIMARY KEY USING INDEX big_pkey']),
      free,
    );
    const seg = (sim: typeof keyed, label: string) => sim.segments.find((s) => s.label === label)!;
    close(seg(keyed, 'big_pkey').end, 2);
    close(seg(keyed, 'b').start, 2);
    close(keyed.seconds, 2.3);
    // A plain unique index takes SHARE only: pkey ends at 1.2 s and b runs beside a.
    const plain = await simulateDataPhase(input(['CREATE UNIQUE INDEX big_pkey ON public.big (id)']), free);
    close(seg(plain, 'big_pkey').end, 1.2);
    close(plain.seconds, 2);
  });

  it('two keys of one table deadlock on their ALTER TABLEs: one is run again, as copy retries it', async () => {
    const big = table('big', 100 * MB);
    const key = (name: string) => ({
      ...index('big', name, true),
      statements: [`CREATE UNIQUE INDEX ${name} ON public.big (id)`, `ALTER TABLE public.big ADD CONSTRAINT ${name} UNIQUE USING INDEX ${name}`],
    });
    const sim = await simulateDataPhase(
      {
        tables: [model(big)],
        chunks: chunks(big),
        builds: [key('k1'), key('k2')],
        indexBytes: { [indexKey('public', 'k1')]: 50 * MB, [indexKey('public', 'k2')]: 50 * MB },
        jobs: 1,
        indexJobs: 2,
      },
      { ...RATES, scan: 1e15 },
    );
    // Both build 0.5 s (1–1.5 s); k2's ALTER TABLE meets k1's: k2 is aborted, k1 commits at 1.5 s, k2 runs again.
    const [k1, k2] = ['k1', 'k2'].map((l) => sim.segments.find((s) => s.label === l)!);
    close(k1!.end, 1.5);
    close(k2!.end, 2);
  });

  it("a key's ALTER TABLE goes ahead of a foreign key that waits for the key's own CREATE INDEX (as the server's lock queue does)", async () => {
    // child (100 MB, 1 s) and parent (10 MB) on two pipes; parent's key is in at once. At 1 s child_pkey starts
    // (1.1 s) and the foreign key, released with all data in, asks for SHARE ROW EXCLUSIVE on child: it waits for
    // child_pkey's SHARE. child_pkey's ALTER TABLE then needs ACCESS EXCLUSIVE on child: the server lets it ahead of
    // the waiting foreign key (whose wait it causes), so it commits at 2.1 s and the check runs after it.
    const [child, parent] = [table('child', 100 * MB), table('parent', 10 * MB)];
    const key = (t: string, name: string) => ({
      ...index(t, name, true),
      statements: [`CREATE UNIQUE INDEX ${name} ON public.${t} (id)`, `ALTER TABLE ONLY public.${t} ADD CONSTRAINT ${name} PRIMARY KEY USING INDEX ${name}`],
    });
    const sim = await simulateDataPhase(
      {
        tables: [child, parent].map(model),
        chunks: [...chunks(child), ...chunks(parent)],
        builds: [key('parent', 'parent_pkey'), key('child', 'child_pkey'), fk('child', 'parent', 'child_parent_fk')],
        indexBytes: { [indexKey('public', 'parent_pkey')]: 1 * MB, [indexKey('public', 'child_pkey')]: 100 * MB },
        jobs: 2,
        indexJobs: 2,
      },
      RATES,
    );
    const seg = (label: string) => sim.segments.find((s) => s.label === label)!;
    close(seg('child_pkey').end, 2.1);
    close(seg('child_parent_fk').start, 1);
    close(seg('child_parent_fk').end, 2.1 + (100 * MB + 2 * 10 * MB) / (1000 * MB));
  });

  it("starts a table's index builds when its last chunk finishes, overlapping the other COPYs, via copy's own scheduler", async () => {
    const big = table('big', 400 * MB);
    const small = table('small', 100 * MB);
    const sim = await simulateDataPhase(
      {
        tables: [big, small].map(model),
        chunks: [...chunks(big, 2), ...chunks(small)],
        builds: [index('big', 'big_pkey', true), index('small', 'small_pkey', true)],
        indexBytes: { [indexKey('public', 'big_pkey')]: 100 * MB, [indexKey('public', 'small_pkey')]: 50 * MB },
        jobs: 2,
        indexJobs: 1,
      },
      RATES,
    );
    // Pipes: big 1/2 (2 s) ∥ big 2/2 (2 s); small (1 s) after → data ends at 3 s. big_pkey: 0.4 s scan + 1 s write from 2 s.
    const at = (label: string) => sim.segments.find((s) => s.label === label)!;
    close(at('big_pkey').start, 2);
    close(at('big_pkey').end, 3.4);
    close(at('small_pkey').start, 3.4); // one builder: waits for big_pkey
    close(sim.dataSeconds, 3);
    close(sim.seconds, 3.4 + 0.1 + 0.5);
    expect(sim.criticalPath.map((s) => s.label)).toEqual(['chunk 1/2', 'big_pkey', 'small_pkey']);
  });

  it('validates foreign keys only once all data is in and the referenced key is built', async () => {
    const [users, orders, logs] = [table('users', 100 * MB), table('orders', 100 * MB), table('logs', 500 * MB)];
    const sim = await simulateDataPhase(
      {
        tables: [users, orders, logs].map(model),
        chunks: [...chunks(users), ...chunks(orders), ...chunks(logs)],
        builds: [index('users', 'users_pkey', true), fk('orders', 'users', 'orders_user_fk')],
        indexBytes: {},
        jobs: 2,
        indexJobs: 2,
      },
      RATES,
    );
    const fkSeg = sim.segments.find((s) => s.kind === 'foreign key')!;
    close(sim.dataSeconds, 5); // logs alone on one pipe
    expect(fkSeg.start).toBeGreaterThanOrEqual(5 - 1e-9);
    // (orders heap + 2 × users heap) / scan rate
    close(fkSeg.end - fkSeg.start, 0.3);
    expect(sim.criticalPath.map((s) => s.table)).toEqual(['public.logs', 'public.orders']);
  });

  it('an index sampled by the probe is scaled from its own sample (per row), not from a generic write rate', () => {
    // A collated text key sorts far slower than the probe's ordered bigint: same index bytes, 10× the time.
    const t = { ...model(table('t', 100 * MB, { rows: 1_048_576 })) };
    const tables = new Map([[t.key, t]]);
    const ix = index('t', 't_email_key', true);
    const generic = buildSeconds(ix, tables, { [indexKey('public', 't_email_key')]: 50 * MB }, RATES);
    close(generic, 0.1 + 0.5); // 100 MB scan at 1000 MB/s + 50 MB written at 100 MB/s
    // Sampled: 1,024 rows in 0.01 s; the table has 1,024× the rows, and a sort of 2^20 rows costs log2(2^20) /
    // log2(2^10) = 2× more per row than one of 2^10 (n·log n): 0.01 × 1,024 × 2.
    const sample = { seconds: 0.01, rows: 1024, heapBytes: 100_000, indexBytes: 50_000 };
    close(scaleIndexSample(sample, t), 20.48);
    close(buildSeconds(ix, tables, {}, { ...RATES, perIndex: { [indexKey('public', 't_email_key')]: sample } }), 20.48);
    // A table never analyzed (no row count): scaled by heap bytes instead (1,000× the sample's).
    close(scaleIndexSample(sample, { ...t, rows: -1 }), 10 * (Math.log2(1024 * 1000) / 10));
    // A table no bigger than its sample: as measured.
    close(scaleIndexSample(sample, { ...t, rows: 1024 }), 0.01);
  });

  it("a foreign key validation costs the rows of both tables at the probe's anti-join rate when measured", () => {
    const [child, parent] = [model(table('child', 10 * MB, { rows: 200_000 })), model(table('parent', 50 * MB, { rows: 1_000_000 }))];
    const tables = new Map([child, parent].map((t) => [t.key, t] as const));
    const j = fk('child', 'parent', 'child_parent_fk');
    close(buildSeconds(j, tables, {}, RATES), (10 * MB + 2 * 50 * MB) / (1000 * MB));
    close(buildSeconds(j, tables, {}, { ...RATES, foreignKeyRows: 1e6 }), 1.2);
    // The probe's rate was measured hashing 40k rows; the real check hashes the 1M referenced rows, out of the
    // CPU's caches: each row costs (1M / 40k)^0.15 ≈ 1.62× more.
    close(buildSeconds(j, tables, {}, { ...RATES, foreignKeyRows: 1e6, foreignKeySampleRows: 40_000 }), 1.2 * 25 ** 0.15);
    close(hashGrowth(1e6, 40_000), 25 ** 0.15);
    close(hashGrowth(30_000, 40_000), 1); // smaller than the sample: as measured
    close(hashGrowth(1e12, 40_000), 4); // bounded
  });

  it('index builds with parallel maintenance workers use that many cores: faster alone, shared when two run', async () => {
    // 100 MB heap: the target gives each build 2 workers (3 processes); capacity 2 cores. The probe timed the
    // sample in one process: alone a build gets both cores (twice as fast); two at once get one core each.
    const big = table('big', 100 * MB);
    const input = (builds: BuildJob[]) => ({ tables: [model(big)], chunks: chunks(big), builds, indexBytes: {}, jobs: 1, indexJobs: 2 });
    const pm = { maxWorkers: 2, minPages: 1024 };
    const one = await simulateDataPhase(input([index('big', 'a')]), { ...RATES, capacity: 2, parallelMaintenance: pm });
    const two = await simulateDataPhase(input([index('big', 'a'), index('big', 'b')]), { ...RATES, capacity: 2, parallelMaintenance: pm });
    const len = (sim: typeof one, label: string) => sim.segments.find((s) => s.label === label)!.end - sim.segments.find((s) => s.label === label)!.start;
    close(len(one, 'a'), 0.05); // 100 MB scan at 1000 MB/s, on 2 cores
    close(len(two, 'a'), 0.1);
    close(len(two, 'b'), 0.1);
    // Without parallel maintenance workers (or a heap below min_parallel_table_scan_size) each takes one core.
    const serial = await simulateDataPhase(input([index('big', 'a'), index('big', 'b')]), {
      ...RATES,
      capacity: 2,
      parallelMaintenance: { maxWorkers: 0, minPages: 1024 },
    });
    close(len(serial, 'a'), 0.1);
    expect(indexWorkers(100 * MB, { maxWorkers: 2, minPages: 1024 })).toBe(2);
    expect(indexWorkers(30 * MB, { maxWorkers: 4, minPages: 1024 })).toBe(2); // 3662 pages: past 3 × 1024 once
    expect(indexWorkers(4 * MB, { maxWorkers: 2, minPages: 1024 })).toBe(0);
  });

  it('a build gains what the probe measured its parallel workers to gain, not a core per process', async () => {
    // The probe saw a sample build with 2 workers (3 processes) run only 1.25× as fast as in one process: the
    // leader merges and writes the index alone. Alone on 2 cores the whole build gains that, not 2×.
    const big = table('big', 100 * MB);
    const input = { tables: [model(big)], chunks: chunks(big), builds: [index('big', 'a')], indexBytes: {}, jobs: 1, indexJobs: 2 };
    const pm = { maxWorkers: 2, minPages: 1024 };
    const sim = await simulateDataPhase(input, { ...RATES, capacity: 2, parallelMaintenance: pm, parallelBuild: { processes: 3, speedup: 1.25 } });
    const a = sim.segments.find((s) => s.label === 'a')!;
    close(a.end - a.start, 0.1 / 1.25); // 100 MB scan at 1000 MB/s in one process, 1.25× with workers
    // Other worker counts follow Amdahl's law from the measured point: serial share (3 / 1.25 − 1) / 2 = 0.7.
    close(parallelGain(2, { processes: 3, speedup: 1.25 }), 1 / (0.7 + 0.3 / 2));
    close(parallelGain(3, { processes: 3, speedup: 1.25 }), 1.25);
    // Workers that gained nothing (or cost time): no gain; unmeasured: a core per process.
    close(parallelGain(3, { processes: 3, speedup: 0.9 }), 1);
    close(parallelGain(3, undefined), 3);
    close(parallelGain(1, { processes: 3, speedup: 1.25 }), 1);
  });

  it('per-table measured rates override the format rate', async () => {
    const t = table('t', 100 * MB);
    const sim = await simulateDataPhase(
      { tables: [model(t)], chunks: chunks(t), builds: [], indexBytes: {}, jobs: 1, indexJobs: 1 },
      { ...RATES, perTable: { [key('t')]: 50 * MB } },
    );
    close(sim.seconds, 2);
  });
});

describe('estimate: whole copy model', () => {
  const sizes: PlanSizes = { indexBytes: {}, schemaObjects: 10, postDataObjects: 4, largeObjectBytes: 0, matviewBytes: [] };
  const plan = (tables: TableInfo[], extra: Partial<PlanLike> = {}): PlanLike => ({
    tables,
    data: tables,
    chunks: tables.flatMap((t) => chunks(t)),
    builds: { jobs: [], ownOids: new Set(), ownComments: new Set() },
    sequences: [],
    matviews: [],
    largeObjects: [],
    ...extra,
  });

  it('phases follow copy order and add up to the total', async () => {
    const m = await modelCopy(plan([table('a', 200 * MB), table('b', 100 * MB)]), sizes, RATES, { jobs: 2, indexJobs: 2 });
    expect(m.phases.map((p) => p.name)).toEqual(['schema', 'data', 'indexes and constraints', 'large objects', 'materialized views', 'sequences', 'analyze']);
    close(
      m.phases.reduce((s, p) => s + p.seconds, 0),
      m.seconds,
    );
    close(m.phases[1]!.seconds, 2);
    for (let i = 1; i < m.phases.length; i++) close(m.phases[i]!.start, m.phases[i - 1]!.start + m.phases[i - 1]!.seconds);
    expect(m.bytes).toBe(300 * MB);
  });

  it('text tables copy at the text rate, binary ones at the binary rate', async () => {
    const rates = { ...RATES, copy: { text: 50 * MB, binary: 100 * MB } };
    const text = await modelCopy(plan([table('t', 100 * MB, { binary: false })]), sizes, rates, { jobs: 1, indexJobs: 1 });
    const bin = await modelCopy(plan([table('t', 100 * MB, { binary: true })]), sizes, rates, { jobs: 1, indexJobs: 1 });
    close(text.phases[1]!.seconds, 2);
    close(bin.phases[1]!.seconds, 1);
  });

  it('many small tables are dominated by fixed costs, not bytes', async () => {
    const many = Array.from({ length: 500 }, (_, i) => table(`t${i}`, 10_000));
    // (No source round trip to share: batching small tables' COPYs is checked in estimate-latency.test.ts.)
    const m = await modelCopy(plan(many), { ...sizes, schemaObjects: 1000 }, { ...RATES, chunkOverhead: 0.005, sourceRoundTrip: 0 }, { jobs: 2, indexJobs: 2 });
    close(m.phases[1]!.seconds, (500 * (0.005 + 10_000 / (100 * MB))) / 2);
    expect(m.phases[0]!.seconds).toBeGreaterThan(1000 * RATES.schema.perObject);
  });

  it("--analyze overlap (copy's default): ANALYZE runs on the builders once a table's indexes are in, not as a phase at the end", async () => {
    // Two tables with an index each; one builder. Copy hands its builders one ANALYZE per plain table
    // (analyzeJobs): the end phase only opens copy's analyze connection.
    const [a, b] = [table('a', 200 * MB, { rows: 100_000 }), table('b', 100 * MB, { rows: 100_000 })];
    const builds = { jobs: [index('a', 'a_pkey', true), index('b', 'b_pkey', true)], ownOids: new Set<number>(), ownComments: new Set<string>() };
    const rates = { ...RATES, connect: 0.01, analyze: { perTable: 0.1, perValue: 0 } };
    const overlap = await modelCopy(plan([a, b], { builds }), sizes, rates, { jobs: 2, indexJobs: 1 });
    const analyses = overlap.data.segments.filter((s) => s.kind === 'analyze');
    expect(analyses.map((s) => s.table).sort()).toEqual(['public.a', 'public.b']);
    const pkey = overlap.data.segments.find((s) => s.label === 'a_pkey')!;
    expect(analyses.find((s) => s.table === 'public.a')!.start).toBeGreaterThanOrEqual(pkey.end - 1e-9);
    close(overlap.phases.find((p) => p.name === 'analyze')!.seconds, 0.01);
    // --analyze end: every table analyzed after everything, on --index-jobs connections.
    const end = await modelCopy(plan([a, b], { builds }), sizes, rates, { jobs: 2, indexJobs: 1, analyze: 'end' });
    expect(end.data.segments.some((s) => s.kind === 'analyze')).toBe(false);
    expect(end.phases.find((p) => p.name === 'analyze')!.seconds).toBeGreaterThan(0.2);
    const none = await modelCopy(plan([a, b], { builds }), sizes, rates, { jobs: 2, indexJobs: 1, analyze: 'none' });
    close(none.phases.find((p) => p.name === 'analyze')!.seconds, 0);
  });

  it("copy's setup queries on the source cost a round trip each: a slow link lengthens the schema phase", async () => {
    const near = await modelCopy(plan([table('a', 100 * MB)]), sizes, { ...RATES, sourceRoundTrip: 0.0002 }, { jobs: 1, indexJobs: 1 });
    const far = await modelCopy(plan([table('a', 100 * MB)]), sizes, { ...RATES, sourceRoundTrip: 0.0502 }, { jobs: 1, indexJobs: 1 });
    close(far.phases[0]!.seconds - near.phases[0]!.seconds, COPY_SOURCE_ROUND_TRIPS * 0.05);
    expect(COPY_SOURCE_ROUND_TRIPS).toBeGreaterThanOrEqual(8);
  });

  it('list scheduling: the longest tasks first, each to the first free connection', () => {
    expect(listSchedule([3, 3, 2, 2, 2], 2)).toBe(7); // greedy, as workers take from a queue
    expect(listSchedule([5, 1, 1], 4)).toBe(5);
    expect(listSchedule([], 2)).toBe(0);
  });
});

describe('estimate: replicate finish', () => {
  it('foreign-key re-checks run --index-jobs at once; keys added NOT VALID on the source are never checked', () => {
    const [users, orders, posts] = [model(table('users', 100 * MB)), model(table('orders', 100 * MB)), model(table('posts', 100 * MB))];
    const validate = (t: string): BuildJob => ({
      ...fk(t, 'users', `${t}_user_fk`),
      validate: true,
      statements: [`ALTER TABLE ONLY public.${t} VALIDATE CONSTRAINT ${t}_user_fk`],
    });
    const addHalf = (t: string): BuildJob => ({
      ...fk(t, 'users', `${t}_user_fk`),
      statements: [`ALTER TABLE ONLY public.${t} ADD CONSTRAINT ${t}_user_fk FOREIGN KEY (u) REFERENCES public.users(id) NOT VALID`],
    });
    const plan = { builds: { jobs: [addHalf('orders'), validate('orders'), addHalf('posts'), validate('posts'), addHalf('logs')] } } as unknown as PlanLike;
    const one = buildSeconds(validate('orders'), new Map([users, orders, posts].map((t) => [t.key, t] as const)), {}, RATES);
    close(foreignKeySeconds(plan, [users, orders, posts], {}, RATES, 2), one);
    close(foreignKeySeconds(plan, [users, orders, posts], {}, RATES, 1), 2 * one);
  });
});
