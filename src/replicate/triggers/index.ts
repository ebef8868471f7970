// `pgshift replicate --capture triggers`: the low-downtime path for sources whose role cannot replicate
// (Heroku classic). Order, each step recorded on the target before the next can fail:
//   1. preflight (nothing created until it passes), the capture recorded in the target state;
//   2. capture installed on the source in ONE transaction and COMMITTED;
//   3. a snapshot exported AFTER that; pg_current_snapshot() of the same transaction recorded as the applied
//      mark: log rows visible in it are in the copy; the initial copy (the copy engine) reads that snapshot;
//   4. batches (apply.ts) until stopped, or --until-caught-up: a batch whose snapshot is newer than the check
//      has applied every change committed before it; then sequences set and the target's switches restored.
// An interrupted initial copy is resumed from a NEW snapshot while the applied mark stays the first one: the
// changes in between are applied again, which converges (rows are re-read, not replayed) — exact for every table.
// If it stopped during its data phase, the tables it had loaded are copied again (recopy.ts): one snapshot for
// all data, so unique indexes and foreign keys can be built. Before anything is read from the log, its ACLs are
// checked (acl.ts): only its owner may reach it.
import { randomBytes } from 'node:crypto';
import type { ConnectionSpec } from '../../config.js';
import type { TableFilter } from '../../catalog/filter.js';
import { listTables, type TableInfo } from '../../catalog/tables.js';
import { connect, type Client } from '../../db/connect.js';
import { qualify } from '../../db/ident.js';
import { exportSnapshot } from '../../db/snapshot.js';
import { copyDatabase, type CopySummary } from '../../copy/index.js';
import { requireEmptyTarget } from '../../copy/preflight.js';
import { syncSequences } from '../../copy/sequences.js';
import { classifyError, InterruptedError, PermissionError, PgshiftError, UsageError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { schemaPreflight } from '../../copy/schema-preflight.js';
import type { Progress } from '../../progress.js';
import { loadRun } from '../../state/store.js';
import { isTransient as isTransientApply } from '../apply/applier.js';
import { restoreSwitches, switchOff, type Switched } from '../apply/switches.js';
import { refreshAtFinish, type MatviewRefresh } from '../matviews.js';
import { acquireApplyLock } from '../../db/lock.js';
import { Control } from '../control.js';
import { applySessionSettings, CaptureApplier, CaptureLogError, CaptureSchemaError, SESSION_SETTINGS, type BatchResult } from './apply.js';
import { planCapture } from './install.js';
import { newTablesError, newTablesWarning, recordFilter, uncapturedTables, widenExclude } from '../new-tables.js';
import { captureInstalled, installCapture } from './source.js';
import { CaptureLag, type CaptureSample } from './lag.js';
import { recopyLoadedTables, withReplicateHint } from './recopy.js';
import { checkCaptureAcl } from './acl.js';
import {
  ensureCaptureState,
  loadCapture,
  markCaptureCaughtUp,
  markCopyDone,
  markInstalled,
  recordCapture,
  recordCopySnapshot,
  type CaptureState,
} from './state.js';
import { sleep } from '../../sleep.js';

export interface TriggerReplicateOptions {
  untilCaughtUp: boolean;
  maxLagSeconds?: number;
  timeoutSeconds?: number;
  /** false: --until-caught-up stops once caught up, without the finish (pgshift cutover finishes inside its freeze). */
  finish?: boolean;
  /** The finish adds foreign keys NOT VALID and leaves their VALIDATE owed (cutover runs it after the freeze). */
  deferForeignKeyChecks?: boolean;
  jobs: number;
  indexJobs: number;
  splitBytes: number;
  filter: Partial<TableFilter>;
  pgBin?: string;
  statusIntervalMs?: number;
  /** --until-caught-up's finish refreshes the materialized views populated on the source (default true). */
  refreshMatviews?: boolean;
  /** Pause between batches when the last one found nothing to do. */
  idleMs?: number;
  logger: Logger;
  progress?: Progress;
  onStatus?: (s: CaptureSample) => void;
  signal: AbortSignal;
}

export interface TriggerReplicateSummary {
  ok: boolean;
  capture: 'triggers';
  caughtUp: boolean;
  /** --until-caught-up gave up at --timeout (exit 1); everything applied so far is kept. */
  timedOut: boolean;
  /** pg_snapshot of the source: every change committed in it is on the target. */
  appliedSnapshot: string;
  pendingChanges: number;
  lagSeconds: number;
  /** Batches applied by this run (one target transaction each). */
  transactions: number;
  /** Log rows (captured statements' row changes) consumed by this run. */
  changes: number;
  rowsWritten: number;
  seconds: number;
  start: 'fresh' | 'resumed' | 'none';
  initialCopy: CopySummary | null;
  capturedTables: number;
  reconnects: number;
  sequences: number;
  restored: Switched | null;
  /** Materialized views refreshed by the finish, and how long it took (null: not refreshed). */
  matviews: MatviewRefresh | null;
  /** --until-caught-up: the moment everything committed before was applied, and changes captured since (pending after the finish). */
  caughtUpTo: { at: string; pendingSince: number } | null;
  notReplicated: string[];
}

export async function replicateByTriggers(source: ConnectionSpec, target: ConnectionSpec, opts: TriggerReplicateOptions): Promise<TriggerReplicateSummary> {
  const started = Date.now();
  const { logger } = opts;
  let control: Control | undefined;
  try {
    // One writer per target for the whole run (the copy inside it is told it holds the lock already); the lock is
    // re-taken if its connection is lost (control.ts).
    control = await Control.open(target, source, logger);
    const hold = control;
    const ctl = control.targetClient;
    const src = control.sourceClient;
    await applySessionSettings(src);

    // ---- preflight
    let state = await loadCapture(ctl);
    const { rows: repl } = await ctl.query(`SELECT to_regclass('pgshift.replication') IS NOT NULL AS ok`);
    if (repl[0].ok && (await ctl.query(`SELECT 1 FROM pgshift.replication`)).rowCount) {
      throw new UsageError(`the target ${target.display} holds a pgoutput replication (pgshift replicate without --capture triggers); nothing was changed`, {
        phase: 'preflight',
        hint: 'run pgshift replicate without --capture, or remove it first: pgshift cleanup --source … --target …',
      });
    }
    let notReplicated: string[] = [];
    if (state) {
      if (state.source !== source.display) {
        throw new UsageError(`the target ${target.display} captures changes from ${state.source}, not ${source.display}; nothing was changed`, {
          phase: 'preflight',
          hint: 'pass the same --source as the first run, or remove that capture first (pgshift cleanup --source … --target …)',
        });
      }
      if (opts.filter.include?.length) logger.warn('replicate: --include is taken from the first run; the one given now is ignored');
      if (opts.filter.exclude?.length) {
        // Leaves out tables created after the start (new-tables.ts); never a captured one.
        state.options.filter = widenExclude((state.options.filter as Partial<TableFilter>) ?? {}, opts.filter.exclude, state.tables);
        await recordFilter(ctl, 'capture', state.options.filter as Partial<TableFilter>);
      }
    } else {
      await requireEmptyTarget(ctl, target.display);
      const existing = await captureInstalled(src);
      if (existing.schema) {
        throw new UsageError(
          `the source ${source.display} already has a schema _pgshift (${existing.comment ?? 'not made by this run'}); nothing was changed`,
          {
            phase: 'preflight',
            hint: 'remove the old capture with pgshift cleanup --source … --target <the target it fed>, or DROP SCHEMA _pgshift CASCADE on the source if nothing uses it',
          },
        );
      }
      const tables = await listTables(src, opts.filter);
      notReplicated = tables.filter((t) => t.relkind === 'f').map((t) => t.display);
      const captured = tables.filter((t) => t.relkind === 'r' || t.relkind === 'p');
      await requireCapturable(src, source, captured);
      // The initial copy's pg_dump and what it cannot restore, before anything is installed (its copy logs the warnings).
      await schemaPreflight(src, ctl, { pgBin: opts.pgBin, command: 'replicate', logger: silentLogger });
      const marker = `pgshift trigger capture ${randomBytes(6).toString('hex')} feeding ${target.display}`;
      // Recorded BEFORE anything is created on the source: cleanup always finds it.
      await ensureCaptureState(ctl);
      await recordCapture(ctl, { source: source.display, tables: planCapture(captured), options: { filter: opts.filter, marker, notReplicated } });
      state = (await loadCapture(ctl))!;
    }
    const current = state as CaptureState;
    notReplicated = (current.options.notReplicated as string[] | undefined) ?? notReplicated;

    // ---- install (one transaction; a crash before COMMIT leaves nothing, after it the comment proves it is ours)
    if (!current.installed) {
      const marker = String(current.options.marker);
      const there = await captureInstalled(src);
      if (there.schema && there.comment !== marker) {
        throw new UsageError(
          `the source ${source.display} has a schema _pgshift that this replication did not install (${there.comment ?? 'no comment'}); nothing was changed`,
          {
            phase: 'install',
            hint: 'remove it (pgshift cleanup for the target it fed, or DROP SCHEMA _pgshift CASCADE) and run again',
          },
        );
      }
      if (!there.schema) {
        const tables = await listTables(src, (current.options.filter as Partial<TableFilter>) ?? {});
        const byOid = new Set(current.tables.map((t) => t.oid));
        const install = tables.filter((t) => byOid.has(t.oid));
        if (install.length !== current.tables.length) {
          throw new PgshiftError('install: tables of the recorded capture plan changed on the source before the install; nothing was installed', {
            phase: 'install',
            hint: 'pgshift cleanup --source … --target …, then run pgshift replicate --capture triggers again',
          });
        }
        await installCapture(src, install, marker, logger);
        logger.info(`replicate: capture installed on the source: ${install.length} tables, schema _pgshift (pgshift cleanup --source … --target … removes it)`);
      }
      await markInstalled(ctl);
    }
    // The log is read (and trusted) only while no one but its owner can reach it.
    await checkCaptureAcl(src, source.display, logger);

    // ---- initial copy, under a snapshot exported after the install committed
    let initial: CopySummary | null = null;
    let start: TriggerReplicateSummary['start'] = 'none';
    if (!current.copyDone) {
      const copyRun = await loadRun(ctl);
      if (copyRun)
        logger.warn(
          'replicate: the initial copy was interrupted; finishing it from a new snapshot (changes since the first snapshot are applied again, which converges)',
        );
      if (copyRun && !copyRun.steps.data) await recopyLoadedTables(ctl, logger);
      const snapshot = await exportSnapshot(source, 'replicate coordinator');
      try {
        const { rows } = await snapshot.client.query(`SELECT pg_catalog.pg_current_snapshot()::text AS s`);
        await recordCopySnapshot(ctl, rows[0].s);
      } catch (err) {
        await snapshot.close();
        throw err;
      }
      initial = await copyDatabase(source, target, {
        jobs: opts.jobs,
        indexJobs: opts.indexJobs,
        resume: copyRun !== null,
        mode: 'full',
        filter: (current.options.filter as Partial<TableFilter>) ?? {},
        splitBytes: opts.splitBytes,
        pgBin: opts.pgBin,
        logger,
        progress: opts.progress,
        signal: opts.signal,
        snapshot,
        runLockHeld: true,
      }).catch((err: unknown) => {
        throw withReplicateHint(err);
      });
      await markCopyDone(ctl);
      start = copyRun ? 'resumed' : 'fresh';
    }
    if (opts.signal.aborted) throw new InterruptedError('replicate interrupted by signal', { hint: 'run the same command again to continue' });

    // ---- apply
    if (current.copyDone && start === 'none') {
      const fresh = await uncapturedTables(src, (current.options.filter as Partial<TableFilter>) ?? {}, current.tables);
      if (fresh.length) logger.warn(newTablesWarning('triggers', fresh));
    }
    const relations = current.tables.map((t) => qualify(t.schema, t.name));
    const switched = await switchOff(ctl, relations);
    if (switched.triggers + switched.foreignKeys + switched.identities > 0) {
      logger.info(
        `replicate: on the target while applying: ${switched.triggers} user triggers disabled, ${switched.foreignKeys} foreign keys dropped, ${switched.identities} identity ALWAYS columns set BY DEFAULT (recorded in pgshift.replication_switch; restored by --until-caught-up or pgshift cleanup)`,
      );
    }
    // Every (re)connection of the applier: this run still holds the target, and no other applier is alive.
    const loop = await applyLoop(source, target, current, opts, started, async (tgt) => {
      await hold.holdTarget();
      await acquireApplyLock(tgt, target.display);
    });

    let sequences = 0;
    let restored: Switched | null = null;
    let matviews: MatviewRefresh | null = null;
    let sinceCheck: number | null = null;
    if (loop.caughtUp && opts.finish !== false) {
      // Either control connection may have been lost while applying: re-opened (the lock re-taken), not fatal.
      const [tgtNow, srcNow] = [await hold.holdTarget(), await hold.holdSource()];
      await applySessionSettings(srcNow, { search_path: SESSION_SETTINGS.search_path! });
      sequences = await syncSequences(srcNow, tgtNow);
      restored = await restoreSwitches(tgtNow, { target, jobs: opts.indexJobs, deferChecks: opts.deferForeignKeyChecks });
      if (opts.refreshMatviews !== false) matviews = await refreshAtFinish(srcNow, tgtNow);
      await markCaptureCaughtUp(tgtNow);
      // What the application wrote since the check: "caught up" is a moment, and writes may still go on.
      const after = await pendingStats(srcNow, loop.applied);
      loop.last = loop.last ? { ...loop.last, pendingChanges: after.pending, lagSeconds: after.ageSeconds } : loop.last;
      sinceCheck = after.pending;
    }
    const summary: TriggerReplicateSummary = {
      ok: !loop.timedOut,
      capture: 'triggers',
      caughtUp: loop.caughtUp,
      timedOut: loop.timedOut,
      appliedSnapshot: loop.applied,
      pendingChanges: loop.last?.pendingChanges ?? 0,
      lagSeconds: loop.last?.lagSeconds ?? 0,
      transactions: loop.batches,
      changes: loop.changes,
      rowsWritten: loop.rows,
      seconds: (Date.now() - started) / 1000,
      start,
      initialCopy: initial,
      capturedTables: current.tables.length,
      reconnects: loop.reconnects,
      sequences,
      restored,
      matviews,
      caughtUpTo: loop.checkedAt ? { at: loop.checkedAt.toISOString(), pendingSince: sinceCheck ?? 0 } : null,
      notReplicated,
    };
    return summary;
  } catch (err) {
    if (err instanceof CaptureSchemaError || err instanceof CaptureLogError) throw err;
    throw classifyError(err, 'replicate', { phase: 'replicate', hint: 'fix the cause, then run the same command again (it resumes from the target state)' });
  } finally {
    await control?.end();
  }
}

/** The role must be able to create the schema and a trigger on every captured table (owner, or TRIGGER privilege). */
async function requireCapturable(src: Client, source: ConnectionSpec, tables: TableInfo[]): Promise<void> {
  const { rows: db } = await src.query(`SELECT has_database_privilege(current_database(), 'CREATE') AS ok`);
  if (!db[0].ok) {
    throw new PermissionError(
      `preflight: the source role ${source.user} may not create a schema in the source database; trigger capture needs the schema _pgshift; nothing was changed`,
      {
        phase: 'preflight',
        hint: `connect as the database owner (on Heroku: the default credential), or GRANT CREATE ON DATABASE … TO ${source.user}`,
      },
    );
  }
  const { rows } = await src.query(
    `SELECT c.oid::int8 AS oid FROM unnest($1::oid[]) AS c(oid) WHERE NOT has_table_privilege(c.oid, 'TRIGGER') OR NOT has_table_privilege(c.oid, 'SELECT')`,
    [tables.map((t) => t.oid)],
  );
  if (rows.length) {
    const names = tables.filter((t) => rows.some((r) => Number(r.oid) === t.oid)).map((t) => t.display);
    throw new PermissionError(`preflight: the source role ${source.user} may not create triggers on (or read) ${names.join(', ')}; nothing was changed`, {
      phase: 'preflight',
      object: names[0],
      hint: `connect as their owner, GRANT TRIGGER, SELECT ON ${names.join(', ')} TO ${source.user}, or --exclude them`,
    });
  }
}

interface LoopResult {
  caughtUp: boolean;
  timedOut: boolean;
  applied: string;
  batches: number;
  changes: number;
  rows: number;
  reconnects: number;
  last: CaptureSample | null;
  /** --until-caught-up: every change committed on the source before this moment is applied. */
  checkedAt: Date | null;
}

/** The applier's one retry rule (by error class and connection state, never by message), minus what the user must fix. */
function isTransient(err: unknown): boolean {
  if (err instanceof PgshiftError && !err.cause) return false;
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof CaptureSchemaError || e instanceof CaptureLogError) return false;
  }
  return isTransientApply(err);
}

