// Trigger-capture state on the TARGET (schema pgshift): the capture is recorded BEFORE it is installed on the
// source (cleanup always finds it), and `applied_snapshot` — a pg_snapshot of the source — is written in the
// SAME target transaction as the changes it covers: every log row whose transaction is visible in it is applied.
// (To move into src/state/migrations.ts as an appended migration when merged.)
import type { Client } from '../../db/connect.js';
import type { CapturedTable } from './install.js';

export const CAPTURE_STATE_DDL = `
CREATE SCHEMA IF NOT EXISTS pgshift;
CREATE TABLE IF NOT EXISTS pgshift.capture (
  id                  int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  source              text NOT NULL,
  tables              jsonb NOT NULL,
  options             jsonb NOT NULL DEFAULT '{}',
  started_at          timestamptz NOT NULL DEFAULT now(),
  installed_at        timestamptz,
  -- pg_current_snapshot() of the transaction that exported the initial copy's snapshot
  copy_snapshot       text,
  copy_done_at        timestamptz,
  -- every log row visible in this snapshot is applied; written with the changes it covers
  applied_snapshot    text,
  applied_changes     int8 NOT NULL DEFAULT 0,
  applied_batches     int8 NOT NULL DEFAULT 0,
  applied_commit_time timestamptz,
  applied_at          timestamptz,
  caught_up_at        timestamptz
);`;

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

export async function ensureCaptureState(c: Client): Promise<void> {
  await c.query(CAPTURE_STATE_DDL);
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

export async function dropCaptureState(c: Client): Promise<void> {
  await c.query(`DROP TABLE IF EXISTS pgshift.capture`);
}
