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

/** The integer single-column primary key, if the table has one. */
export function integerKey(t: TableInfo): string | null {
  if (!t.primaryKey || t.primaryKey.length !== 1) return null;
  const col = t.columns.find((c) => c.name === t.primaryKey![0]);
  return col && INTEGER_TYPES.has(col.type) ? col.name : null;
}

/** Split [min, max] into n contiguous integer ranges [lo, hi). The first is open below, the last open above. */
export function keyRanges(min: bigint, max: bigint, n: number): { lo: string | null; hi: string | null }[] {
  const span = max - min + 1n;
  const parts = BigInt(Math.max(1, Math.min(n, Number(span > 1_000_000_000n ? 1_000_000_000n : span))));
  const step = (span + parts - 1n) / parts;
  const out: { lo: string | null; hi: string | null }[] = [];
  for (let i = 0n; i < parts; i++) {
    const lo = min + i * step;
    if (lo > max) break;
    out.push({ lo: i === 0n ? null : lo.toString(), hi: null });
  }
  for (let i = 0; i < out.length - 1; i++) out[i]!.hi = out[i + 1]!.lo;
  return out;
}

/** Cut tables into chunks, largest tables first. Reads min/max on the snapshot connection so ranges match the data. */
export async function splitIntoChunks(snap: Client, tables: TableInfo[], splitBytes: number): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  for (const t of largestFirst(tables, tableBytes)) {
    const bytes = tableBytes(t);
    const n = splitBytes > 0 ? Math.ceil(bytes / splitBytes) : 1;
    const base = { schema: t.schema, name: t.name };
    const whole = (): Chunk => ({ ...base, chunk: 0, chunks: 1, method: 'whole', lo: null, hi: null, estBytes: bytes });
    if (n <= 1) {
      chunks.push(whole());
      continue;
    }
    const key = integerKey(t);
    let ranges: { lo: string | null; hi: string | null }[];
    let method: Chunk['method'];
    if (key) {
      const { rows } = await snap.query<{ lo: string | null; hi: string | null }>(
        `SELECT min(${quoteIdent(key)})::text AS lo, max(${quoteIdent(key)})::text AS hi FROM ONLY ${t.qualified}`,
      );
      if (rows[0]!.lo === null || rows[0]!.hi === null) {
        chunks.push(whole());
        continue;
      }
      ranges = keyRanges(BigInt(rows[0]!.lo), BigInt(rows[0]!.hi), n);
      method = 'pk';
    } else {
      // Page ranges of the heap; the last range is open-ended so pages added later are still read.
      const { rows } = await snap.query<{ pages: string }>(`SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int8 AS pages`, [t.oid]);
      ranges = keyRanges(0n, BigInt(Math.max(0, Number(rows[0]!.pages) - 1)), n);
      method = 'ctid';
    }
    ranges.forEach((r, i) => chunks.push({ ...base, chunk: i, chunks: ranges.length, method, lo: r.lo, hi: r.hi, estBytes: Math.round(bytes / ranges.length) }));
  }
  return chunks;
}

/** Read everything a copy needs to know, under the snapshot of `snap`. Writes nothing anywhere. */
export async function planCopy(snap: Client, opts: CopyPlanOptions): Promise<CopyPlan> {
  const allTables = await listTables(snap);
  const keep = compileFilter(opts.filter);
  requireIncludesMatched(opts.filter, allTables.filter((t) => keep(t.schema, t.name)), 'copy');
  // Views and materialized views follow the patterns too; whatever a copied object depends on must be copied.
  const { excluded } = await planExclusion(snap, allTables, keep, opts.mode !== 'data-only');
  const excludedOids = excludedTableOids(excluded, allTables);
  const tables = allTables.filter((t) => !excludedOids.has(t.oid));
  const data = opts.mode === 'schema-only' ? [] : dataTables(tables);
  // Sequences follow their tables: only those owned by an excluded table are left out. A partial --data-only
  // reload touches only what it names: the sequences owned by its tables, and no large objects.
  const partialReload = opts.mode === 'data-only' && Boolean(opts.filter.include?.length || opts.filter.exclude?.length);
  const loaded = new Set(data.map((t) => t.display));
  const sequences = (await listSequences(snap)).filter((q) => !excluded.sequences.has(tableKey(q)) && (!partialReload || (q.ownedBy !== null && loaded.has(q.ownedBy))));
  const chunks = await splitIntoChunks(snap, data, opts.splitBytes);
  const builds = opts.mode === 'full' ? await listBuildJobs(snap, data) : { jobs: [], ownOids: new Set<number>(), ownComments: new Set<string>() };
  const matviews = opts.mode === 'full' ? (await populatedMatviews(snap)).filter((m) => !isExcludedRelation(excluded, m.schema, m.name)) : [];
  const largeObjects = opts.mode === 'schema-only' || partialReload ? [] : await listLargeObjects(snap);
  return { mode: opts.mode, filter: opts.filter, tables, data, excluded, chunks, builds, sequences, matviews, largeObjects };
}
