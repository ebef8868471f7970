// Replication state on the TARGET (schema `pgshift`, beside the copy state), for both change sources. Tables come
// from the numbered state migrations (./migrations/: 005 replication and replication_switch, 006 capture, 007).
// - pgoutput: slot and publication names recorded BEFORE they are created (cleanup always finds them), the applied
//   position written in the same transaction as the changes it covers;
// - trigger capture: the capture recorded BEFORE it is installed on the source, and `applied_snapshot` — a
//   pg_snapshot of the source — written in the SAME target transaction as the changes it covers: every log row
//   whose transaction is visible in it is applied;
// - both: everything switched off on the target (replication_switch), so it is always restored.
// What is read back is validated, not cast (like the copy's state, store.ts): options recorded by the first run
// steer every later one.
import type { QueryConfig } from 'pg';
import { withTransaction, type Client } from '../db/connect.js';
import { PgshiftError } from '../errors.js';
import { APPLY_ROWS_BODY, APPLY_ROWS_FUNCTION } from '../replicate/apply/sql.js';
import type { CapturedTable } from '../replicate/triggers/install.js';
import { migrateState } from './migrations.js';
import { assertStateTrusted, lockDownState } from './trust.js';

function corrupt(table: string, what: string): PgshiftError {
  return new PgshiftError(`the pgshift state on the target is not readable (${table}: ${what})`, {
    phase: 'state',
    hint: 'the state was changed by hand or by another tool: pgshift cleanup --source … --target … removes this replication; then start again into an emptied target',
  });
}

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The table filter the first run recorded (include/exclude patterns), validated. */
function parseFilter(table: string, v: unknown): { include: string[]; exclude: string[] } {
  if (v === undefined || v === null) return { include: [], exclude: [] };
  if (typeof v !== 'object') throw corrupt(table, 'options.filter is not an object');
  const f = v as Record<string, unknown>;
  const include = f.include ?? [];
  const exclude = f.exclude ?? [];
  if (!strings(include) || !strings(exclude)) throw corrupt(table, 'options.filter');
  return { include, exclude };
}

/** Options the first run recorded; `filter` is always there (widened by later runs' --exclude). */
export type RecordedOptions = Record<string, unknown> & { filter: { include?: string[]; exclude?: string[] } };

function parseOptions(table: string, v: unknown): RecordedOptions {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt(table, 'options is not an object');
  const o = v as Record<string, unknown>;
  if (o.jobs !== undefined && !Number.isFinite(Number(o.jobs))) throw corrupt(table, 'options.jobs');
  for (const k of ['replicaIdentityFull', 'notReplicated']) if (o[k] !== undefined && !strings(o[k])) throw corrupt(table, `options.${k}`);
  if (o.marker !== undefined && typeof o.marker !== 'string') throw corrupt(table, 'options.marker');
  return { ...o, filter: parseFilter(table, o.filter) };
}

function parseTables(v: unknown): CapturedTable[] {
  const ok =
    Array.isArray(v) &&
    v.every(
      (t) =>
        typeof t === 'object' &&
        t !== null &&
        Number.isInteger((t as CapturedTable).oid) &&
        typeof (t as CapturedTable).schema === 'string' &&
        typeof (t as CapturedTable).name === 'string' &&
        ((t as CapturedTable).relkind === 'r' || (t as CapturedTable).relkind === 'p') &&
        ((t as CapturedTable).key === null || (t as CapturedTable).key === undefined || strings((t as CapturedTable).key)),
    );
  if (!ok) throw corrupt('capture', 'tables');
  return v as CapturedTable[];
}

// ---- pgoutput: pgshift.replication

export interface ReplicationState {
  source: string;
  slot: string;
  publication: string;
  options: RecordedOptions;
  startedAt: Date;
  consistentPoint: string | null;
  copyDone: boolean;
  appliedPosition: bigint | null;
  appliedCommitTime: Date | null;
}

