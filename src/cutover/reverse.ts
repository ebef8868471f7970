// `pgshift cutover --reverse`: once the proof inside the freeze has passed (the two sides are equal and neither is
// written), replication in the other direction — NEW → OLD — is set up with NO initial copy:
//   1. the reverse stream is recorded on the OLD side (its target: pgshift.reverse, and pgshift.replication or
//      pgshift.capture naming the slot and publication or the capture on NEW) BEFORE anything is created on NEW;
//   2. the forward capture on OLD (slot and publication, or capture triggers and log) is dropped, so nothing the
//      reverse stream applies there echoes back and no slot keeps WAL;
//   3. on NEW: a publication and a slot (pgoutput, when NEW allows logical replication) or the capture triggers
//      (owner rights only); the stream starts at that point (the slot's consistent point, or the snapshot taken
//      after the install), recorded as applied, and as the baseline of `rollback --verify changed`.
// Every step is idempotent: a rerun after a crash finishes what is left. The stream is then run by
// `pgshift replicate --source NEW --target OLD` (it resumes the recorded state, no copy); the OLD side stays
// read-only for everyone but pgshift's apply sessions (ConnectionSpec.writeThroughFreeze).
import { randomBytes } from 'node:crypto';
import type { TableFilter } from '../catalog/filter.js';
import { listTables } from '../catalog/tables.js';
import type { ConnectionSpec } from '../config.js';
import { connect, type Client } from '../db/connect.js';
import { qualify } from '../db/ident.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { dropReplicationOnSource } from '../replicate/cleanup.js';
import { parseLsn } from '../replicate/pgoutput/lsn.js';
import { createPublication, slotInfo } from '../replicate/pgoutput/slot.js';
import { managedReplicationRole } from '../replicate/preflight.js';
import { applySessionSettings } from '../replicate/triggers/apply.js';
import { planCapture } from '../replicate/triggers/install.js';
import { captureInstalled, installCapture, removeCapture } from '../replicate/triggers/source.js';
import { migrateState } from '../state/migrations.js';
import {
  ensureCaptureState,
  ensureReplicationState,
  loadCapture,
  loadReplication,
  markCaptureCopyDone,
  markCopyDone,
  markInstalled,
  recordCapture,
  recordCopySnapshot,
  recordReplication,
  recordSlot,
} from '../state/replication.js';
import type { Capture } from './engine.js';
import type { TableName } from './proof.js';
import { recordReverse, type CutoverState } from './state.js';
import type { CutoverReport } from './index.js';

/** The same server and credentials, seen from the other side (error messages name the side). */
export function sideAs(spec: ConnectionSpec, side: ConnectionSpec['side']): ConnectionSpec {
  return { ...spec, side };
}

/** pgshift's sessions on a side kept read-only by a freeze still write (a startup option above the database's). */
export function writable(spec: ConnectionSpec): ConnectionSpec {
  return { ...spec, writeThroughFreeze: true };
}

export interface ReverseSetUp {
  capture: Capture;
  /** The command that runs the reverse stream (URLs shown with their passwords masked). */
  command: string;
  /** What was done, for the report. */
  detail: string;
}

/** pgoutput when the new side allows logical replication (wal_level, REPLICATION or a managed role), else triggers. */
async function chooseCapture(neu: Client, want: Capture | undefined): Promise<Capture> {
  const { rows } = await neu.query(
    `SELECT current_setting('wal_level') AS wal, rolsuper OR rolreplication AS can FROM pg_catalog.pg_roles WHERE rolname = current_user`,
  );
  const allowed = rows[0].wal === 'logical' && (rows[0].can || (await managedReplicationRole(neu)) !== null);
  if (want === 'pgoutput' && !allowed)
    throw new UsageError(
      `cutover --reverse: --capture pgoutput, but the target does not allow logical replication (wal_level ${rows[0].wal}${rows[0].can ? '' : ', no REPLICATION'}); the source is kept frozen, nothing was set up`,
      { phase: 'reverse', hint: 'run the same cutover again with --capture triggers (or without --capture: pgshift chooses)' },
    );
  return want ?? (allowed ? 'pgoutput' : 'triggers');
}

export function reverseCommand(old: ConnectionSpec, neu: ConnectionSpec, capture: Capture): string {
  return `pgshift replicate --source ${neu.display} --target ${old.display}${capture === 'triggers' ? ' --capture triggers' : ''}`;
}

/**
 * Sets up NEW → OLD (idempotent). `old`/`neu`: the cutover's --source/--target; `ctlNew`: the cutover's connection
 * to the new side (it records the reverse in pgshift.cutover last).
 */
