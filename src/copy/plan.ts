// planCopy(): what a copy would do, read under the copy's snapshot and written nowhere — tables and exclusions,
// chunks largest first, the index/key/foreign-key builds pgshift runs itself, sequences, materialized views and
// large objects. `copy` executes it; `estimate` simulates it. Chunk cutting: whole tables when small; big ones
// by integer primary-key ranges (valid under any snapshot), else by heap page (ctid) ranges (valid only within
// the snapshot that planned them).
import type { Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { dataTables, listSequences, listTables, type SequenceInfo, type TableInfo } from '../catalog/tables.js';
import { compileFilter, requireIncludesMatched, type TableFilter } from '../catalog/filter.js';
import { tableKey } from '../catalog/table-id.js';
import { planExclusion } from '../schema/dependencies.js';
import { excludedTableOids, isExcludedRelation, type Excluded } from '../schema/filter.js';
import type { Chunk, CopyMode } from '../state/store.js';
import { listBuildJobs, type BuildPlan } from './builds.js';
import { populatedMatviews } from './finish.js';
import { listLargeObjects } from './largeobjects.js';

export type { Chunk, CopyMode } from '../state/store.js';

/** Defaults shared by the CLI, the library and estimate. */
export const COPY_DEFAULTS = { jobs: 2, indexJobs: 2, splitBytes: 512 * 1024 ** 2 } as const;
/** Below this, chunk bookkeeping costs more than the parallelism gains (and a typo like "64kB" plans 10⁶ chunks). */
export const MIN_SPLIT_BYTES = 1024 ** 2;

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

export interface CopyPlanOptions {
  mode: CopyMode;
  filter: Partial<TableFilter>;
  /** Tables larger than this (heap + TOAST bytes) are split into chunks; 0 disables splitting. */
  splitBytes: number;
  /** Parallel COPY jobs: a table holding more than 1/jobs of the data is split into at least `jobs` parts. */
  jobs?: number;
}

export interface CopyPlan {
  mode: CopyMode;
  filter: Partial<TableFilter>;
  /** Every table whose definition is copied (after --include/--exclude and their dependents). */
  tables: TableInfo[];
  /** Tables whose rows are copied (leaves; none in schema-only mode). */
  data: TableInfo[];
  excluded: Excluded;
  /** Largest first. */
  chunks: Chunk[];
  builds: BuildPlan;
  sequences: SequenceInfo[];
  /** Materialized views populated on the source (refreshed on the target). */
  matviews: { schema: string; name: string }[];
  largeObjects: number[];
}

/** Bytes a table's COPY reads: heap + TOAST. */
export const tableBytes = (t: TableInfo) => t.tableBytes + t.toastBytes;

/** The one "largest first" order (plans, chunk queues, verify). */
export function largestFirst<T>(items: T[], size: (x: T) => number): T[] {
  return [...items].sort((a, b) => size(b) - size(a));
}

/**
 * The order copy's workers take chunks in (and the estimate simulates): the largest table first, and within a
 * table its largest chunk first. (Tables that foreign keys point at first, so their keys build while the rest
 * loads, measured no faster on the mixed bench shape: 5.46–6.57 s against 5.29–5.87 s, three runs each.)
 */
export function chunkOrder(chunks: Chunk[]): Chunk[] {
  const perTable = new Map<string, number>();
  for (const c of chunks) perTable.set(tableKey(c), (perTable.get(tableKey(c)) ?? 0) + c.estBytes);
  return [...chunks].sort(
    (a, b) => perTable.get(tableKey(b))! - perTable.get(tableKey(a))! || tableKey(a).localeCompare(tableKey(b)) || b.estBytes - a.estBytes || a.chunk - b.chunk,
  );
}

/** The integer single-column primary key, if the table has one. */
export function integerKey(t: TableInfo): string | null {
  if (!t.primaryKey || t.primaryKey.length !== 1) return null;
  const col = t.columns.find((c) => c.name === t.primaryKey![0]);
  return col && INTEGER_TYPES.has(col.type) ? col.name : null;
}

/** Smallest table split only because it dominates the data (smaller ones copy fast enough whole, with FREEZE). */
const MIN_DOMINANT_SPLIT_BYTES = 64 * 1024 ** 2;

/** A split table's tail is cut finer so every job has work until the end (see taperedWeights). */
const MIN_TAIL_CHUNK_BYTES = 16 * 1024 ** 2;

/**
 * Relative chunk sizes for a table cut into n parts: n - 1 equal parts, then the last one halved again and
 * again (1/2, 1/4, 1/8, 1/8) while the pieces stay above MIN_TAIL_CHUNK_BYTES. The workers take a table's chunks
 * largest first, so the last ones handed out are small and no job runs alone for long at the end (the table's
 * key builds wait for its last chunk).
 */
export function taperedWeights(n: number, bytes: number): number[] {
  if (n < 2) return [1];
  const part = bytes / n;
  const tail = part / 8 >= MIN_TAIL_CHUNK_BYTES ? [0.5, 0.25, 0.125, 0.125] : part / 2 >= MIN_TAIL_CHUNK_BYTES ? [0.5, 0.5] : [1];
  return [...Array<number>(n - 1).fill(1), ...tail];
}

/** Split [min, max] into contiguous integer ranges [lo, hi) sized by `weights`; first open below, last open above. */
export function weightedRanges(min: bigint, max: bigint, weights: number[]): { lo: string | null; hi: string | null }[] {
  const span = max - min + 1n;
  const total = weights.reduce((a, b) => a + b, 0);
  const out: { lo: string | null; hi: string | null }[] = [{ lo: null, hi: null }];
  let acc = 0;
  let last = min;
  for (const w of weights.slice(0, -1)) {
    acc += w;
    // Fractions in parts per million: exact enough, and bigint arithmetic for any key range.
    const bound = min + (span * BigInt(Math.round((acc / total) * 1e6))) / 1_000_000n;
    if (bound <= last || bound > max) continue;
    out[out.length - 1]!.hi = bound.toString();
    out.push({ lo: bound.toString(), hi: null });
    last = bound;
  }
  return out;
}

/** Cut tables into chunks, largest tables first. Reads min/max on the snapshot connection so ranges match the data. */
export async function splitIntoChunks(snap: Client, tables: TableInfo[], splitBytes: number, jobs = 1): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  const total = tables.reduce((s, t) => s + tableBytes(t), 0);
  for (const t of largestFirst(tables, tableBytes)) {
    const bytes = tableBytes(t);
    // A dominant table below --split-larger-than would keep one job busy while the others idle.
    const dominant = jobs > 1 && bytes > total / jobs && bytes >= MIN_DOMINANT_SPLIT_BYTES;
    const n = splitBytes > 0 ? Math.max(Math.ceil(bytes / splitBytes), dominant ? jobs : 1) : 1;
    const base = { schema: t.schema, name: t.name };
    const whole = (): Chunk => ({ ...base, chunk: 0, chunks: 1, method: 'whole', lo: null, hi: null, estBytes: bytes });
    if (n <= 1) {
      chunks.push(whole());
      continue;
    }
    const key = integerKey(t);
    let ranges: { lo: string | null; hi: string | null }[];
    let method: Chunk['method'];
    const weights = taperedWeights(n, bytes);
    if (key) {
      const { rows } = await snap.query<{ lo: string | null; hi: string | null }>(
        `SELECT min(${quoteIdent(key)})::text AS lo, max(${quoteIdent(key)})::text AS hi FROM ONLY ${t.qualified}`,
      );
      if (rows[0]!.lo === null || rows[0]!.hi === null) {
        chunks.push(whole());
        continue;
      }
      ranges = weightedRanges(BigInt(rows[0]!.lo), BigInt(rows[0]!.hi), weights);
      method = 'pk';
    } else {
      // Page ranges of the heap; the last range is open-ended so pages added later are still read.
      const { rows } = await snap.query<{ pages: string }>(`SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int8 AS pages`, [
        t.oid,
      ]);
      ranges = weightedRanges(0n, BigInt(Math.max(0, Number(rows[0]!.pages) - 1)), weights);
      method = 'ctid';
    }
    // Estimates follow the weights when every range was kept (a tiny key span can merge some).
    const share = (i: number) => (ranges.length === weights.length ? weights[i]! / weights.reduce((a, b) => a + b, 0) : 1 / ranges.length);
    ranges.forEach((r, i) => chunks.push({ ...base, chunk: i, chunks: ranges.length, method, lo: r.lo, hi: r.hi, estBytes: Math.round(bytes * share(i)) }));
  }
  return chunks;
}

