// Copy state in the `pgshift` schema on the TARGET: it survives the loss of the machine running pgshift, and every
// data chunk records itself in the same transaction as its rows (exactly once across SIGKILL + --resume).
// Tables are defined by the migrations in ./migrations.ts; what is read back is validated, not cast.
import { withTransaction, type Client } from '../db/connect.js';
import type { Statement } from '../db/pipelined.js';
import { tableKey, type TableId } from '../catalog/table-id.js';
import type { TableFilter } from '../catalog/filter.js';
import { PgshiftError } from '../errors.js';
import { migrateState, stateVersion } from './migrations.js';

export { STATE_SCHEMA } from '../catalog/system.js';

export type Step = 'preData' | 'data' | 'indexes' | 'postData' | 'largeObjects' | 'sequences' | 'matviews' | 'analyze';
export type CopyMode = 'full' | 'schema-only' | 'data-only';
export type ChunkMethod = 'whole' | 'pk' | 'ctid';

export interface RunOptions {
  mode: CopyMode;
  filter: Partial<TableFilter>;
  splitBytes: number;
  jobs: number;
  /** --keep-owner / --keep-acl of the first run (a resume restores the schema the same way); absent in old states. */
  keepOwner?: boolean;
  keepAcl?: boolean;
}

export interface RunState {
  startedAt: Date;
  resumedAt: Date | null;
  finishedAt: Date | null;
  /** The source URL as shown to people (password masked). */
  source: string;
  /** What the source URL identifies (host, port, database, user), when recorded. */
  sourceIdentity: Record<string, unknown> | null;
  options: RunOptions;
  steps: Partial<Record<Step, string>>;
}

export interface ChunkRow extends TableId {
  chunk: number;
  chunks: number;
  method: ChunkMethod;
  lo: string | null;
  hi: string | null;
  estBytes: number;
  done: boolean;
}

export type Chunk = Omit<ChunkRow, 'done'>;

function corrupt(what: string): PgshiftError {
  return new PgshiftError(`the pgshift state on the target is not readable (${what})`, {
    phase: 'state',
    hint: 'the state was changed by hand or by another tool: if no copy is running, pgshift cleanup --target … --force removes it; then copy into an emptied target',
  });
}

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

export function parseRunOptions(v: unknown): RunOptions {
  if (typeof v !== 'object' || v === null) throw corrupt('copy_run.options is not an object');
  const o = v as Record<string, unknown>;
  const mode = o.mode ?? 'full';
  if (mode !== 'full' && mode !== 'schema-only' && mode !== 'data-only') throw corrupt(`unknown mode ${String(mode)}`);
  const f = (o.filter ?? {}) as Record<string, unknown>;
  const include = f.include ?? [];
  const exclude = f.exclude ?? [];
  if (!strings(include) || !strings(exclude)) throw corrupt('copy_run.options.filter');
  const splitBytes = Number(o.splitBytes ?? 0);
  const jobs = Number(o.jobs ?? 1);
  if (!Number.isFinite(splitBytes) || !Number.isFinite(jobs)) throw corrupt('copy_run.options sizes');
  const flag = (v: unknown) => (v === undefined ? undefined : v === true);
  return { mode, filter: { include, exclude }, splitBytes, jobs, keepOwner: flag(o.keepOwner), keepAcl: flag(o.keepAcl) };
}

function parseChunkMethod(v: unknown): ChunkMethod {
  if (v === 'whole' || v === 'pk' || v === 'ctid') return v;
  throw corrupt(`unknown chunk method ${String(v)}`);
}

/** Create or migrate the state schema (the caller holds the run lock). */
export async function ensureStateSchema(target: Client): Promise<void> {
  await migrateState(target);
}