export async function setUpReverse(o: {
  old: ConnectionSpec;
  neu: ConnectionSpec;
  ctlNew: Client;
  cutover: CutoverState;
  want: Capture | undefined;
  tables: TableName[];
  logger: Logger;
}): Promise<ReverseSetUp> {
  const { old, neu, ctlNew, logger } = o;
  let oldC: Client | undefined;
  let newC: Client | undefined;
  try {
    newC = await connect(sideAs(neu, 'source'), { applicationName: 'pgshift cutover reverse' });
    oldC = await connect(writable(sideAs(old, 'target')), { applicationName: runApplicationName('cutover reverse') });
    await acquireRunLock(oldC, { command: 'cutover --reverse', side: 'target', display: old.display });
    await migrateState(oldC, 'the source');
    const { rows: dbs } = await newC.query(`SELECT current_database() AS d`);
    const forward = (await loadReplication(ctlNew)) ?? (await loadCapture(ctlNew));
    const filter: Partial<TableFilter> = forward?.options.filter ?? {};
    // ---- 1. recorded on the old side first
    const { rows: had } = await oldC.query(`SELECT new_side, capture FROM pgshift.reverse WHERE id = 1`);
    let capture: Capture;
    if (had[0]) {
      if (had[0].new_side !== neu.display)
        throw new UsageError(`cutover --reverse: the source ${old.display} records a reverse stream from ${had[0].new_side}, not ${neu.display}`, {
          phase: 'reverse',
          hint: 'remove it first: pgshift cleanup --source … --target <that target>',
        });
      capture = had[0].capture;
    } else {
      capture = await chooseCapture(newC, o.want);
      await oldC.query(
        `INSERT INTO pgshift.reverse (new_side, new_database, old_database, capture, old_read_only_before, old_frozen) VALUES ($1, $2, $3, $4, $5, $6)`,
        [neu.display, dbs[0].d, o.cutover.sourceDatabase, capture, o.cutover.readOnlyBefore, o.cutover.sourceFrozen],
      );
    }
    if (capture === 'pgoutput') {
      await ensureReplicationState(oldC);
      if (!(await loadReplication(oldC))) {
        const suffix = randomBytes(4).toString('hex');
        await recordReplication(oldC, {
          source: neu.display,
          slot: `pgshift_${suffix}`,
          publication: `pgshift_${suffix}`,
          // The tables, kept: the forward publication they are read from is dropped next (a rerun finds them here).
          options: { filter, jobs: 1, reverse: true, tables: o.tables.map((t) => ({ schema: t.schema, name: t.name })) },
        });
      }
    } else if (!(await loadCapture(oldC))) {
      await ensureCaptureState(oldC);
      const names = new Set(o.tables.map((t) => `${t.schema}.${t.name}`));
      const captured = (await listTables(newC, filter)).filter((t) => (t.relkind === 'r' || t.relkind === 'p') && names.has(`${t.schema}.${t.name}`));
      const marker = `pgshift trigger capture ${randomBytes(6).toString('hex')} feeding ${old.display}`;
      await recordCapture(oldC, { source: neu.display, tables: planCapture(captured), options: { filter, marker, notReplicated: [], reverse: true } });
    }
    // ---- 2. the forward capture on the old side goes (nothing echoes back, no slot keeps WAL)
    const dropped = await dropForward(old, oldC, ctlNew, logger);
    // Test hook: a crash between the forward capture's drop and the reverse one's creation (a rerun finishes it).
    if (process.env.PGSHIFT_CUTOVER_KILL_AT === 'reverse-drop') process.kill(process.pid, 'SIGKILL');
    // ---- 3. the capture on the new side; the stream starts where it is created
    const start = capture === 'pgoutput' ? await startSlot(oldC, newC, o.tables) : await startCapture(oldC, newC, logger);
    await oldC.query(`UPDATE pgshift.reverse SET set_up_at = COALESCE(set_up_at, now()), updated_at = now() WHERE id = 1`);
    await recordReverse(ctlNew, capture);
    return {
      capture,
      command: reverseCommand(old, neu, capture),
      detail: `${capture === 'pgoutput' ? 'slot and publication' : 'capture triggers'} on the target from ${start}; ${dropped}; no copy (the two are equal: proven)`,
    };
  } finally {
    await Promise.all([oldC?.end().catch(() => undefined), newC?.end().catch(() => undefined)]);
  }
}

/** Drops the forward stream's capture on the old side (recorded on the new side's state); idempotent. */
async function dropForward(old: ConnectionSpec, oldC: Client, ctlNew: Client, logger: Logger): Promise<string> {
  const repl = await loadReplication(ctlNew);
  if (repl) {
    const removed = await dropReplicationOnSource(repl, old);
    return removed.length ? `forward ${removed.join(' and ')} dropped` : 'forward slot and publication already gone';
  }
  const cap = await loadCapture(ctlNew);
  if (!cap) return 'no forward capture recorded';
  const there = await captureInstalled(oldC);
  if (!there.schema) return 'forward capture already gone';
  if (there.comment !== String(cap.options.marker))
    throw new UsageError(`cutover --reverse: the schema _pgshift on the source was not installed by this replication (${there.comment ?? 'no comment'})`, {
      phase: 'reverse',
      hint: 'look at it: pgshift cleanup for the target it feeds removes it; then run the same cutover again',
    });
  const r = await removeCapture(oldC, logger, cap.appliedSnapshot);
  return `forward capture dropped (${r.triggers} triggers, schema _pgshift)`;
}