/** Read everything a copy needs to know, under the snapshot of `snap`. Writes nothing anywhere. */
export async function planCopy(snap: Client, opts: CopyPlanOptions): Promise<CopyPlan> {
  const allTables = await listTables(snap);
  const keep = compileFilter(opts.filter);
  requireIncludesMatched(
    opts.filter,
    allTables.filter((t) => keep(t.schema, t.name)),
    'copy',
  );
  // Views and materialized views follow the patterns too; whatever a copied object depends on must be copied.
  const { excluded } = await planExclusion(snap, allTables, keep, opts.mode !== 'data-only');
  const excludedOids = excludedTableOids(excluded, allTables);
  const tables = allTables.filter((t) => !excludedOids.has(t.oid));
  const data = opts.mode === 'schema-only' ? [] : dataTables(tables);
  // Sequences follow their tables: only those owned by an excluded table are left out. A partial --data-only
  // reload touches only what it names: the sequences owned by its tables, and no large objects.
  const partialReload = opts.mode === 'data-only' && Boolean(opts.filter.include?.length || opts.filter.exclude?.length);
  const loaded = new Set(data.map((t) => t.display));
  const sequences = (await listSequences(snap)).filter(
    (q) => !excluded.sequences.has(tableKey(q)) && (!partialReload || (q.ownedBy !== null && loaded.has(q.ownedBy))),
  );
  const chunks = await splitIntoChunks(snap, data, opts.splitBytes, opts.jobs);
  const builds = opts.mode === 'full' ? await listBuildJobs(snap, data) : { jobs: [], ownOids: new Set<number>(), ownComments: new Set<string>() };
  const matviews = opts.mode === 'full' ? (await populatedMatviews(snap)).filter((m) => !isExcludedRelation(excluded, m.schema, m.name)) : [];
  const largeObjects = opts.mode === 'schema-only' || partialReload ? [] : await listLargeObjects(snap);
  return { mode: opts.mode, filter: opts.filter, tables, data, excluded, chunks, builds, sequences, matviews, largeObjects };
}