export async function ensureReplicationState(c: Client): Promise<void> {
  await migrateState(c);
  // The function always matches the SQL this version generates: replaced unless its body is that already (the
  // state was checked and locked down just above, the function with it).
  const { rows } = await c.query(`SELECT prosrc FROM pg_catalog.pg_proc WHERE oid = pg_catalog.to_regprocedure('pgshift.apply_rows(text,text[])')`);
  if (rows[0]?.prosrc === APPLY_ROWS_BODY) return;
  await withTransaction(c, async () => {
    await c.query(APPLY_ROWS_FUNCTION);
    await lockDownState(c); // EXECUTE granted to PUBLIC (and by default privileges) on creation
  });
}

export async function loadReplication(c: Client): Promise<ReplicationState | null> {
  const { rows: present } = await c.query(`SELECT to_regclass('pgshift.replication') IS NOT NULL AS ok`);
  if (!present[0].ok) return null;
  // The slot and publication named here are dropped (and their walsenders ended) on the source by cleanup.
  await assertStateTrusted(c, 'the target');
  const { rows } = await c.query(
    `SELECT source, slot, publication, options, started_at, consistent_point, copy_done_at IS NOT NULL AS copy_done,
            applied_position::text AS applied_position, applied_commit_time FROM pgshift.replication WHERE id = 1`,
  );
  const r = rows[0];
  if (!r) return null;
  return {
    source: r.source,
    slot: r.slot,
    publication: r.publication,
    options: parseOptions('replication', r.options),
    startedAt: r.started_at,
    consistentPoint: r.consistent_point,
    copyDone: r.copy_done,
    appliedPosition: r.applied_position === null ? null : BigInt(r.applied_position),
    appliedCommitTime: r.applied_commit_time,
  };
}

export async function recordReplication(c: Client, r: { source: string; slot: string; publication: string; options: Record<string, unknown> }): Promise<void> {
  await c.query(`DELETE FROM pgshift.replication`);
  await c.query(`INSERT INTO pgshift.replication (source, slot, publication, options) VALUES ($1, $2, $3, $4)`, [
    r.source,
    r.slot,
    r.publication,
    JSON.stringify(r.options),
  ]);
}

export async function recordSlot(c: Client, consistentPoint: string): Promise<void> {
  await c.query(`UPDATE pgshift.replication SET consistent_point = $1, copy_done_at = NULL, applied_position = NULL WHERE id = 1`, [consistentPoint]);
}

/** The initial copy is complete: streaming starts at the slot's consistent point. */
export async function markCopyDone(c: Client, start: bigint): Promise<void> {
  await c.query(`UPDATE pgshift.replication SET copy_done_at = now(), applied_position = $1::numeric WHERE id = 1`, [start.toString()]);
}

/**
 * The statement that records the applied position, sent inside the batch's transaction before its COMMIT. It
 * writes one row only inside the transaction that set `pgshift.batch` to `batch` (transaction-local): run in
 * any other transaction — autocommit after a lost BEGIN — it writes nothing, and the applier stops.
 */
export function saveAppliedQuery(position: bigint, commitTime: Date, batch: number | string): QueryConfig {
  return {
    name: 'pgshift-save-applied',
    text: `UPDATE pgshift.replication SET applied_position = $1::numeric, applied_commit_time = $2, applied_at = now()
            WHERE id = 1 AND current_setting('pgshift.batch', true) = $3`,
    values: [position.toString(), commitTime, String(batch)],
  };
}

export async function loadApplied(c: Client): Promise<bigint> {
  const { rows } = await c.query(`SELECT applied_position::text AS p FROM pgshift.replication WHERE id = 1`);
  const p = rows[0]?.p;
  if (p === null || p === undefined) throw new Error('replication state has no applied position (initial copy not finished)');
  return BigInt(p);
}

/**
 * Tables --fix-replica-identity set to REPLICA IDENTITY FULL on the source (quoted names): a change pgshift
 * leaves there, which cleanup names with the statement that undoes it. Facts only: cleanup prints, never runs.
 */
export async function recordFixedIdentity(c: Client, tables: string[]): Promise<void> {
  if (tables.length === 0) return;
  await c.query(
    `UPDATE pgshift.replication SET options = jsonb_set(options, '{replicaIdentityFull}',
       to_jsonb(ARRAY(SELECT DISTINCT x FROM unnest(ARRAY(SELECT jsonb_array_elements_text(coalesce(options->'replicaIdentityFull', '[]'))) || $1::text[]) AS x ORDER BY x)))
      WHERE id = 1`,
    [tables],
  );
}