export async function loadRun(target: Client): Promise<RunState | null> {
  const version = await stateVersion(target);
  if (version === null) return null;
  // A run interrupted between creating the state schema and its first migration leaves no copy_run.
  const { rows: has } = await target.query<{ present: boolean }>(`SELECT to_regclass('pgshift.copy_run') IS NOT NULL AS present`);
  if (!has[0]!.present) return null;
  const identity = version >= 3 ? ', source_identity' : ', NULL::jsonb AS source_identity';
  const { rows } = await target.query(`SELECT started_at, resumed_at, finished_at, source, options, steps${identity} FROM pgshift.copy_run WHERE id = 1`);
  const r = rows[0];
  if (!r) return null;
  if (typeof r.source !== 'string') throw corrupt('copy_run.source');
  return {
    startedAt: r.started_at,
    resumedAt: r.resumed_at,
    finishedAt: r.finished_at,
    source: r.source,
    sourceIdentity: r.source_identity && typeof r.source_identity === 'object' ? r.source_identity : null,
    options: parseRunOptions(r.options),
    steps: r.steps && typeof r.steps === 'object' ? r.steps : {},
  };
}

export async function createRun(target: Client, source: string, sourceIdentity: Record<string, unknown>, options: RunOptions): Promise<void> {
  await target.query(`DELETE FROM pgshift.copy_chunk`);
  await target.query(`DELETE FROM pgshift.copy_index`);
  await target.query(`DELETE FROM pgshift.copy_table`);
  await target.query(`DELETE FROM pgshift.copy_toc`);
  await target.query(`DELETE FROM pgshift.copy_run`);
  await target.query(`INSERT INTO pgshift.copy_run (source, source_identity, options) VALUES ($1, $2, $3)`, [
    source,
    JSON.stringify(sourceIdentity),
    JSON.stringify(options),
  ]);
}

export async function markResumed(target: Client): Promise<void> {
  await target.query(`UPDATE pgshift.copy_run SET resumed_at = now(), finished_at = NULL WHERE id = 1`);
}

export async function saveSchemaDump(target: Client, dump: Buffer): Promise<void> {
  await target.query(`UPDATE pgshift.copy_run SET schema_dump = $1 WHERE id = 1`, [dump]);
}

export async function loadSchemaDump(target: Client): Promise<Buffer | null> {
  const { rows } = await target.query<{ schema_dump: Buffer | null }>(`SELECT schema_dump FROM pgshift.copy_run WHERE id = 1`);
  return rows[0]?.schema_dump ?? null;
}

export async function markStep(target: Client, step: Step): Promise<void> {
  await target.query(`UPDATE pgshift.copy_run SET steps = steps || jsonb_build_object($1::text, now()::text) WHERE id = 1`, [step]);
}

export async function markFinished(target: Client): Promise<void> {
  await target.query(`UPDATE pgshift.copy_run SET finished_at = now() WHERE id = 1`);
}

export async function saveChunks(target: Client, chunks: Chunk[]): Promise<void> {
  if (chunks.length === 0) return;
  await target.query(
    `INSERT INTO pgshift.copy_chunk (table_schema, table_name, chunk, chunks, method, lo, hi, est_bytes)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[], $8::bigint[])
     ON CONFLICT DO NOTHING`,
    [
      chunks.map((c) => c.schema),
      chunks.map((c) => c.name),
      chunks.map((c) => c.chunk),
      chunks.map((c) => c.chunks),
      chunks.map((c) => c.method),
      chunks.map((c) => c.lo),
      chunks.map((c) => c.hi),
      chunks.map((c) => c.estBytes),
    ],
  );
}

export async function loadChunks(target: Client): Promise<ChunkRow[]> {
  const { rows } = await target.query(
    `SELECT table_schema, table_name, chunk, chunks, method, lo, hi, est_bytes::int8::text AS est_bytes, done_at IS NOT NULL AS done
       FROM pgshift.copy_chunk ORDER BY table_schema, table_name, chunk`,
  );
  return rows.map((r) => ({
    schema: String(r.table_schema),
    name: String(r.table_name),
    chunk: Number(r.chunk),
    chunks: Number(r.chunks),
    method: parseChunkMethod(r.method),
    lo: r.lo === null ? null : String(r.lo),
    hi: r.hi === null ? null : String(r.hi),
    estBytes: Number(r.est_bytes),
    done: r.done === true,
  }));
}

