// `pgshift cutover`: preflight (nothing irreversible) → catch up and measure → predict the freeze (refuse above
// --max-freeze) → freeze (recorded first) → catch up to the freeze point → finish → verify inside the freeze →
// "safe to switch" with the source kept read-only, or the differences with the source kept frozen (exit 1).
// After the verdict, the foreign keys added NOT VALID during the freeze are validated (the application's writes
// no longer wait for them). Every step is recorded in pgshift.cutover before it runs (state.ts): --abort
// (abort.ts) or a rerun after a crash always finds the freeze. A rerun of a frozen cutover resumes inside it.
import type { ConnectionSpec } from '../config.js';
import { connect, type Client } from '../db/connect.js';
import { qualify } from '../db/ident.js';
import { acquireRunLock, describeHolder, runApplicationName, targetRunHolder } from '../db/lock.js';
import { classifyError, PgshiftError, UsageError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { migrateState } from '../state/migrations.js';
import { pendingUnits, recordedCapture, startEngine, validateOwed, type Capture, type OwedForeignKeys, type ReplicationRun } from './engine.js';
import { CatchUpTimeout } from '../replicate/index.js';
import { allowWrites, endOpenSessions, QUIET_MS, readOnlyBefore, setSourceReadOnly, waitForQuiet, type SessionSeen } from './freeze.js';
import { finishWork, predictFreeze, type Prediction } from './predict.js';
import { proofScope, proveInsideFreeze, replicatedTables, type ProofScope, type VerifyOutcome } from './proof.js';
import { refuseAfterSwitch, reverseInto, type ReverseSetUp } from './reverse.js';
import { loadCutover, recordCutover, recordFreezing, recordStep, recordWaitFreeze, type CutoverStep } from './state.js';

export interface CutoverOptions {
  capture?: Capture;
  freeze: 'source' | 'wait';
  maxFreezeSeconds: number;
  graceSeconds: number;
  verify: 'changed' | 'full' | 'none';
  /** After the proof passes: set up the reverse stream (target → source) for pgshift rollback (reverse.ts). */
  reverse?: boolean;
  /** Before freezing, the stream must be within this many seconds of lag. */
  maxLagSeconds: number;
  /** Each catch-up gives up after this long (before the freeze: nothing frozen; inside it: the freeze is kept). */
  catchUpTimeoutSeconds: number;
  indexJobs: number;
  verifyJobs: number;
  logger: Logger;
  signal: AbortSignal;
}

export interface TimelineStep {
  step: 'freeze' | 'catch-up' | 'finish' | 'verify';
  predictedSeconds: number | null;
  seconds: number;
  detail: string;
}

export interface CutoverReport {
  ok: boolean;
  verdict: 'safe to switch' | 'different' | 'refused' | 'already done';
  capture: Capture;
  freeze: 'source' | 'wait';
  /** This run resumed a cutover a previous run had frozen. */
  resumed: boolean;
  prediction: Prediction | null;
  timeline: TimelineStep[];
  frozenSeconds: number | null;
  terminated: SessionSeen[];
  notTerminated: SessionSeen[];
  /** --freeze wait: sessions seen writing while pgshift waited for the writes to stop. */
  writersSeen: SessionSeen[];
  verify: VerifyOutcome | null;
  foreignKeys: OwedForeignKeys | null;
  /** --reverse: the reverse stream set up after the proof (null: none). */
  reverse?: ReverseSetUp | null;
  sourceReadOnly: boolean;
  next: string[];
}

/** Test hook: SIGKILL this process when the cutover reaches the named step (each recorded first). */
function faultPoint(step: string): void {
  if (process.env.PGSHIFT_CUTOVER_KILL_AT === step) process.kill(process.pid, 'SIGKILL');
}

export async function runCutover(source: ConnectionSpec, target: ConnectionSpec, opts: CutoverOptions): Promise<CutoverReport> {
  const { logger } = opts;
  let ctl: Client | undefined;
  let src: Client | undefined;
  let engine: ReplicationRun | undefined;
  let finished = false;
  try {
    ctl = await connect(target, { applicationName: runApplicationName('cutover') });
    await acquireRunLock(ctl, { command: 'cutover', side: 'cutover', display: target.display });
    const holder = await targetRunHolder(ctl);
    if (holder)
      throw new UsageError(`cutover: a pgshift run is working on the target ${target.display} (${describeHolder(holder)}); nothing was frozen`, {
        phase: 'preflight',
        hint: 'stop it (Ctrl-C); cutover resumes the stream itself',
      });
    src = await connect(source, { applicationName: 'pgshift cutover' });
    await allowWrites(src);
    await migrateState(ctl);
    const capture = await recordedCapture(ctl, source, target, opts.capture);
    const { rows: db } = await src.query(`SELECT current_database() AS d`);
    const database: string = db[0].d;
    const tables = await replicatedTables(src, ctl, capture);
    /** --verify changed: the rows to compare (null: --verify full compares the whole database). */
    const scopeOf = (c: Client): Promise<ProofScope | null> => (opts.verify === 'changed' ? proofScope(c, tables, 'changed') : Promise.resolve(null));

    const previous = await loadCutover(ctl);
    if (previous && previous.source !== source.display)
      throw new UsageError(`cutover: the cutover recorded on ${target.display} froze ${previous.source}, not ${source.display}; nothing was changed`, {
        phase: 'preflight',
        hint: 'pass the same --source, or undo that one first: pgshift cutover --abort --source <that source> --target …',
      });
    refuseAfterSwitch(previous, Boolean(opts.reverse), source, target);
    if (previous?.step === 'done') return { ...(previous.report as CutoverReport), verdict: 'already done', resumed: true };
    const reverseArgs = { old: source, neu: target, ctlNew: ctl, want: opts.capture, tables, logger };
    if (previous?.step === 'reverse') {
      // The proof had passed; the reverse set-up is idempotent: finish it, then the foreign keys' checks.
      await reverseInto(previous.report as CutoverReport, { ...reverseArgs, cutover: previous });
      await recordStep(ctl, 'validate', previous.report);
      previous.step = 'validate';
    }
    if (previous?.step === 'validate') {
      // Safe to switch was said; only the foreign keys' checks were left.
      const done = { ...(previous.report as CutoverReport), resumed: true, foreignKeys: await validateOwed(ctl, target, opts.indexJobs) };
      await recordStep(ctl, 'done', done);
      return done;
    }
    const resumed = previous !== null && previous.frozenAt !== null && previous.step !== 'aborted';
    const freeze = resumed ? previous!.freeze : opts.freeze;
    const report: CutoverReport = {
      ok: false,
      verdict: 'refused',
      capture,
      freeze,
      resumed,
      prediction: null,
      timeline: [],
      frozenSeconds: null,
      terminated: [],
      notTerminated: [],
      writersSeen: [],
      verify: null,
      foreignKeys: null,
      sourceReadOnly: freeze === 'source' && (previous?.sourceFrozen ?? false),
      next: [],
    };
    const catchUpMs = opts.catchUpTimeoutSeconds * 1000;
    /** One catch-up of the running engine, timed; caughtUp false when it gave up at --timeout. */
    const catchUp = async (maxLagSeconds?: number): Promise<{ caughtUp: boolean; seconds: number }> => {
      const t0 = Date.now();
      try {
        await engine!.catchUp({ timeoutMs: catchUpMs, maxLagSeconds });
        return { caughtUp: true, seconds: (Date.now() - t0) / 1000 };
      } catch (err) {
        if (err instanceof CatchUpTimeout) return { caughtUp: false, seconds: (Date.now() - t0) / 1000 };
        throw err;
      }
    };
    let frozenAt = resumed ? previous!.frozenAt!.getTime() : 0;

    if (!resumed) {
      // ---- before the freeze: nothing irreversible. Catch up, measure, predict.
      await recordCutover(ctl, { source: source.display, sourceDatabase: database, capture, freeze });
      logger.info(`cutover: catching up with the stream until the lag is under ${opts.maxLagSeconds} s (nothing frozen yet)`);
      engine = await startEngine(source, target, { capture, logger, signal: opts.signal, indexJobs: opts.indexJobs });
      const pendingBefore = pendingUnits(engine.status());
      const first = await catchUp(opts.maxLagSeconds);
      if (!first.caughtUp) throw notCaughtUp(opts.catchUpTimeoutSeconds, 'preflight');
      // Applied per second while catching up (at least the write rate it kept up with).
      const applyRate = Math.max(pendingBefore / Math.max(first.seconds, 0.001), 1);
      let verifySeconds: number | null = null;
      let verifyTables = tables.length;
      if (opts.verify !== 'none') {
        const scope = await scopeOf(ctl);
        if (scope?.fallback) logger.warn(`cutover: --verify changed: ${scope.fallback}`);
        else if (scope)
          logger.info(
            `cutover: --verify changed: ${scope.rows.length} of ${tables.length} table(s) changed since the online verify at ${scope.baseline!.position}`,
          );
        verifyTables = scope && !scope.fallback ? scope.rows.length : tables.length;
        logger.info(`cutover: timing a verify of the same ${opts.verify === 'full' ? 'database' : 'tables'} before the freeze (its result is not the proof)`);
        // Writes go on: its differences mean nothing and are not logged, nor narrowed to rows (the verify inside the
        // freeze, equal, reads each table once: so does this one).
        verifySeconds = (await proveInsideFreeze(source, target, tables, scope, opts.verifyJobs, ctl, silentLogger, true)).seconds;
      }
      const settled = await catchUp(opts.maxLagSeconds);
      if (!settled.caughtUp) throw notCaughtUp(opts.catchUpTimeoutSeconds, 'preflight');
      // One round timed as the freeze runs it, with no lag condition: on a source nobody writes any more (--freeze
      // wait after the team stopped the application) the lag in seconds stays above --max-lag until the source's
      // next keepalive, which the freeze's own catch-up does not wait for (18 s predicted, 0.16 s measured).
      const last = await catchUp();
      if (!last.caughtUp) throw notCaughtUp(opts.catchUpTimeoutSeconds, 'preflight');
      const pending = engine.status();
      const open =
        freeze === 'source'
          ? (
              await src.query(
                `SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE datname = current_database() AND xact_start IS NOT NULL AND state <> 'idle' AND pid <> pg_backend_pid() AND application_name NOT LIKE 'pgshift%' AND backend_type = 'client backend'`,
              )
            ).rows[0].n
          : null;
      report.prediction = predictFreeze(
        {
          capture,
          runSeconds: last.seconds,
          applyRate,
          pending,
          openTransactions: open,
          graceSeconds: opts.graceSeconds,
          verifySeconds,
          verifyTables,
        },
        await finishWork(src, ctl),
        freeze,
        QUIET_MS / 1000,
      );
      if (report.prediction.totalSeconds > opts.maxFreezeSeconds) {
        const d = report.prediction.dominant;
        await recordStep(ctl, 'aborted', report);
        throw new RefusedError(
          `cutover: the freeze would last about ${report.prediction.totalSeconds.toFixed(1)} s, above --max-freeze ${opts.maxFreezeSeconds} s; the ${d.step} dominates (${d.seconds.toFixed(1)} s: ${d.basis}); nothing was frozen`,
          report,
        );
      }

      // ---- the freeze: recorded before the source is touched
      frozenAt = Date.now();
      if (freeze === 'source') {
        await recordFreezing(ctl, await readOnlyBefore(src));
        faultPoint('freeze');
        await setSourceReadOnly(src, database);
      } else {
        logger.info(`cutover: waiting for the writes to stop (up to --grace ${opts.graceSeconds} s; no write for ${QUIET_MS / 1000} s)`);
        const q = await waitForQuiet(
          src,
          tables.map((x) => qualify(x.schema, x.name)),
          opts.graceSeconds * 1000,
          opts.signal,
        );
        report.writersSeen = q.writers;
        if (!q.quiet) {
          await recordStep(ctl, 'aborted', report);
          throw new RefusedError(
            `cutover: the replicated tables were still written after --grace ${opts.graceSeconds} s (${q.rowsWritten} rows while pgshift waited${q.writers.length ? `; writing: ${q.writers.map((w) => `pid ${w.pid}`).join(', ')}` : ''}); nothing was frozen by pgshift`,
            report,
          );
        }
        await recordWaitFreeze(ctl);
        faultPoint('freeze');
      }
    }
    const elapsed = () => (Date.now() - frozenAt) / 1000;
    const predicted = (step: TimelineStep['step']) => report.prediction?.steps.find((s) => s.step === step)?.seconds ?? null;
    if (freeze === 'source') {
      // A resumed cutover ends the sessions again: a crash may have come between the ALTER and this.
      const t0 = Date.now();
      await setSourceReadOnly(src, database);
      const ended = await endOpenSessions(src, opts.graceSeconds * 1000, opts.signal);
      report.terminated = ended.terminated;
      report.notTerminated = ended.notTerminated;
      report.sourceReadOnly = true;
      report.timeline.push({
        step: 'freeze',
        predictedSeconds: predicted('freeze'),
        seconds: resumed ? (Date.now() - t0) / 1000 : elapsed(),
        detail: `source read-only for new sessions; ${ended.terminated.length} session(s) terminated, ${ended.notTerminated.length} could not be${ended.waitedSeconds > 0.2 ? `; waited ${ended.waitedSeconds.toFixed(1)} s for open transactions` : ''}`,
      });
      for (const s of ended.notTerminated) logger.warn(`cutover: could not terminate pid ${s.pid} (${s.reason}): it may still write to the source`);
    } else if (!resumed) {
      report.timeline.push({ step: 'freeze', predictedSeconds: predicted('freeze'), seconds: elapsed(), detail: 'no write seen on the replicated tables' });
    }

    // ---- catch up to the freeze point, then finish
    await step(ctl, 'catch-up');
    // A resumed cutover starts the engine inside the freeze (its initial copy is done: only the stream starts).
    engine ??= await startEngine(source, target, { capture, logger, signal: opts.signal, indexJobs: opts.indexJobs });
    const atFreeze = engine.status();
    const caught = await catchUp();
    if (!caught.caughtUp) throw notCaughtUp(opts.catchUpTimeoutSeconds, 'catch-up', true);
    report.timeline.push({
      step: 'catch-up',
      predictedSeconds: predicted('catch-up'),
      seconds: caught.seconds,
      detail: `${Math.round(pendingUnits(atFreeze))} ${capture === 'pgoutput' ? 'bytes of WAL' : 'captured changes'} pending at the last sample, all applied`,
    });
    // What --verify changed compares is read now: everything is applied, and the finish deletes the switches.
    const scope = opts.verify === 'none' ? null : await scopeOf(ctl);
    await step(ctl, 'finish');
    const t = Date.now();
    finished = true;
    const fin = await engine.finish();
    const r = fin.restored;
    report.timeline.push({
      step: 'finish',
      predictedSeconds: predicted('finish'),
      seconds: (Date.now() - t) / 1000,
      detail: `${fin.sequences} sequences set; ${r?.triggers ?? 0} triggers, ${r?.identities ?? 0} identities, ${r?.foreignKeys ?? 0} foreign keys (NOT VALID) put back${fin.matviews ? `; ${fin.matviews.views} materialized view(s) refreshed` : ''}`,
    });

    // ---- proof inside the freeze
    await step(ctl, 'verify');
    if (opts.verify !== 'none') {
      report.verify = await proveInsideFreeze(source, target, tables, scope, opts.verifyJobs, ctl, logger);
      report.timeline.push({
        step: 'verify',
        predictedSeconds: predicted('verify'),
        seconds: report.verify.seconds,
        detail: `${report.verify.tables} table(s)${report.verify.fallback ? ` (${report.verify.fallback})` : ''}: ${report.verify.ok ? 'equal' : 'DIFFERENT'}`,
      });
    }
    report.frozenSeconds = elapsed();
    if (report.verify && !report.verify.ok) {
      report.verdict = 'different';
      report.next = [
        freeze === 'source' ? 'the source is KEPT read-only; nothing was switched' : 'keep writes stopped; nothing was switched',
        'fix the differences named above on the target, then run the same pgshift cutover again (it resumes inside the freeze)',
        `or undo the freeze: pgshift cutover --abort --source … --target …`,
      ];
      await recordStep(ctl, 'different', report);
      return report;
    }
    report.ok = true;
    report.verdict = 'safe to switch';
    report.next = [
      freeze === 'source'
        ? 'the source stays read-only: point the application at the target now (switch DATABASE_URL)'
        : 'keep writes to the source stopped: point the application at the target now (switch DATABASE_URL)',
      'to undo before anything writes to the target: pgshift cutover --abort --source … --target … (the source takes writes again)',
      'once the application runs on the target: pgshift cleanup --source … --target … (slot, publication or capture, state)',
    ];
    if (opts.reverse) {
      await step(ctl, 'reverse', report);
      await reverseInto(report, { ...reverseArgs, cutover: (await loadCutover(ctl))! });
    }
    await recordStep(ctl, 'validate', report);

    // ---- after the freeze: the foreign keys' checks (they do not block the application's writes)
    faultPoint('validate');
    report.foreignKeys = await validateOwed(ctl, target, opts.indexJobs);
    if (report.foreignKeys.failure) report.next.unshift(`a foreign key did not validate on the target: ${report.foreignKeys.failure}`);
    await recordStep(ctl, 'done', report);
    return report;
  } catch (err) {
    if (err instanceof RefusedError) throw err;
    throw classifyError(err, 'cutover', {
      phase: 'cutover',
      hint: 'fix the cause, then run the same pgshift cutover again (it resumes a freeze it recorded), or undo it: pgshift cutover --abort',
    });
  } finally {
    if (!finished) await engine?.stop().catch(() => undefined);
    await Promise.all([src?.end().catch(() => undefined), ctl?.end().catch(() => undefined)]);
  }

  async function step(c: Client, s: CutoverStep, report?: CutoverReport): Promise<void> {
    await recordStep(c, s, report);
    faultPoint(s);
  }
}

/** A refusal with nothing frozen (exit 1), carrying the report that explains it. */
export class RefusedError extends PgshiftError {
  constructor(
    message: string,
    readonly report: CutoverReport,
  ) {
    super(message, { phase: 'preflight', hint: 'raise --max-freeze, or lower what dominates (see the prediction), then run it again' });
  }
}

function notCaughtUp(seconds: number, phase: string, frozen = false): PgshiftError {
  return new PgshiftError(
    `cutover: the stream did not catch up within ${seconds} s (${phase})${frozen ? '; the source is KEPT frozen' : '; nothing was frozen'}`,
    {
      phase,
      hint: frozen
        ? 'run the same pgshift cutover again (it resumes inside the freeze), or undo it: pgshift cutover --abort --source … --target …'
        : 'let pgshift replicate catch up first (pgshift replicate --until-caught-up), then run cutover again',
    },
  );
}
