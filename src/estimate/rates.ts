// The rates the estimate model runs on: measured by the probe (calibrated) or stated defaults (uncalibrated).
// Every rate is per connection at full speed, i.e. with nothing else competing; `contention` says how much
// activities running at the same time slow each other (the probe measures it by running them together), and
// `capacity` how many pipes the pair runs at full speed at once.

export interface Rates {
  /** Source table bytes (heap + TOAST on disk) one COPY pipe moves per second, by COPY format. */
  copy: { text: number; binary: number };
  /** Measured for particular tables (tableKey → bytes/s); other tables use `copy` by their format. */
  perTable: Record<string, number>;
  /** Fixed cost of one chunk: BEGIN, TRUNCATE, COPY start, state row, COMMIT (seconds). */
  chunkOverhead: number;
  /**
   * A whole-table chunk's COMMIT waits for the WAL its rows wrote to be flushed (its TRUNCATE drops files, and such
   * a commit flushes at once): the probe's commit after `bytes` of source rows took `seconds` longer than an empty
   * one. Absent: not measured (uncalibrated), nothing is added.
   */
  commitFlush?: { bytes: number; seconds: number };
  /** Opening one connection (TLS, authentication), seconds. */
  connect: number;
  /** Heap bytes an index build or a key check scans per second. */
  scan: number;
  /** Index bytes an index build sorts and writes per second (after its scan). */
  indexWrite: number;
  /**
   * Indexes built on a sample of their own table by the probe (indexKey → net seconds, sample rows and heap
   * bytes): scaled to the whole table (simulate.ts buildSeconds). Other indexes use scan + indexWrite.
   */
  perIndex: Record<string, { seconds: number; rows: number; heapBytes: number; indexBytes: number }>;
  /** Rows (both sides) per second a foreign key's validation anti-join processes; absent: modelled from scans. */
  foreignKeyRows?: number;
  /** Rows of the sample that anti-join hashed: a bigger hash costs more per row (simulate.ts foreignKeySeconds). */
  foreignKeySampleRows?: number;
  /** Fixed cost of one index or key build (catalog updates, state row, commit), seconds. */
  buildOverhead: number;
  /** Bytes per second one verify connection hashes on one side. */
  verifyHash: number;
  /** Large-object bytes per second (lo_get / lo_put slices) and the fixed cost per object. */
  largeObject: number;
  largeObjectOverhead: number;
  /** The target's max_parallel_maintenance_workers and min_parallel_table_scan_size (pages): an index build's workers. */
  parallelMaintenance: { maxWorkers: number; minPages: number };
  /**
   * Measured by the probe: one sample index build run with `processes` (leader + parallel maintenance workers)
   * ran `speedup` times as fast as in one process. Absent: a build gains a core per process (up to the cores).
   */
  parallelBuild?: { processes: number; speedup: number };
  /** How many COPY pipes run at full speed at once before they slow each other (the probe's --jobs pipes). */
  capacity: number;
  /** How running activities slow each other, by kind (see Contention); absent: 1 / capacity for every pair of kinds. */
  contention?: Contention;
  /** Schema: pg_dump --schema-only, the pre-data and post-data restores (base + per object). */
  schema: { dumpBase: number; restoreBase: number; perObject: number };
  /** ANALYZE: fixed cost per table, and seconds per sampled value (sampled rows × columns; ≤ 30,000 rows). */
  analyze: { perTable: number; perValue: number };
  /** Snapshot, plan and control connections before the data starts (base + per table). */
  setup: { base: number; perTable: number };
  /** One round trip to the target, seconds (copy's preflight and state writes are a few dozen). */
  roundTrip: number;
  /** One round trip to the source, seconds: copy's setup queries there, outside the plan estimate times itself. */
  sourceRoundTrip: number;
  /** One small DDL statement committed on the target (the state schema's migrations), seconds. */
  ddl: number;
  /** copy's emptiness check of the target catalog, seconds. */
  preflight: number;
}

