// Trigger-capture state on the TARGET (schema pgshift): the capture is recorded BEFORE it is installed on the
// source (cleanup always finds it), and `applied_snapshot` — a pg_snapshot of the source — is written in the
// SAME target transaction as the changes it covers: every log row whose transaction is visible in it is applied.
// The table is state migration 6 (state-sql.ts).
import type { Client } from '../../db/connect.js';
import { migrateState } from '../../state/migrations.js';
import type { CapturedTable } from './install.js';

export interface CaptureState {
  source: string;
  tables: CapturedTable[];
  options: Record<string, unknown>;
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
    tables: r.tables,
    options: r.options,
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

export async function markCopyDone(c: Client): Promise<void> {
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