export function fixedIdentityOf(state: ReplicationState): string[] {
  const v = state.options.replicaIdentityFull;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export async function markCaughtUp(c: Client): Promise<void> {
  await c.query(`UPDATE pgshift.replication SET caught_up_at = now() WHERE id = 1`);
}

// ---- trigger capture: pgshift.capture

export interface CaptureState {
  source: string;
  tables: CapturedTable[];
  options: RecordedOptions;
  installed: boolean;
  copySnapshot: string | null;
  copyDone: boolean;
  appliedSnapshot: string | null;
  appliedChanges: number;
}

/** The state schema brought forward (migration 6 holds pgshift.capture; 5 the target switches). */
export async function ensureCaptureState(c: Client): Promise<void> {
  await migrateState(c);
}

export async function loadCapture(c: Client): Promise<CaptureState | null> {
  const { rows: present } = await c.query(`SELECT to_regclass('pgshift.capture') IS NOT NULL AS ok`);
  if (!present[0].ok) return null;
  const { rows } = await c.query(
    `SELECT source, tables, options, installed_at IS NOT NULL AS installed, copy_snapshot, copy_done_at IS NOT NULL AS copy_done,
            applied_snapshot, applied_changes::text AS applied_changes FROM pgshift.capture WHERE id = 1`,
  );
  const r = rows[0];
  if (!r) return null;
  return {
    source: r.source,
    tables: parseTables(r.tables),
    options: parseOptions('capture', r.options),
    installed: r.installed,
    copySnapshot: r.copy_snapshot,
    copyDone: r.copy_done,
    appliedSnapshot: r.applied_snapshot,
    appliedChanges: Number(r.applied_changes),
  };
}

export async function recordCapture(c: Client, r: { source: string; tables: CapturedTable[]; options: Record<string, unknown> }): Promise<void> {
  await c.query(`DELETE FROM pgshift.capture`);
  await c.query(`INSERT INTO pgshift.capture (source, tables, options) VALUES ($1, $2, $3)`, [r.source, JSON.stringify(r.tables), JSON.stringify(r.options)]);
}

export async function markInstalled(c: Client): Promise<void> {
  await c.query(`UPDATE pgshift.capture SET installed_at = now() WHERE id = 1`);
}

/** The initial copy reads a snapshot whose pg_current_snapshot() is `snap`: log rows visible in it are in the copy. */
export async function recordCopySnapshot(c: Client, snap: string): Promise<void> {
  // Only the FIRST copy snapshot becomes the applied mark: a recopy after an interruption reads a newer one, and
  // applying the changes since the older one again is harmless (the applier converges rows, it does not replay).
  await c.query(`UPDATE pgshift.capture SET copy_snapshot = $1, applied_snapshot = COALESCE(applied_snapshot, $1) WHERE id = 1`, [snap]);
}

export async function markCaptureCopyDone(c: Client): Promise<void> {
  await c.query(`UPDATE pgshift.capture SET copy_done_at = now() WHERE id = 1`);
}

/** Inside the applier's target transaction, with the changes it covers. */
export async function saveAppliedSnapshot(c: Client, snap: string, changes: number, commitTime: Date | null): Promise<void> {
  await c.query(
    `UPDATE pgshift.capture SET applied_snapshot = $1, applied_changes = applied_changes + $2, applied_batches = applied_batches + 1,
            applied_commit_time = COALESCE($3, applied_commit_time), applied_at = now() WHERE id = 1`,
    [snap, changes, commitTime],
  );
}

export async function markCaptureCaughtUp(c: Client): Promise<void> {
  await c.query(`UPDATE pgshift.capture SET caught_up_at = now() WHERE id = 1`);
}

/** The capture is gone: its row goes (the table stays with its migration, like every state table). */
export async function dropCaptureState(c: Client): Promise<void> {
  await c.query(`DELETE FROM pgshift.capture`);
}