/** What the simulation tells apart when activities overlap: COPY pipes, and builds on the target (index, key, ANALYZE). */
export type ActivityKind = 'copy' | 'build';

/**
 * load[k][l]: the share of what an activity of kind k needs that one running activity of kind l takes (cores of
 * both servers and the client, disk). An activity of kind k runs max(1, the sum of load[k][·] over everything
 * running, itself included) times slower than alone. Measured by the probe from pairs run at once: two of kind k
 * slowed s× each → load[k][k] = s / 2; k beside l slowed s× → load[k][l] = s − load[k][k].
 */
export type Contention = Record<ActivityKind, Record<ActivityKind, number>>;

/** The contention `rates` imply: measured, or every pair of kinds alike from the pipes' capacity. */
export function contentionOf(r: Pick<Rates, 'capacity' | 'contention'>): Contention {
  if (r.contention) return r.contention;
  const l = 1 / Math.max(1e-6, r.capacity);
  return { copy: { copy: l, build: l }, build: { copy: l, build: l } };
}

/**
 * Stated defaults: measured on this project's 2-core machine with both servers local (bench/estimate.ts), used
 * for everything the probe cannot see and, without --target, for the target side. They describe a fast local
 * pair; a remote target over a network is usually slower, hence the wide uncalibrated range.
 */
export const DEFAULT_RATES: Rates = {
  copy: { text: 60e6, binary: 90e6 },
  perTable: {},
  perIndex: {},
  chunkOverhead: 0.004,
  connect: 0.02,
  scan: 400e6,
  indexWrite: 40e6,
  buildOverhead: 0.01,
  verifyHash: 150e6,
  largeObject: 30e6,
  largeObjectOverhead: 0.004,
  capacity: 2,
  parallelMaintenance: { maxWorkers: 2, minPages: 1024 },
  schema: { dumpBase: 0.35, restoreBase: 0.03, perObject: 0.0025 },
  analyze: { perTable: 0.004, perValue: 0.5e-6 },
  setup: { base: 0.08, perTable: 0.0008 },
  roundTrip: 0.0005,
  sourceRoundTrip: 0.0005,
  ddl: 0.005,
  preflight: 0.02,
};

/** Rates scaled for the low/high ends of the range: data-moving rates by `factor`, fixed costs inversely. */
export function scaleRates(r: Rates, factor: number): Rates {
  const per = Object.fromEntries(Object.entries(r.perTable).map(([k, v]) => [k, v * factor]));
  return {
    ...r,
    copy: { text: r.copy.text * factor, binary: r.copy.binary * factor },
    perTable: per,
    perIndex: Object.fromEntries(Object.entries(r.perIndex).map(([k, v]) => [k, { ...v, seconds: v.seconds / factor }])),
    ...(r.foreignKeyRows ? { foreignKeyRows: r.foreignKeyRows * factor } : {}),
    chunkOverhead: r.chunkOverhead / factor,
    ...(r.commitFlush ? { commitFlush: { ...r.commitFlush, seconds: r.commitFlush.seconds / factor } } : {}),
    scan: r.scan * factor,
    indexWrite: r.indexWrite * factor,
    buildOverhead: r.buildOverhead / factor,
    verifyHash: r.verifyHash * factor,
    largeObject: r.largeObject * factor,
    largeObjectOverhead: r.largeObjectOverhead / factor,
    schema: { dumpBase: r.schema.dumpBase / factor, restoreBase: r.schema.restoreBase / factor, perObject: r.schema.perObject / factor },
    analyze: { perTable: r.analyze.perTable / factor, perValue: r.analyze.perValue / factor },
    setup: { base: r.setup.base / factor, perTable: r.setup.perTable / factor },
    roundTrip: r.roundTrip / factor,
    sourceRoundTrip: r.sourceRoundTrip / factor,
    ddl: r.ddl / factor,
    preflight: r.preflight / factor,
  };
}

const usable = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= min;

