// Copy state in a `pgshift` schema on the TARGET: it survives the loss of the machine running pgshift, and every
// data chunk records itself in the same transaction as its rows (exactly once across SIGKILL + --resume).
import type { Client } from '../db/connect.js';

export const STATE_SCHEMA = 'pgshift';

const DDL = `
CREATE SCHEMA IF NOT EXISTS pgshift;
COMMENT ON SCHEMA pgshift IS 'pgshift migration state; safe to drop once the migration is over (pgshift cleanup)';
CREATE TABLE IF NOT EXISTS pgshift.copy_run (
  id            int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  started_at    timestamptz NOT NULL DEFAULT now(),
  resumed_at    timestamptz,
  finished_at   timestamptz,
  source        text NOT NULL,
  options       jsonb NOT NULL,
  schema_dump   bytea,
  steps         jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS pgshift.copy_chunk (
  table_schema  text NOT NULL,
  table_name    text NOT NULL,
  chunk         int NOT NULL,
  chunks        int NOT NULL,
  method        text NOT NULL,
  lo            text,
  hi            text,
  est_bytes     bigint NOT NULL,
  done_at       timestamptz,
  rows          bigint,
  bytes         bigint,
  PRIMARY KEY (table_schema, table_name, chunk)
);
CREATE TABLE IF NOT EXISTS pgshift.copy_index (
  table_schema  text NOT NULL,
  table_name    text NOT NULL,
  index_name    text NOT NULL,
  done_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_schema, index_name)
);`;

export type Step = 'preData' | 'data' | 'indexes' | 'postData' | 'largeObjects' | 'sequences' | 'matviews' | 'analyze';

export interface RunState {
  startedAt: Date;
  resumedAt: Date | null;
  finishedAt: Date | null;
  source: string;
  options: Record<string, unknown>;
  steps: Partial<Record<Step, string>>;
}

export interface ChunkRow {
  schema: string;
  table: string;
  chunk: number;
  chunks: number;
  method: 'whole' | 'pk' | 'ctid';
  lo: string | null;
  hi: string | null;
  estBytes: number;
  done: boolean;
}

export async function ensureStateSchema(target: Client): Promise<void> {
  await target.query(DDL);
}

export async function stateExists(target: Client): Promise<boolean> {
  const { rows } = await target.query(`SELECT to_regclass('pgshift.copy_run') IS NOT NULL AS ok`);
  return rows[0].ok;
}

export async function loadRun(target: Client): Promise<RunState | null> {
  if (!(await stateExists(target))) return null;
  const { rows } = await target.query(
    `SELECT started_at, resumed_at, finished_at, source, options, steps FROM pgshift.copy_run WHERE id = 1`,
  );
  const r = rows[0];
  if (!r) return null;
  return { startedAt: r.started_at, resumedAt: r.resumed_at, finishedAt: r.finished_at, source: r.source, options: r.options, steps: r.steps };
}

export async function createRun(target: Client, source: string, options: Record<string, unknown>): Promise<void> {
  await target.query(`DELETE FROM pgshift.copy_chunk`);
  await target.query(`DELETE FROM pgshift.copy_index`);
  await target.query(`DELETE FROM pgshift.copy_run`);
  await target.query(`INSERT INTO pgshift.copy_run (source, options) VALUES ($1, $2)`, [source, JSON.stringify(options)]);
}

export async function markResumed(target: Client): Promise<void> {
  await target.query(`UPDATE pgshift.copy_run SET resumed_at = now(), finished_at = NULL WHERE id = 1`);
}

export async function saveSchemaDump(target: Client, dump: Buffer): Promise<void> {
  await target.query(`UPDATE pgshift.copy_run SET schema_dump = $1 WHERE id = 1`, [dump]);
}

export async function loadSchemaDump(target: Client): Promise<Buffer | null> {
  const { rows } = await target.query(`SELECT schema_dump FROM pgshift.copy_run WHERE id = 1`);
  return rows[0]?.schema_dump ?? null;
}

export async function markStep(target: Client, step: Step): Promise<void> {
  await target.query(`UPDATE pgshift.copy_run SET steps = steps || jsonb_build_object($1::text, now()::text) WHERE id = 1`, [step]);
}

export async function markFinished(target: Client): Promise<void> {
  await target.query(`UPDATE pgshift.copy_run SET finished_at = now() WHERE id = 1`);
}

export async function saveChunks(target: Client, chunks: Omit<ChunkRow, 'done'>[]): Promise<void> {
  if (chunks.length === 0) return;
  await target.query(
    `INSERT INTO pgshift.copy_chunk (table_schema, table_name, chunk, chunks, method, lo, hi, est_bytes)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[], $8::bigint[])
     ON CONFLICT DO NOTHING`,
    [
      chunks.map((c) => c.schema),
      chunks.map((c) => c.table),
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
    `SELECT table_schema, table_name, chunk, chunks, method, lo, hi, est_bytes, done_at IS NOT NULL AS done
       FROM pgshift.copy_chunk ORDER BY table_schema, table_name, chunk`,
  );
  return rows.map((r) => ({
    schema: r.table_schema,
    table: r.table_name,
    chunk: r.chunk,
    chunks: r.chunks,
    method: r.method,
    lo: r.lo,
    hi: r.hi,
    estBytes: Number(r.est_bytes),
    done: r.done,
  }));
}

/** Called inside the chunk's own target transaction, after its COPY. */
export async function markChunkDone(target: Client, c: { schema: string; table: string; chunk: number }, rows: number, bytes: number): Promise<void> {
  await target.query(
    `UPDATE pgshift.copy_chunk SET done_at = now(), rows = $4, bytes = $5 WHERE table_schema = $1 AND table_name = $2 AND chunk = $3`,
    [c.schema, c.table, c.chunk, rows, bytes],
  );
}

export async function doneIndexes(target: Client): Promise<Set<string>> {
  const { rows } = await target.query(`SELECT table_schema, index_name FROM pgshift.copy_index`);
  return new Set(rows.map((r) => `${r.table_schema}.${r.index_name}`));
}

export async function markIndexDone(target: Client, schema: string, table: string, index: string): Promise<void> {
  await target.query(`INSERT INTO pgshift.copy_index (table_schema, table_name, index_name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [schema, table, index]);
}