/** The baseline of `rollback --verify changed`: the two sides were proven equal where the reverse stream starts. */
async function recordBaseline(oldC: Client, capture: Capture, position: string): Promise<void> {
  await oldC.query(
    `INSERT INTO pgshift.verify_point (capture, expires_at, held_at, position, reached_at, applied_position, imported_at, passed_at)
     VALUES ($1, now(), now(), $2, now(), $2, now(), now())`,
    [capture, position],
  );
}

async function startSlot(oldC: Client, newC: Client, tables: TableName[]): Promise<string> {
  const st = (await loadReplication(oldC))!;
  if (st.copyDone) return st.consistentPoint ?? '?';
  const recorded = st.options.tables as TableName[] | undefined;
  await createPublication(
    newC,
    st.publication,
    (recorded ?? tables).map((t) => qualify(t.schema, t.name)),
  );
  const info = await slotInfo(newC, st.slot);
  const lsn: string =
    info?.confirmedFlush ?? (await newC.query(`SELECT lsn::text AS l FROM pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')`, [st.slot])).rows[0].l;
  await recordSlot(oldC, lsn);
  await markCopyDone(oldC, parseLsn(lsn));
  await recordBaseline(oldC, 'pgoutput', lsn);
  return lsn;
}

async function startCapture(oldC: Client, newC: Client, logger: Logger): Promise<string> {
  const st = (await loadCapture(oldC))!;
  if (st.copyDone) return st.appliedSnapshot ?? '?';
  const marker = String(st.options.marker);
  if (!st.installed) {
    const there = await captureInstalled(newC);
    if (there.schema && there.comment !== marker)
      throw new UsageError(
        `cutover --reverse: the target already has a schema _pgshift (${there.comment ?? 'no comment'}); the reverse capture was not installed`,
        {
          phase: 'reverse',
          hint: 'remove it (pgshift cleanup for the target it feeds, or DROP SCHEMA _pgshift CASCADE if nothing uses it), then run the same cutover again',
        },
      );
    if (!there.schema) {
      await applySessionSettings(newC);
      const oids = new Set(st.tables.map((t) => t.oid));
      await installCapture(
        newC,
        (await listTables(newC, st.options.filter)).filter((t) => oids.has(t.oid)),
        marker,
        logger,
      );
    }
    await markInstalled(oldC);
  }
  // Taken after the install committed: every change the capture logs from now on is applied.
  const { rows } = await newC.query(`SELECT pg_catalog.pg_current_snapshot()::text AS s`);
  await recordCopySnapshot(oldC, rows[0].s);
  await markCaptureCopyDone(oldC);
  await recordBaseline(oldC, 'triggers', rows[0].s);
  return `snapshot ${rows[0].s}`;
}

/** The next steps after a cutover --reverse said "safe to switch". */
export function reverseNext(old: ConnectionSpec, neu: ConnectionSpec, r: ReverseSetUp, freeze: 'source' | 'wait'): string[] {
  return [
    freeze === 'source'
      ? 'the source stays read-only: point the application at the target now (switch DATABASE_URL)'
      : 'keep writes to the source stopped: point the application at the target now (switch DATABASE_URL)',
    `start the reverse stream now and keep it running (no copy; Ctrl-C stops it, the same command resumes it): ${r.command}`,
    'to go back without losing what the application writes to the target: stop that stream, then pgshift rollback --source … --target … (the URLs of this cutover); cutover --abort is refused from now on',
    'to stay: pgshift cleanup --source … --target … ends the reverse stream and removes what pgshift left on both sides',
  ];
}

/** --reverse after the proof: the reverse stream set up, its command in the report's next steps. */
export async function reverseInto(report: CutoverReport, a: Parameters<typeof setUpReverse>[0]): Promise<void> {
  report.reverse = await setUpReverse(a);
  report.next = reverseNext(a.old, a.neu, report.reverse, report.freeze);
}

/** A cutover whose record says the way back was taken (rollback) or is closed (--reverse after the switch). */
export function refuseAfterSwitch(previous: CutoverState | null, reverse: boolean, source: ConnectionSpec, target: ConnectionSpec): void {
  if (previous?.step === 'rolled-back')
    throw new UsageError(`cutover: pgshift rollback brought the application back to ${source.display}; the replication into ${target.display} is over`, {
      phase: 'preflight',
      hint: 'to migrate again: pgshift cleanup --source … --target …, empty the target, then pgshift replicate and pgshift cutover',
    });
  if (reverse && (previous?.step === 'done' || previous?.step === 'validate') && !previous.reverseAt)
    throw new UsageError(
      `cutover --reverse: the cutover into ${target.display} is done already; the application may write there now, so no reverse stream can start without a copy`,
      { phase: 'reverse', hint: '--reverse belongs to the cutover run itself; to go back now: pgshift cutover --abort (only if nothing wrote the target)' },
    );
}
