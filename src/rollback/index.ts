// `pgshift rollback --source OLD --target NEW` (the URLs of the cutover): back to the old database without losing
// what the application wrote to the new one since the cutover --reverse. The reverse stream (NEW → OLD, recorded
// on OLD) is caught up (nothing frozen yet) → the NEW side frozen with the cutover's freeze code (recorded on OLD
// first) → caught up to the freeze point → finished on OLD (sequences from NEW, triggers, identities, foreign keys
// NOT VALID) → verified (changed since the cutover's proof by default) → the OLD side unfrozen, its own setting
// put back exactly (recorded first) → the foreign keys validated. The NEW side stays frozen: the application goes
// back to OLD. A crash at any step leaves the record: a rerun resumes, `rollback --abort` unfreezes NEW (abort.ts),
// so both sides are never left frozen with nobody to unfreeze them.
import type { ConnectionSpec } from '../config.js';
import { connect, type Client } from '../db/connect.js';
import { acquireRunLock, describeHolder, runApplicationName, targetRunHolder } from '../db/lock.js';
import { classifyError, PgshiftError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { CatchUpTimeout } from '../replicate/index.js';
import { startEngine, type ReplicationRun } from '../cutover/engine.js';
import { allowWrites, endOpenSessions, readOnlyBefore, restoreSourceSetting, setSourceReadOnly, type SessionSeen } from '../cutover/freeze.js';
import { validateOwed, type OwedForeignKeys } from '../cutover/engine.js';
import type { TimelineStep } from '../cutover/index.js';
import { proofScope, proveInsideFreeze, replicatedTables, type VerifyOutcome } from '../cutover/proof.js';
import { sideAs, writable } from '../cutover/reverse.js';
import { recordUnfrozen } from '../cutover/state.js';
import { quoteIdent } from '../db/ident.js';
import { migrateState } from '../state/migrations.js';
import { loadReverse, recordNewFreezing, recordOldUnfrozen, recordRollbackStep, type ReverseState, type RollbackStep } from './state.js';

export interface RollbackOptions {
  graceSeconds: number;
  verify: 'changed' | 'full' | 'none';
  maxLagSeconds: number;
  catchUpTimeoutSeconds: number;
  indexJobs: number;
  verifyJobs: number;
  logger: Logger;
  signal: AbortSignal;
}

export interface RollbackReport {
  ok: boolean;
  verdict: 'rolled back' | 'different' | 'already done';
  capture: 'pgoutput' | 'triggers';
  resumed: boolean;
  timeline: Array<Omit<TimelineStep, 'step'> & { step: TimelineStep['step'] | 'unfreeze' }>;
  /** Seconds during which neither side took the application's writes (from the new side's freeze to the old one's unfreeze). */
  frozenSeconds: number | null;
  terminated: SessionSeen[];
  notTerminated: SessionSeen[];
  verify: VerifyOutcome | null;
  foreignKeys: OwedForeignKeys | null;
  oldWritable: boolean;
  newReadOnly: boolean;
  next: string[];
}

/** Test hook: SIGKILL this process when the rollback reaches the named step (each recorded first). */
function faultPoint(step: string): void {
  if (process.env.PGSHIFT_ROLLBACK_KILL_AT === step) process.kill(process.pid, 'SIGKILL');
}

/** The statements that make a database writable again as it was (what --abort would run; a new session there starts read-only). */
export function undoFreezeStatement(database: string, before: string | null): string {
  const alter =
    before === null
      ? `ALTER DATABASE ${quoteIdent(database)} RESET default_transaction_read_only;`
      : `ALTER DATABASE ${quoteIdent(database)} SET default_transaction_read_only = ${before};`;
  return `BEGIN READ WRITE; ${alter} COMMIT;`;
}

/** The reverse stream recorded on the old side, checked against --target (refused, exit 2, when there is none). */
export async function reverseOf(ctl: Client, old: ConnectionSpec, neu: ConnectionSpec, command: string): Promise<ReverseState> {
  const r = await loadReverse(ctl);
  if (!r || r.setUpAt === null)
    throw new UsageError(`${command}: no reverse stream is recorded on ${old.display}; nothing was changed`, {
      phase: 'preflight',
      hint: 'a rollback needs the reverse stream that pgshift cutover --reverse sets up (after it, writes on the target flow back); without it, before anything wrote the target: pgshift cutover --abort',
    });
  if (r.newSide !== neu.display)
    throw new UsageError(`${command}: the reverse stream recorded on ${old.display} comes from ${r.newSide}, not ${neu.display}; nothing was changed`, {
      phase: 'preflight',
      hint: 'pass the --target of the cutover',
    });
  return r;
}

export async function runRollback(source: ConnectionSpec, target: ConnectionSpec, opts: RollbackOptions): Promise<RollbackReport> {
  const { logger } = opts;
  // OLD (--source) is the reverse stream's target, NEW (--target) its source; pgshift's sessions on OLD write through its freeze.
  const oldSpec = writable(sideAs(source, 'target'));
  const newSpec = sideAs(target, 'source');
  let ctl: Client | undefined;
  let neu: Client | undefined;
  let engine: ReplicationRun | undefined;
  let finished = false;
  try {
    ctl = await connect(oldSpec, { applicationName: runApplicationName('rollback') });
    await acquireRunLock(ctl, { command: 'rollback', side: 'cutover', display: source.display });
    await migrateState(ctl, 'the source');
    const rev = await reverseOf(ctl, source, target, 'rollback');
    const holder = await targetRunHolder(ctl);
    if (holder)
      throw new UsageError(`rollback: the reverse stream is running into ${source.display} (${describeHolder(holder)}); nothing was frozen`, {
        phase: 'preflight',
        hint: 'stop it (Ctrl-C): rollback drives the reverse stream itself',
      });
    if (rev.step === 'done') return { ...(rev.report as RollbackReport), verdict: 'already done', resumed: true };
    neu = await connect(newSpec, { applicationName: 'pgshift rollback' });
    await allowWrites(neu);
    const { capture } = rev;
    const tables = await replicatedTables(neu, ctl, capture);
    const resumed = rev.newFrozen && rev.step !== 'aborted' && rev.step !== 'streaming';
    const report: RollbackReport =
      resumed && (rev.step === 'unfreeze' || rev.step === 'validate') && rev.report
        ? { ...(rev.report as RollbackReport), resumed: true }
        : {
            ok: false,
            verdict: 'rolled back',
            capture,
            resumed,
            timeline: [],
            frozenSeconds: null,
            terminated: [],
            notTerminated: [],
            verify: null,
            foreignKeys: null,
            oldWritable: !rev.oldFrozen,
            newReadOnly: rev.newFrozen,
            next: [],
          };
    const catchUpMs = opts.catchUpTimeoutSeconds * 1000;
    const catchUp = async (maxLagSeconds?: number): Promise<number> => {
      const t0 = Date.now();
      try {
        await engine!.catchUp({ timeoutMs: catchUpMs, maxLagSeconds });
      } catch (err) {
        if (err instanceof CatchUpTimeout) throw notCaughtUp(opts.catchUpTimeoutSeconds, resumed || report.newReadOnly);
        throw err;
      }
      return (Date.now() - t0) / 1000;
    };
    const start = () => startEngine(newSpec, oldSpec, { capture, logger, signal: opts.signal, indexJobs: opts.indexJobs });
    let frozenAt = rev.frozenAt?.getTime() ?? Date.now();

    if (rev.step !== 'unfreeze' && rev.step !== 'validate') {
      if (!resumed) {
        // ---- before the freeze: nothing irreversible
        await recordRollbackStep(ctl, 'preflight', report);
        logger.info(`rollback: catching up with the reverse stream until the lag is under ${opts.maxLagSeconds} s (nothing frozen yet)`);
        engine = await start();
        await catchUp(opts.maxLagSeconds);
        // ---- the freeze of the new side: recorded before it is touched
        await recordNewFreezing(ctl, await readOnlyBefore(neu));
        frozenAt = Date.now();
        faultPoint('freeze');
      }
      const t0 = Date.now();
      await setSourceReadOnly(neu, rev.newDatabase);
      report.newReadOnly = true;
      const ended = await endOpenSessions(neu, opts.graceSeconds * 1000, opts.signal);
      report.terminated = ended.terminated;
      report.notTerminated = ended.notTerminated;
      report.timeline.push({
        step: 'freeze',
        predictedSeconds: null,
        seconds: resumed ? (Date.now() - t0) / 1000 : (Date.now() - frozenAt) / 1000,
        detail: `target read-only for new sessions; ${ended.terminated.length} session(s) terminated, ${ended.notTerminated.length} could not be`,
      });
      for (const s of ended.notTerminated) logger.warn(`rollback: could not terminate pid ${s.pid} on the target (${s.reason}): it may still write there`);

      // ---- catch up to the freeze point, finish on the old side
      await step(ctl, 'catch-up');
      engine ??= await start();
      report.timeline.push({
        step: 'catch-up',
        predictedSeconds: null,
        seconds: await catchUp(),
        detail: 'every change the target took is applied on the source',
      });
      const scope = opts.verify === 'changed' ? await proofScope(ctl, tables, 'changed') : null;
      await step(ctl, 'finish');
      const t = Date.now();
      finished = true;
      const fin = await engine.finish();
      const r = fin.restored;
      report.timeline.push({
        step: 'finish',
        predictedSeconds: null,
        seconds: (Date.now() - t) / 1000,
        detail: `${fin.sequences} sequences set from the target; ${r?.triggers ?? 0} triggers, ${r?.identities ?? 0} identities, ${r?.foreignKeys ?? 0} foreign keys (NOT VALID) put back`,
      });

      // ---- the proof: the old side equals the new one
      await step(ctl, 'verify');
      if (opts.verify !== 'none') {
        report.verify = await proveInsideFreeze(newSpec, oldSpec, tables, scope, opts.verifyJobs, ctl, logger);
        report.timeline.push({
          step: 'verify',
          predictedSeconds: null,
          seconds: report.verify.seconds,
          detail: `${report.verify.tables} table(s)${report.verify.fallback ? ` (${report.verify.fallback})` : ''}: ${report.verify.ok ? 'equal' : 'DIFFERENT'}`,
        });
        if (!report.verify.ok) {
          report.verdict = 'different';
          report.frozenSeconds = (Date.now() - frozenAt) / 1000;
          report.next = [
            'BOTH sides are kept read-only: the source does not equal the target; nothing was switched',
            'fix the differences named above on the source, then run the same pgshift rollback again (it resumes inside the freeze)',
            'or stay on the target: pgshift rollback --abort --source … --target … (the target takes writes again)',
          ];
          await recordRollbackStep(ctl, 'different', report);
          return report;
        }
      }
    }

    // ---- the old side takes writes again (recorded first), its own setting put back exactly
    await recordRollbackStep(ctl, 'unfreeze', report);
    faultPoint('unfreeze');
    if (rev.oldFrozen) {
      const { rows } = await ctl.query(`SELECT current_database() AS d`);
      if (rows[0].d !== rev.oldDatabase)
        throw new UsageError(`rollback: the cutover froze database ${rev.oldDatabase}, --source names ${rows[0].d}`, {
          phase: 'unfreeze',
          hint: 'pass the --source URL of the cutover',
        });
      await restoreSourceSetting(ctl, rev.oldDatabase, rev.oldReadOnlyBefore);
      await recordOldUnfrozen(ctl);
    }
    // The cutover's record on the new side: its freeze of the old side is undone.
    if ((await neu!.query(`SELECT to_regclass('pgshift.cutover') IS NOT NULL AS ok`)).rows[0].ok) await recordUnfrozen(neu!, 'rolled-back');
    report.oldWritable = true;
    report.frozenSeconds ??= (Date.now() - frozenAt) / 1000;
    if (!report.timeline.some((s) => s.step === 'unfreeze'))
      report.timeline.push({
        step: 'unfreeze',
        predictedSeconds: null,
        seconds: 0,
        detail: rev.oldFrozen
          ? `source database ${rev.oldDatabase}: default_transaction_read_only ${rev.oldReadOnlyBefore === null ? 'reset' : `set back to ${rev.oldReadOnlyBefore}`}`
          : 'the source was not frozen by pgshift (--freeze wait): the team resumes its writes',
      });
    report.ok = true;
    report.verdict = 'rolled back';
    report.next = [
      'the source takes writes again: point the application back at it now (switch DATABASE_URL)',
      `the target stays read-only; to make it writable again, on the target: ${undoFreezeStatement(rev.newDatabase, rev.newReadOnlyBefore)}`,
      'pgshift cleanup --source … --target … removes the reverse stream and pgshift\u2019s state on both sides (it never unfreezes the target)',
    ];
    await step(ctl, 'validate', report);
    report.foreignKeys = await validateOwed(ctl, oldSpec, opts.indexJobs);
    if (report.foreignKeys.failure) report.next.unshift(`a foreign key did not validate on the source: ${report.foreignKeys.failure}`);
    await recordRollbackStep(ctl, 'done', report);
    return report;
  } catch (err) {
    throw classifyError(err, 'rollback', {
      phase: 'rollback',
      hint: 'fix the cause, then run the same pgshift rollback again (it resumes a freeze it recorded), or undo it: pgshift rollback --abort',
    });
  } finally {
    if (!finished) await engine?.stop().catch(() => undefined);
    await Promise.all([neu?.end().catch(() => undefined), ctl?.end().catch(() => undefined)]);
  }

  async function step(c: Client, s: RollbackStep, report?: RollbackReport): Promise<void> {
    await recordRollbackStep(c, s, report);
    faultPoint(s);
  }
}

function notCaughtUp(seconds: number, frozen: boolean): PgshiftError {
  return new PgshiftError(
    `rollback: the reverse stream did not catch up within ${seconds} s${frozen ? '; the target is KEPT frozen' : '; nothing was frozen'}`,
    {
      phase: 'catch-up',
      hint: frozen
        ? 'run the same pgshift rollback again (it resumes inside the freeze), or undo it: pgshift rollback --abort --source … --target …'
        : 'let the reverse stream catch up first (pgshift replicate --source <target> --target <source>), then run rollback again',
    },
  );
}