/** The chunk's done mark: run inside the chunk's own target transaction, after its COPY (sent with its COMMIT). */
export function chunkDone(c: TableId & { chunk: number }, rows: number, bytes: number): Statement {
  return {
    text: `UPDATE pgshift.copy_chunk SET done_at = now(), rows = $4, bytes = $5 WHERE table_schema = $1 AND table_name = $2 AND chunk = $3`,
    values: [c.schema, c.name, c.chunk, rows, bytes],
  };
}

/**
 * A table whose page-range chunks were partly copied under another snapshot must be copied again whole: page
 * ranges only partition rows within one snapshot. Empties it and forgets its finished chunks, in one transaction.
 */
export async function resetTableChunks(target: Client, t: TableId, qualified: string): Promise<void> {
  await withTransaction(target, async () => {
    await target.query(`TRUNCATE ONLY ${qualified}`);
    await target.query(`UPDATE pgshift.copy_chunk SET done_at = NULL, rows = NULL, bytes = NULL WHERE table_schema = $1 AND table_name = $2`, [
      t.schema,
      t.name,
    ]);
  });
}

/** Keys (tableKey of {schema: index schema, name: index name}) of the indexes and keys already built. */
export async function doneIndexes(target: Client): Promise<Set<string>> {
  const { rows } = await target.query(`SELECT table_schema, index_name FROM pgshift.copy_index`);
  return new Set(rows.map((r) => tableKey({ schema: String(r.table_schema), name: String(r.index_name) })));
}

/** An index's (key's, foreign key's) done mark: run in the transaction that built it. */
export function indexDone(schema: string, table: string, index: string): Statement {
  return {
    text: `INSERT INTO pgshift.copy_index (table_schema, table_name, index_name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    values: [schema, table, index],
  };
}

/** Per-table change counters of the source, recorded when the data was planned. */
export async function saveSourceChanges(target: Client, counters: (TableId & { changes: number | null })[]): Promise<void> {
  if (counters.length === 0) return;
  await target.query(
    `INSERT INTO pgshift.copy_table (table_schema, table_name, source_changes)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[]) ON CONFLICT (table_schema, table_name) DO UPDATE SET source_changes = EXCLUDED.source_changes`,
    [counters.map((c) => c.schema), counters.map((c) => c.name), counters.map((c) => c.changes)],
  );
}

export async function loadSourceChanges(target: Client): Promise<Map<string, number | null>> {
  const { rows } = await target.query(`SELECT table_schema, table_name, source_changes::text AS n FROM pgshift.copy_table`);
  return new Map(rows.map((r) => [tableKey({ schema: String(r.table_schema), name: String(r.table_name) }), r.n === null ? null : Number(r.n)]));
}

/** Dump ids (TOC entries of the kept schema dump) already restored on the target. */
export async function doneTocEntries(target: Client): Promise<Set<number>> {
  const { rows } = await target.query<{ dump_id: number }>(`SELECT dump_id FROM pgshift.copy_toc`);
  return new Set(rows.map((r) => r.dump_id));
}

/** Called inside the transaction that restored these entries. */
export async function markTocEntriesDone(target: Client, section: string, dumpIds: number[]): Promise<void> {
  const s = tocEntriesDone(section, dumpIds);
  await target.query(s.text, s.values);
}

/** The same mark as a statement, to be pipelined with its COMMIT (one round trip). */
export function tocEntriesDone(section: string, dumpIds: number[]): Statement {
  return {
    text: `INSERT INTO pgshift.copy_toc (dump_id, section) SELECT unnest($1::int[]), $2 ON CONFLICT DO NOTHING`,
    values: [`{${dumpIds.map((id) => String(Math.trunc(id))).join(',')}}`, section],
  };
}