async function applyLoop(
  source: ConnectionSpec,
  target: ConnectionSpec,
  state: CaptureState,
  opts: TriggerReplicateOptions,
  started: number,
  onConnect: (tgt: Client) => Promise<void>,
): Promise<LoopResult> {
  const { logger } = opts;
  const out: LoopResult = {
    caughtUp: false,
    timedOut: false,
    applied: state.appliedSnapshot!,
    batches: 0,
    changes: 0,
    rows: 0,
    reconnects: 0,
    last: null,
    checkedAt: null,
  };
  const lag = new CaptureLag();
  const deadline = opts.timeoutSeconds !== undefined ? started + opts.timeoutSeconds * 1000 : Infinity;
  const interval = opts.statusIntervalMs ?? 5000;
  const idle = opts.idleMs ?? 500;
  let nextStatus = 0;
  let attempt = 0;
  // --until-caught-up: the check is "now"; a batch whose snapshot was taken after it covers every change
  // committed before it.
  let checkAt = Date.now();
  while (!opts.signal.aborted) {
    let src: Client | undefined;
    let tgt: Client | undefined;
    try {
      src = await connect(source, { applicationName: 'pgshift replicate apply' });
      // The log cleanup writes on the source: still allowed while pgshift cutover holds it read-only for everyone else.
      await src.query(`SET default_transaction_read_only = off`);
      tgt = await connect(target, { applicationName: 'pgshift replicate apply' });
      await onConnect(tgt);
      const applier = new CaptureApplier(src, tgt, state.tables, logger);
      await applier.init();
      const { rows } = await tgt.query(`SELECT applied_snapshot FROM pgshift.capture WHERE id = 1`);
      out.applied = rows[0].applied_snapshot;
      // Log rows a crash left behind after their batch committed on the target.
      await applier.forget(out.applied);
      while (!opts.signal.aborted) {
        const batchStart = Date.now();
        const r: BatchResult | null = await applier.batch(out.applied);
        attempt = 0;
        if (r) {
          out.applied = r.snapshot;
          out.batches++;
          out.changes += r.changes;
          out.rows += r.rows;
          lag.record(r);
          await applier.forget(r.snapshot);
        }
        if (Date.now() >= nextStatus || (opts.untilCaughtUp && batchStart >= checkAt)) {
          out.last = lag.sample(await pendingStats(src, out.applied));
          opts.onStatus?.(out.last);
          nextStatus = Date.now() + interval;
        }
        if (opts.untilCaughtUp && batchStart >= checkAt) {
          if (opts.maxLagSeconds === undefined || (out.last?.lagSeconds ?? 0) <= opts.maxLagSeconds) {
            // Never "caught up" while a table of the selection has no capture (created since the start).
            const fresh = await uncapturedTables(src, (state.options.filter as Partial<TableFilter>) ?? {}, state.tables);
            if (fresh.length) throw newTablesError('triggers', fresh);
            out.caughtUp = true;
            out.checkedAt = new Date(checkAt);
            return out;
          }
          checkAt = Date.now();
        }
        if (Date.now() >= deadline) {
          out.timedOut = true;
          return out;
        }
        if (!r || r.changes < 100) await sleep(idle, opts.signal);
      }
    } catch (err) {
      if (!isTransient(err) || opts.signal.aborted) throw err;
      attempt++;
      out.reconnects++;
      const wait = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      logger.warn(
        `replicate: connection lost (${(err as Error).message}); reconnecting in ${(wait / 1000).toFixed(1)}s from the snapshot recorded on the target`,
      );
      await sleep(wait, opts.signal);
    } finally {
      await src?.end().catch(() => undefined);
      await tgt?.end().catch(() => undefined);
    }
  }
  return out;
}

/** Pending log rows and the start time of the oldest one's transaction, as of now on the source. */
export async function pendingStats(src: Client, applied: string): Promise<{ pending: number; ageSeconds: number }> {
  // The age on the source's clock (the log's timestamps are the writing transactions' start times there).
  const { rows } = await src.query(
    `SELECT count(*)::int8::text AS n, COALESCE(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - min(l.at)), 0)::float8 AS age
       FROM _pgshift.log l WHERE NOT pg_catalog.pg_visible_in_snapshot(l.xid, $1::pg_catalog.pg_snapshot)`,
    [applied],
  );
  return { pending: Number(rows[0].n), ageSeconds: Math.max(0, rows[0].age) };
}
