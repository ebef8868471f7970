// `pgshift copy`: take the target's run lock, check everything before writing anything, take (or adopt) one
// snapshot, plan under it (planCopy), record the run in the target state, then execute the plan (executeCopy).
import { sameEndpoint, type ConnectionSpec } from '../config.js';
import { tableKey } from '../catalog/table-id.js';
import type { TableFilter } from '../catalog/filter.js';
import { connect, withClient, withTransaction, type Client } from '../db/connect.js';
import { parseServerIdentity, sameDatabase, serverIdentity, type ServerIdentity } from '../db/identity.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { roundTripCounts, setRoundTripPhase, type RoundTripCounts } from '../db/roundtrips.js';
import { exportSnapshot, type Snapshot } from '../db/snapshot.js';
import { classifyError, InterruptedError, UsageError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { Progress } from '../progress.js';
import { DumpFile } from '../schema/dump.js';
import { checkExtensions } from '../schema/extensions.js';
import * as state from '../state/store.js';
import { executeCopy } from './execute.js';
import { mayDumpEarly, startSchemaDump, type EarlyDump } from './early-dump.js';
import { planCopy, type CopyPlan } from './plan.js';
import { schemaPreflight } from './schema-preflight.js';
import { requireConnections, requireEmptyTables, requireEmptyTarget, requireReadable } from './preflight.js';
import { readSequences } from './sequences.js';
import { changedTables, sourceChangeCounters } from './staleness.js';
import { emptySummary, type CopySummary } from './summary.js';
import type { AnalyzeMode } from './analyze.js';
import type { CopyWireFormat } from './pipeline.js';

export type { CopySummary } from './summary.js';
export { ANALYZE_MODES, type AnalyzeMode } from './analyze.js';
export type { CopyMode } from './plan.js';
export { COPY_DEFAULTS, MIN_SPLIT_BYTES } from './plan.js';

export interface CopyOptions {
  jobs: number;
  indexJobs: number;
  resume: boolean;
  mode: state.CopyMode;
  filter: Partial<TableFilter>;
  /** Tables larger than this (heap + TOAST bytes) are split into chunks; 0 disables splitting. */
  splitBytes: number;
  pgBin?: string;
  keepOwner?: boolean;
  keepAcl?: boolean;
  /** When ANALYZE runs: overlapping the copy (default), at the end, or not at all. */
  analyze?: AnalyzeMode;
  /** COPY format on the wire: binary where safe (default), or text for every table (fewer bytes for narrow rows). */
  copyFormat?: CopyWireFormat;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
  /**
   * Read this snapshot instead of exporting one (replicate: the slot's). The caller keeps ownership until the
   * copy is done with it; copy closes it once the last reader has imported it.
   */
  snapshot?: Snapshot;
  /** The caller (replicate) already holds the target's run lock on its own connection: do not take it again. */
  runLockHeld?: boolean;
}

const RESUME_HINT = 'state is kept on the target: run the same command with --resume to finish';
const RERUN_HINT = 'nothing was written to the target yet: run the same command again';

export async function copyDatabase(source: ConnectionSpec, target: ConnectionSpec, opts: CopyOptions): Promise<CopySummary> {
  const logger = opts.logger ?? silentLogger;
  const progress = opts.progress ?? new Progress({ logger, quiet: true });
  const started = Date.now();
  const controller = new AbortController();
  let stateWritten = opts.resume;
  const onAbort = () => controller.abort(new InterruptedError('copy interrupted by signal', { phase: 'copy', hint: stateWritten ? RESUME_HINT : RERUN_HINT }));
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const summary = emptySummary(opts.mode, opts.resume);
  let snapshot: Snapshot | undefined = opts.snapshot;
  let ctl: Client | undefined;
  let earlyDump: EarlyDump | undefined;
  try {
    DumpFile.removeStale((message) => logger.warn(message));
    ctl = await connect(target, { applicationName: runApplicationName('copy') });
    // One writer per target: before reading the state, so a running copy is never taken for an interrupted one.
    if (!opts.runLockHeld) await acquireRunLock(ctl, { command: 'copy', side: 'target', display: target.display });
    const run = await state.loadRun(ctl);
    // A run that stopped before its run row was committed (even with the state schema made) recorded nothing:
    // there is nothing to resume, and the same command without --resume starts it over.
    if (opts.resume && !run)
      throw new UsageError('--resume: there is no pgshift copy to resume on this target; nothing was changed', {
        phase: 'preflight',
        hint: 'run the same command without --resume',
      });
    const resume = opts.resume;
    if (resume && run) {
      if (run.finishedAt) {
        logger.info('copy: this target already holds a finished copy; nothing to resume');
        return { ...summary, alreadyComplete: true, newSnapshot: false, seconds: (Date.now() - started) / 1000 };
      }
    } else if (run && !run.finishedAt) {
      throw new UsageError(`the target holds an interrupted pgshift copy (started ${run.startedAt.toISOString()} from ${run.source}); nothing was changed`, {
        phase: 'preflight',
        hint: 'finish it with the same command plus --resume, or remove it with pgshift cleanup --target … --force and copy into an emptied target',
      });
    } else if (opts.mode !== 'data-only') {
      await requireEmptyTarget(ctl, target.display);
    }
    // A resume repeats the first run's choices, whatever flags it was given.
    const resumed = resume && run ? run.options : undefined;
    const mode = resumed?.mode ?? opts.mode;
    const filter = resumed?.filter ?? opts.filter;
    summary.mode = mode;

    // Connections this run adds while the coordinator and the control connection stay open.
    await requireConnections(ctl, 'target', opts.jobs + (mode === 'full' ? opts.indexJobs : 0), '--jobs/--index-jobs', target.display);
    const t0 = Date.now();
    snapshot ??= await exportSnapshot(source, 'copy coordinator');
    const snap = snapshot.client;
    if (controller.signal.aborted) throw controller.signal.reason;
    const sourceId = await serverIdentity(snap);
    if (resume && run) await requireSameSource(run, sourceId, source);
    if (!resume && sameDatabase(sourceId, await serverIdentity(ctl))) {
      throw new UsageError(`source and target are the same database (${target.display}); nothing was changed`, {
        phase: 'preflight',
        hint: 'give the new, empty database as --target',
      });
    }
    await requireConnections(snap, 'source', opts.jobs, '--jobs', source.display);
    const schema = mode === 'data-only' ? undefined : await schemaPreflight(snap, ctl, { pgBin: opts.pgBin, command: 'copy', logger });
    const tools = schema?.tools;
    summary.pgDump = schema?.choice ?? null;
    // pg_dump under the snapshot from now on, beside the plan and the state's creation (early-dump.ts).
    if (tools && mayDumpEarly(resume, filter, opts.jobs)) earlyDump = startSchemaDump(tools, source, snapshot.id, controller.signal, logger);
    const extensions = tools ? await checkExtensions(snap, ctl, target.display) : undefined;
    setRoundTripPhase('plan');
    const plan = await planCopy(snap, { mode, filter, splitBytes: opts.splitBytes, jobs: opts.jobs });
    if (earlyDump && plan.excluded.tables.size > 0) {
      // Never expected without a filter; the dump must leave out what the plan leaves out, so it runs again.
      await earlyDump.cancel();
      earlyDump = undefined;
    }
    // Read at once: sequence reads are not transactional, so "as of the snapshot" means "right after exporting it".
    // On their own connection, so their locks do not pile up in the long snapshot transaction.
    const sequenceValues = await withClient(source, (c) => readSequences(c, plan.sequences), { applicationName: 'pgshift copy sequences', phase: 'sequences' });
    summary.phases.snapshot = (Date.now() - t0) / 1000;
    setRoundTripPhase('preflight');
    await requireReadable(snap, plan.data, source.user);
    if (mode === 'data-only' && !resume) await requireEmptyTables(ctl, plan.data);
    summary.tables = plan.data.length;

    // ---- state: nothing was written before this point
    const counters = await sourceChangeCounters(snap, plan.data);
    if (controller.signal.aborted) throw controller.signal.reason;
    stateWritten = true;
    if (!resume) {
      await state.ensureStateSchema(ctl);
      // One transaction: a run row exists only with its counters, so --resume never finds half a record.
      await withTransaction(ctl, async () => {
        await state.createRun(
          ctl!,
          source.display,
          { ...sourceId },
          { mode, filter, splitBytes: opts.splitBytes, jobs: opts.jobs, keepOwner: Boolean(opts.keepOwner), keepAcl: Boolean(opts.keepAcl) },
        );
        await state.saveSourceChanges(ctl!, counters);
      });
    } else {
      await state.ensureStateSchema(ctl);
      summary.staleTables = await reportStale(ctl, plan, counters, logger);
      await state.markResumed(ctl);
    }
    const steps = (await state.loadRun(ctl))!.steps;
    await executeCopy(plan, {
      source,
      target,
      ctl,
      snapshot,
      tools,
      sequenceValues,
      steps,
      resumed: resume,
      jobs: opts.jobs,
      indexJobs: opts.indexJobs,
      analyze: opts.analyze,
      copyFormat: opts.copyFormat,
      keepOwner: resumed?.keepOwner ?? opts.keepOwner,
      keepAcl: resumed?.keepAcl ?? opts.keepAcl,
      extensions,
      logger,
      progress,
      controller,
      summary,
      schemaDump: earlyDump,
    });
    summary.seconds = (Date.now() - started) / 1000;
    summary.roundTrips = roundTripCounts();
    logRoundTrips(logger, summary.roundTrips);
    return summary;
  } catch (err) {
    throw controller.signal.aborted && controller.signal.reason instanceof InterruptedError
      ? controller.signal.reason
      : classifyError(err, 'copy', {
          phase: 'copy',
          hint: stateWritten ? 'fix the cause, then run the same command with --resume' : 'fix the cause, then run the same command again',
        });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // A step before the copy took the dump failed: pg_dump must not outlive the run (it holds the snapshot).
    await earlyDump?.cancel();
    await snapshot?.close();
    await ctl?.end().catch(() => undefined);
  }
}

function logRoundTrips(logger: Logger, counts: RoundTripCounts): void {
  for (const side of ['source', 'target'] as const) {
    for (const [phase, n] of Object.entries(counts[side])) logger.debug({ side, phase, roundTrips: n }, `round trips: ${side} ${phase} ${n}`);
  }
}

async function requireSameSource(run: state.RunState, now: ServerIdentity, source: ConnectionSpec): Promise<void> {
  const then = parseServerIdentity(run.sourceIdentity);
  // Runs recorded before server identities were kept fall back to what their URL points at.
  const same = then ? sameDatabase(then, now) : await sameEndpoint(run.source, source);
  if (!same) {
    throw new UsageError(`--resume: the interrupted copy came from ${run.source}, which is not the database ${source.display} reaches; nothing was changed`, {
      phase: 'preflight',
      hint: 'pass the --source of the first run',
    });
  }
}

/** A resume reads a new snapshot: name the partly copied tables whose source rows changed since the first run. */
async function reportStale(ctl: Client, plan: CopyPlan, now: Awaited<ReturnType<typeof sourceChangeCounters>>, logger: Logger): Promise<string[]> {
  const chunks = await state.loadChunks(ctl);
  const started = new Set(chunks.filter((c) => c.done).map(tableKey));
  const stale = changedTables(await state.loadSourceChanges(ctl), now).filter((k) => started.has(k));
  const names = plan.data.filter((t) => stale.includes(tableKey(t))).map((t) => t.display);
  logger.warn('copy: resuming — data copied from now on comes from a new snapshot of the source; finished chunks are kept.');
  if (names.length) {
    logger.warn(
      `copy: the source changed since the first run in ${names.join(', ')}: rows copied earlier may be stale. Run pgshift verify after writes are frozen; it decides.`,
    );
  }
  return names;
}
