// The cutover's record on the target (pgshift.cutover, one row). Every step that changes the source is written
// here FIRST, with what is needed to undo it (the source database's own default_transaction_read_only setting
// before the freeze), so `pgshift cutover --abort` or a rerun after a crash always finds and undoes the freeze.
import type { Client } from '../db/connect.js';

// The table: state migration 9 (src/state/migrations/009-cutover.ts).

/** Where a cutover is: each step is recorded before it starts. */
export type CutoverStep =
  'preflight' | 'freeze' | 'catch-up' | 'finish' | 'verify' | 'different' | 'switch' | 'reverse' | 'validate' | 'done' | 'aborted' | 'rolled-back';

export interface CutoverState {
  source: string;
  sourceDatabase: string;
  capture: 'pgoutput' | 'triggers';
  freeze: 'source' | 'wait';
  readOnlyBefore: string | null;
  sourceFrozen: boolean;
  step: CutoverStep;
  startedAt: Date;
  frozenAt: Date | null;
  unfrozenAt: Date | null;
  report: unknown;
  /** --reverse: the reverse stream's capture, and when it was set up (from then on --abort refuses). */
  reverseCapture: 'pgoutput' | 'triggers' | null;
  reverseAt: Date | null;
}

export async function loadCutover(c: Client): Promise<CutoverState | null> {
  const { rows: present } = await c.query(`SELECT to_regclass('pgshift.cutover') IS NOT NULL AS ok`);
  if (!present[0].ok) return null;
  const { rows } = await c.query(`SELECT * FROM pgshift.cutover WHERE id = 1`);
  const r = rows[0];
  if (!r) return null;
  return {
    source: r.source,
    sourceDatabase: r.source_database,
    capture: r.capture,
    freeze: r.freeze_mode,
    readOnlyBefore: r.read_only_before,
    sourceFrozen: r.source_frozen,
    step: r.step,
    startedAt: r.started_at,
    frozenAt: r.frozen_at,
    unfrozenAt: r.unfrozen_at,
    report: r.report,
    reverseCapture: r.reverse_capture ?? null,
    reverseAt: r.reverse_at ?? null,
  };
}

/** A new cutover (replacing a finished or aborted one's record). */
export async function recordCutover(c: Client, s: { source: string; sourceDatabase: string; capture: string; freeze: string }): Promise<void> {
  await c.query(`DELETE FROM pgshift.cutover`);
  await c.query(`INSERT INTO pgshift.cutover (source, source_database, capture, freeze_mode, step) VALUES ($1, $2, $3, $4, 'preflight')`, [
    s.source,
    s.sourceDatabase,
    s.capture,
    s.freeze,
  ]);
}

export async function recordStep(c: Client, step: CutoverStep, report?: unknown): Promise<void> {
  await c.query(`UPDATE pgshift.cutover SET step = $1, updated_at = now(), report = COALESCE($2::jsonb, report) WHERE id = 1`, [
    step,
    report === undefined ? null : JSON.stringify(report),
  ]);
}

/** Written BEFORE the ALTER DATABASE: from here on, --abort restores `before` exactly. */
export async function recordFreezing(c: Client, before: string | null): Promise<void> {
  await c.query(
    `UPDATE pgshift.cutover SET read_only_before = $1, source_frozen = true, step = 'freeze', frozen_at = COALESCE(frozen_at, now()), updated_at = now() WHERE id = 1`,
    [before],
  );
}

/** The freeze of `--freeze wait` (nothing changed on the source: only the moment is kept). */
export async function recordWaitFreeze(c: Client): Promise<void> {
  await c.query(`UPDATE pgshift.cutover SET step = 'freeze', frozen_at = COALESCE(frozen_at, now()), updated_at = now() WHERE id = 1`);
}

export async function recordUnfrozen(c: Client, step: CutoverStep): Promise<void> {
  await c.query(`UPDATE pgshift.cutover SET source_frozen = false, unfrozen_at = now(), step = $1, updated_at = now() WHERE id = 1`, [step]);
}

/** The reverse stream NEW → OLD is set up (migration 10): from now on the way back is pgshift rollback. */
export async function recordReverse(c: Client, capture: string): Promise<void> {
  await c.query(`UPDATE pgshift.cutover SET reverse_capture = $1, reverse_at = COALESCE(reverse_at, now()), updated_at = now() WHERE id = 1`, [capture]);
}
