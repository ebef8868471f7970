// Replication state on the TARGET (in the `pgshift` schema, beside the copy state): slot and publication names
// recorded BEFORE they are created (so cleanup always finds them), the applied position written in the same
// transaction as the changes it covers, and everything switched off on the target (so it is always restored).
// The tables come from the versioned state migrations (src/state/migrations.ts, migration 5).
import type { Client } from '../db/connect.js';
import type { QueryConfig } from 'pg';
import { withTransaction } from '../db/connect.js';
import { migrateState } from '../state/migrations.js';
import { assertStateTrusted, lockDownState } from '../state/trust.js';
import { APPLY_ROWS_FUNCTION } from './apply/sql.js';

export interface ReplicationState {
  source: string;
  slot: string;
  publication: string;
  options: Record<string, unknown>;
  startedAt: Date;
  consistentPoint: string | null;
  copyDone: boolean;
  appliedPosition: bigint | null;
  appliedCommitTime: Date | null;
}

export async function ensureReplicationState(c: Client): Promise<void> {
  await migrateState(c);
  // CREATE OR REPLACE on every run: the function always matches the SQL this version generates.
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
    options: r.options,
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
