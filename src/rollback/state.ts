// The reverse stream and the rollback, recorded on the OLD side (pgshift.reverse, one row; migration 10). Every
// step that changes a side is written here FIRST, with what undoes it: the new database's own
// default_transaction_read_only before the rollback froze it, the old database's before the cutover froze it.
import type { Client } from '../db/connect.js';

/** Where a rollback is: each step is recorded before it starts. 'streaming': set up by cutover --reverse, no rollback yet. */
export type RollbackStep = 'streaming' | 'preflight' | 'freeze' | 'catch-up' | 'finish' | 'verify' | 'different' | 'unfreeze' | 'validate' | 'done' | 'aborted';

export interface ReverseState {
  newSide: string;
  newDatabase: string;
  oldDatabase: string;
  capture: 'pgoutput' | 'triggers';
  oldReadOnlyBefore: string | null;
  oldFrozen: boolean;
  setUpAt: Date | null;
  step: RollbackStep;
  newReadOnlyBefore: string | null;
  newFrozen: boolean;
  frozenAt: Date | null;
  unfrozenAt: Date | null;
  report: unknown;
}

export async function loadReverse(c: Client): Promise<ReverseState | null> {
  const { rows: present } = await c.query(`SELECT to_regclass('pgshift.reverse') IS NOT NULL AS ok`);
  if (!present[0].ok) return null;
  const { rows } = await c.query(`SELECT * FROM pgshift.reverse WHERE id = 1`);
  const r = rows[0];
  if (!r) return null;
  return {
    newSide: r.new_side,
    newDatabase: r.new_database,
    oldDatabase: r.old_database,
    capture: r.capture,
    oldReadOnlyBefore: r.old_read_only_before,
    oldFrozen: r.old_frozen,
    setUpAt: r.set_up_at,
    step: r.step,
    newReadOnlyBefore: r.new_read_only_before,
    newFrozen: r.new_frozen,
    frozenAt: r.frozen_at,
    unfrozenAt: r.unfrozen_at,
    report: r.report,
  };
}

export async function recordRollbackStep(c: Client, step: RollbackStep, report?: unknown): Promise<void> {
  await c.query(`UPDATE pgshift.reverse SET step = $1, updated_at = now(), report = COALESCE($2::jsonb, report) WHERE id = 1`, [
    step,
    report === undefined ? null : JSON.stringify(report),
  ]);
}

/** Written BEFORE the new side's ALTER DATABASE: from here on, rollback --abort restores `before` exactly. */
export async function recordNewFreezing(c: Client, before: string | null): Promise<void> {
  await c.query(
    `UPDATE pgshift.reverse SET new_read_only_before = $1, new_frozen = true, step = 'freeze', frozen_at = now(), unfrozen_at = NULL, report = NULL, updated_at = now() WHERE id = 1`,
    [before],
  );
}

/** rollback --abort: the new side takes writes again. */
export async function recordNewUnfrozen(c: Client): Promise<void> {
  await c.query(`UPDATE pgshift.reverse SET new_frozen = false, step = 'aborted', updated_at = now() WHERE id = 1`);
}

/** The old side takes writes again (after the ALTER DATABASE that restored its setting). */
export async function recordOldUnfrozen(c: Client): Promise<void> {
  await c.query(`UPDATE pgshift.reverse SET old_frozen = false, unfrozen_at = now(), updated_at = now() WHERE id = 1`);
}