/**
 * Rates the model can run on: a measured rate that is not a positive finite number (a sample that read no rows,
 * a timing of zero on a coarse clock) or a fixed cost that is negative or infinite would stall the simulation
 * (a step of infinite length never ends; NaN never compares). Each such value is replaced by its stated default, and named in `replaced`.
 */
export function usableRates(r: Rates): { rates: Rates; replaced: string[] } {
  const replaced: string[] = [];
  const d = DEFAULT_RATES;
  const pick = (name: string, v: number, fallback: number, min: number) => (usable(v, min) ? v : (replaced.push(name), fallback));
  // Below one byte (or row) per second is no measurement: sizes divided by it overflow.
  const rate = (name: string, v: number, fallback: number) => pick(name, v, fallback, 1);
  const cost = (name: string, v: number, fallback: number) => pick(name, v, fallback, 0);
  const perTable = Object.fromEntries(Object.entries(r.perTable).filter(([k, v]) => usable(v, 1) || (replaced.push(`perTable ${k}`), false)));
  const perIndex = Object.fromEntries(
    Object.entries(r.perIndex).filter(
      ([k, m]) => (usable(m.seconds, 0) && usable(m.rows, 0) && usable(m.heapBytes, 0) && usable(m.indexBytes, 0)) || (replaced.push(`perIndex ${k}`), false),
    ),
  );
  let contention = r.contention;
  if (contention && !(['copy', 'build'] as const).every((a) => (['copy', 'build'] as const).every((b) => usable(contention![a][b], 0)))) {
    replaced.push('contention');
    contention = undefined;
  }
  const out: Rates = {
    ...r,
    copy: { text: rate('copy.text', r.copy.text, d.copy.text), binary: rate('copy.binary', r.copy.binary, d.copy.binary) },
    perTable,
    perIndex,
    chunkOverhead: cost('chunkOverhead', r.chunkOverhead, d.chunkOverhead),
    connect: cost('connect', r.connect, d.connect),
    scan: rate('scan', r.scan, d.scan),
    indexWrite: rate('indexWrite', r.indexWrite, d.indexWrite),
    buildOverhead: cost('buildOverhead', r.buildOverhead, d.buildOverhead),
    verifyHash: rate('verifyHash', r.verifyHash, d.verifyHash),
    largeObject: rate('largeObject', r.largeObject, d.largeObject),
    largeObjectOverhead: cost('largeObjectOverhead', r.largeObjectOverhead, d.largeObjectOverhead),
    capacity: pick('capacity', r.capacity, d.capacity, 1),
    analyze: {
      perTable: cost('analyze.perTable', r.analyze.perTable, d.analyze.perTable),
      perValue: cost('analyze.perValue', r.analyze.perValue, d.analyze.perValue),
    },
    roundTrip: cost('roundTrip', r.roundTrip, d.roundTrip),
    sourceRoundTrip: cost('sourceRoundTrip', r.sourceRoundTrip, d.sourceRoundTrip),
    ddl: cost('ddl', r.ddl, d.ddl),
    preflight: cost('preflight', r.preflight, d.preflight),
  };
  if (contention) out.contention = contention;
  else delete out.contention;
  if (r.foreignKeyRows !== undefined && !(usable(r.foreignKeyRows, 1) && usable(r.foreignKeySampleRows, 0))) {
    replaced.push('foreignKeyRows');
    delete out.foreignKeyRows;
    delete out.foreignKeySampleRows;
  }
  if (r.commitFlush !== undefined && !(usable(r.commitFlush.bytes, 1) && usable(r.commitFlush.seconds, 0))) {
    replaced.push('commitFlush');
    delete out.commitFlush;
  }
  if (r.parallelBuild && !(usable(r.parallelBuild.speedup, 0.01) && usable(r.parallelBuild.processes, 1))) {
    replaced.push('parallelBuild');
    delete out.parallelBuild;
  }
  return { rates: out, replaced };
}
