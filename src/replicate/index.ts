// `pgshift replicate`: preflight → record slot + publication names in the target state → publication, slot
// with an exported snapshot → initial copy under that snapshot → stream from the slot's consistent point,
// applying each change exactly once. A second run resumes from the position persisted on the target.
// --until-caught-up: stop once every change up to the source's WAL position at the moment of the check is
// applied, then set the sequences and restore what was switched off on the target.
import { randomBytes } from 'node:crypto';
import type { ConnectionSpec } from '../config.js';
import type { TableFilter } from '../catalog/filter.js';
import { syncSequences } from '../copy/sequences.js';
import { requireEmptyTarget } from '../copy/preflight.js';
import type { CopySummary } from '../copy/index.js';
import { classifyError, errorCode, InterruptedError, PgshiftError, StoppedError, UsageError } from '../errors.js';
import { acquireApplyLock } from '../db/lock.js';
import type { Client } from '../db/connect.js';
import { silentLogger, type Logger } from '../log.js';
import { schemaPreflight } from '../copy/schema-preflight.js';
import type { Progress } from '../progress.js';
import { Applier } from './apply/applier.js';
import { restoreSwitches, switchOff, type Switched } from './apply/switches.js';
import { Control } from './control.js';
import { initialCopy } from './initial.js';
import { refreshAtFinish, type MatviewRefresh } from './matviews.js';
import { SourceWriteMeter, type SourceWrites } from './source-writes.js';
import { LagMeter, type LagSample } from './lag.js';
import type { Metrics } from './metrics.js';
import { formatLsn } from './pgoutput/lsn.js';
import { slotInfo, publicationExists } from './pgoutput/slot.js';
import { PgoutputSource } from './pgoutput/source.js';
import { planReplication } from './preflight.js';
import { checkTruncatedPartitions, recordPartitionFiles } from './partition-truncate.js';
import { newTablesError, newTablesWarning, publishedTables, recordFilter, unpublishedTables, widenExclude } from './new-tables.js';
import { ensureReplicationState, loadReplication, markCaughtUp, recordFixedIdentity, recordReplication, type ReplicationState } from './state.js';
import { sleep } from '../sleep.js';

export interface ReplicateOptions {
  untilCaughtUp: boolean;
  maxLagBytes?: number;
  maxLagSeconds?: number;
  /** --until-caught-up gives up (exit 1) after this many seconds. */
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
  slot?: string;
  publication?: string;
  fixReplicaIdentity: boolean;
  /** --until-caught-up's finish refreshes the materialized views populated on the source (default true). */
  refreshMatviews?: boolean;
  /** ADD COLUMN (nullable, no default) and DROP COLUMN on the source are applied to the target (writer.ts). */
  applyDdl?: boolean;
  /** Transactions larger than the source's logical_decoding_work_mem are applied while they run (PG ≥ 14). */
  streamLargeTransactions?: boolean;
  metricsPort?: number;
  /** Address the metrics server binds (default 127.0.0.1). */
  metricsHost?: string;
  /** How often lag is sampled and reported. */
  statusIntervalMs?: number;
  logger: Logger;
  progress?: Progress;
  /** Called with every lag sample (the CLI draws a status line or logs it). */
  onStatus?: (s: LagSample) => void;
  signal: AbortSignal;
}

export interface ReplicateSummary {
  ok: boolean;
  caughtUp: boolean;
  /** --until-caught-up gave up at --timeout (exit 1). */
  timedOut: boolean;
  appliedLsn: string;
  sourceLsn: string;
  lagBytes: number;
  lagSeconds: number;
  transactions: number;
  changes: number;
  seconds: number;
  slot: string;
  publication: string;
  /** How this run began: fresh initial copy, finished/redone an interrupted one, or resumed streaming. */
  start: 'fresh' | 'resumed' | 'recopied' | 'none';
  initialCopy: CopySummary | null;
  reconnects: number;
  missingRows: number;
  /** Transactions applied while they were still running on the source (streamed), among `transactions`. */
  streamedTransactions: number;
  sequences: number;
  restored: Switched | null;
  /** Materialized views refreshed by the finish, and how long it took (null: not refreshed). */
  matviews: MatviewRefresh | null;
  /** --until-caught-up: the source position everything was applied up to, when it was read, the last commit applied. */
  caughtUpTo: { position: string; at: string; lastCommit: string | null } | null;
  /** Rows written to the replicated tables on the source around the catch-up and finish (null: not measured). */
  sourceWrites: SourceWrites | null;
  notReplicated: string[];
  metricsPort: number | null;
}

const RETAINED_WARN_BYTES = 1024 ** 3;

export async function replicate(source: ConnectionSpec, target: ConnectionSpec, opts: ReplicateOptions): Promise<ReplicateSummary> {
  const started = Date.now();
  const { logger } = opts;
  // --log-level debug: how long each step of the run took (where a run's fixed cost goes).
  const step = (what: string) => logger.debug({ ms: Date.now() - started }, `replicate: ${what}`);
  let control: Control | undefined;
  let pgSource: PgoutputSource | undefined;
  let metrics: Metrics | undefined;
  try {
    // One writer per target for the whole run (the initial copy runs under it: runLockHeld).
    control = await Control.open(target, source, logger);
    const ctl = control.targetClient;
    const src = control.sourceClient;
    step('connected to both sides, target locked');

    // ---- preflight: nothing created until it passes
    let state = await loadReplication(ctl);
    if (state) {
      await ensureReplicationState(ctl); // idempotent: brings the apply function up to this version
      if (state.source !== source.display) {
        throw new UsageError(`the target ${target.display} is replicating from ${state.source}, not ${source.display}; nothing was changed`, {
          phase: 'preflight',
          hint: 'pass the same --source as the first run, or remove that replication first (pgshift cleanup --source … --target …)',
        });
      }
      for (const [flag, want, have] of [
        ['--slot', opts.slot, state.slot],
        ['--publication', opts.publication, state.publication],
      ] as const) {
        if (want && want !== have)
          throw new UsageError(`${flag} ${want}: this target's replication uses ${have}`, {
            phase: 'preflight',
            hint: `drop ${flag} (the recorded name is used), or pgshift cleanup first`,
          });
      }
    } else {
      await requireEmptyTarget(ctl, target.display);
    }
    let filter = state ? ((state.options.filter as Partial<TableFilter>) ?? {}) : opts.filter;
    // A rerun's publication: what is replicated (tables created since are not, see new-tables.ts).
    const published = state?.copyDone ? await publishedTables(src, state.publication) : undefined;
    if (state && opts.filter.include?.length) logger.warn('replicate: --include is taken from the first run; the one given now is ignored');
    if (state && opts.filter.exclude?.length) {
      filter = widenExclude(
        filter,
        opts.filter.exclude,
        [...(published ?? [])].map((p) => ({ schema: p.slice(0, p.indexOf('.')), name: p.slice(p.indexOf('.') + 1) })),
      );
      await recordFilter(ctl, 'replication', filter);
    }
    const plan = await planReplication(src, source, { filter, fixReplicaIdentity: opts.fixReplicaIdentity, newRun: !state, logger, published });
    // The source's writes are watched from here on: the longer the window, the fewer it misses (statistics lag ~1 s).
    const writes = new SourceWriteMeter(plan.relations);
    await writes.sample(src);
    if (published) {
      const gaps = await unpublishedTables(src, ctl, state!.publication, filter, published);
      // A partition the target lacks fails the apply of its first row: stop now, with the statement.
      if (gaps.partitions.length) throw newTablesError('pgoutput', gaps.tables, gaps.partitions, 'preflight');
      if (gaps.tables.length) logger.warn(newTablesWarning('pgoutput', gaps.tables));
    }
    for (const t of plan.notReplicated) logger.warn(`replicate: ${t} is copied once but its later changes are not replicated (unlogged or foreign table)`);
    if (!state) {
      const suffix = randomBytes(4).toString('hex');
      const slot = opts.slot ?? `pgshift_${suffix}`;
      const publication = opts.publication ?? `pgshift_${suffix}`;
      if (await slotInfo(src, slot))
        throw new UsageError(`a replication slot named ${slot} already exists on the source; nothing was created`, {
          phase: 'preflight',
          hint: 'choose another --slot, or drop it on the source if nothing uses it',
        });
      if (await publicationExists(src, publication))
        throw new UsageError(`a publication named ${publication} already exists on the source; nothing was created`, {
          phase: 'preflight',
          hint: 'choose another --publication, or drop it on the source if nothing uses it',
        });
      // The initial copy's pg_dump and what it cannot restore, before a slot exists (its copy logs the warnings).
      await schemaPreflight(src, ctl, { pgBin: opts.pgBin, command: 'replicate', logger: silentLogger });
      // Recorded BEFORE anything is created on the source: cleanup always finds them.
      await ensureReplicationState(ctl);
      await recordReplication(ctl, { source: source.display, slot, publication, options: { filter, jobs: opts.jobs } });
      state = (await loadReplication(ctl))!;
    } else if (!(await slotInfo(src, state.slot)) && state.copyDone) {
      throw new UsageError(
        `the replication slot ${state.slot} recorded on the target no longer exists on the source: changes since ${state.appliedPosition === null ? '?' : formatLsn(state.appliedPosition)} are lost to this replication`,
        {
          phase: 'preflight',
          hint: 'start over: pgshift cleanup --source … --target …, empty the target database, and run pgshift replicate again',
        },
      );
    }
    const current = state as ReplicationState;
    // A change left on the source, named by cleanup with the statement that undoes it.
    await recordFixedIdentity(ctl, plan.fixedIdentity);
    step('preflight done');

    // Partitions' files before the copy: a TRUNCATE of one is not replicated (partition-truncate.ts).
    await recordPartitionFiles(src, ctl, plan.relations);

    // ---- initial copy (or what is left of an interrupted one)
    const init = await initialCopy({
      source,
      target,
      src,
      ctl,
      state: current,
      relations: plan.relations,
      logger,
      copy: {
        jobs: opts.jobs,
        indexJobs: opts.indexJobs,
        filter,
        splitBytes: opts.splitBytes,
        pgBin: opts.pgBin,
        logger,
        progress: opts.progress,
        signal: opts.signal,
      },
    });
    if (opts.signal.aborted) throw new InterruptedError('replicate interrupted by signal', { hint: 'run the same command again to continue' });
    step(`initial copy: ${init.how}`);

    // ---- streaming
    const { rows: onTarget } = await ctl.query(`SELECT r FROM unnest($1::text[]) r WHERE to_regclass(r) IS NOT NULL`, [plan.relations]);
    const applied = onTarget.map((r) => r.r as string);
    const switched = await switchOff(ctl, applied);
    if (switched.triggers + switched.foreignKeys + switched.identities > 0) {
      logger.info(
        `replicate: on the target while applying: ${switched.triggers} user triggers disabled, ${switched.foreignKeys} foreign keys dropped, ${switched.identities} identity ALWAYS columns set BY DEFAULT (recorded in pgshift.replication_switch; restored by --until-caught-up or pgshift cleanup)`,
      );
    }
    step('target triggers and foreign keys switched off');
    pgSource = new PgoutputSource(source, current.slot, current.publication, { applyDdl: opts.applyDdl, streaming: opts.streamLargeTransactions !== false });
    const at = (await loadReplication(ctl))!;
    const hold = control;
    const applier = new Applier(target, pgSource, {
      logger,
      formatPosition: formatLsn,
      initial: { position: at.appliedPosition ?? 0n, commitTime: at.appliedCommitTime },
      // Every (re)connection of the applier: this run still holds the target, and no other applier is alive.
      onConnect: async (client) => {
        await hold.holdTarget();
        await acquireApplyLock(client, target.display);
      },
    });
    let metricsPort: number | null = null;
    if (opts.metricsPort !== undefined) {
      // prom-client is loaded only when metrics are asked for (start-up time).
      metrics = new (await import('./metrics.js')).Metrics();
      const host = opts.metricsHost ?? '127.0.0.1';
      metricsPort = await metrics.listen(opts.metricsPort, host);
      logger.info(`replicate: metrics on http://${host.includes(':') ? `[${host}]` : host}:${metricsPort}/metrics, health on /healthz`);
    }
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    let failure: unknown;
    const running = applier.run(stop.signal).catch((err) => {
      failure = err;
      throw err;
    });
    // Made once: a reaction added to `running` on every 10 ms wait would live until the run ends.
    const settled = running.catch(() => undefined);
    const meter = new LagMeter();
    let caughtUp = false;
    let lastSample: LagSample | undefined;
    let lastRetainedWarn = 0;
    const sample = async () => {
      // The run lock is re-taken if its connection was lost (another run may not start beside this one); a
      // target still down is the applier's to retry.
      await hold.holdTarget().catch((err) => {
        if (err instanceof UsageError) throw err;
      });
      const pos = await pgSource!.currentPosition().catch(() => lastSample?.sourcePosition ?? 0n);
      const retained = await pgSource!.retainedBytes();
      lastSample = meter.sample(applier.stats, pos, retained);
      const srcNow = await hold.holdSource().catch(() => undefined);
      if (srcNow) await writes.sample(srcNow);
      metrics?.update(lastSample, caughtUp);
      opts.onStatus?.(lastSample);
      if (retained !== null && retained > RETAINED_WARN_BYTES && Date.now() - lastRetainedWarn > 60_000) {
        lastRetainedWarn = Date.now();
        logger.warn(
          `replicate: slot ${current.slot} retains ${(retained / 1024 ** 3).toFixed(1)} GB of WAL on the source; if replication stalls it can fill the source's disk (pgshift cleanup drops the slot)`,
        );
      }
      return lastSample;
    };

    const deadline = opts.timeoutSeconds !== undefined ? started + opts.timeoutSeconds * 1000 : Infinity;
    const interval = opts.statusIntervalMs ?? 5000;
    let timedOut = false;
    // --until-caught-up reports the position it caught up to: the source's WAL keeps moving afterwards (other
    // databases of the cluster, checkpoints) with nothing of ours left to apply.
    let caughtSample: LagSample | undefined;
    try {
      let nextStatus = 0;
      let target_: bigint | null = null;
      while (!applier.stopped && failure === undefined) {
        if (Date.now() >= nextStatus) {
          await sample();
          nextStatus = Date.now() + interval;
        }
        if (opts.untilCaughtUp) {
          // The check: the source's position now; caught up once everything up to it is applied.
          target_ ??= await pgSource.currentPosition();
          pgSource.ping();
          if (applier.stats.reachedPosition >= target_) {
            const s = await sample();
            const withinBytes = opts.maxLagBytes === undefined || s.lagBytes <= opts.maxLagBytes;
            const withinSeconds = opts.maxLagSeconds === undefined || s.lagSeconds <= opts.maxLagSeconds;
            if (withinBytes && withinSeconds) {
              caughtUp = true;
              // Reported against the position checked (everything up to it is applied), not the sample's later one.
              caughtSample = { ...s, sourcePosition: target_, lagBytes: 0 };
              break;
            }
            target_ = null;
          }
          if (Date.now() >= deadline) {
            timedOut = true;
            break;
          }
        }
        // --until-caught-up checks often: the run ends within ~10 ms of catching up (a run's fixed cost).
        await Promise.race([settled, sleep(opts.untilCaughtUp ? 10 : 1000)]);
      }
    } finally {
      applier.stop();
      await running.catch(() => undefined);
      opts.signal.removeEventListener('abort', onAbort);
    }
    // Either control connection may have been lost while streaming: re-opened (the lock re-taken), not fatal.
    if (failure !== undefined) {
      const explained = await Promise.all([hold.holdSource(), hold.holdTarget()])
        .then(([s, t]) => explainFailure(failure, s, t, current.publication, filter, plan.relations))
        .catch(() => undefined);
      throw explained ?? failure;
    }
    if (caughtUp) {
      // Never "caught up" while a table of the selection is missing (created on the source since the start).
      const [srcNow, tgtNow] = [await hold.holdSource(), await hold.holdTarget()];
      const gaps = await unpublishedTables(srcNow, tgtNow, current.publication, filter);
      if (gaps.tables.length || gaps.partitions.length) throw newTablesError('pgoutput', gaps.tables, gaps.partitions);
      await checkTruncatedPartitions(srcNow, tgtNow, plan.relations);
    }
    const final = caughtSample ?? (await sample());
    step(caughtUp ? 'caught up, applier stopped' : 'applier stopped');

    // ---- finish (--until-caught-up): sequences, then what was switched off
    let sequences = 0;
    let restored: Switched | null = null;
    let matviews: MatviewRefresh | null = null;
    if (caughtUp && opts.finish !== false) {
      const [tgtNow, srcNow] = [await hold.holdTarget(), await hold.holdSource()];
      sequences = await syncSequences(srcNow, tgtNow);
      restored = await restoreSwitches(tgtNow, { target, jobs: opts.indexJobs, deferChecks: opts.deferForeignKeyChecks });
      if (opts.refreshMatviews !== false) matviews = await refreshAtFinish(srcNow, tgtNow);
      await markCaughtUp(tgtNow);
      await writes.sample(srcNow);
      step('sequences set, target switches restored');
    }
    metrics?.update(final, caughtUp);
    const summary: ReplicateSummary = {
      ok: !timedOut,
      caughtUp,
      timedOut,
      appliedLsn: formatLsn(applier.stats.reachedPosition),
      // A keepalive can carry the applied position past the source position sampled before it: never shown behind.
      sourceLsn: formatLsn(final.sourcePosition > applier.stats.reachedPosition ? final.sourcePosition : applier.stats.reachedPosition),
      lagBytes: final.lagBytes,
      lagSeconds: final.lagSeconds,
      transactions: applier.stats.transactions,
      changes: applier.stats.changes,
      seconds: (Date.now() - started) / 1000,
      slot: current.slot,
      publication: current.publication,
      start: init.how,
      initialCopy: init.copy,
      reconnects: applier.stats.reconnects,
      missingRows: applier.stats.missingRows,
      streamedTransactions: applier.stats.streamed,
      sequences,
      restored,
      matviews,
      caughtUpTo: caughtSample
        ? {
            position: formatLsn(caughtSample.sourcePosition),
            at: caughtSample.at.toISOString(),
            lastCommit: applier.stats.lastCommitTime?.toISOString() ?? null,
          }
        : null,
      sourceWrites: caughtUp ? writes.report() : null,
      notReplicated: plan.notReplicated,
      metricsPort,
    };
    return summary;
  } catch (err) {
    throw classifyError(err, 'replicate', { phase: 'replicate', hint: 'fix the cause, then run the same command again (it resumes from the target state)' });
  } finally {
    await metrics?.close();
    await pgSource?.close();
    await control?.end();
  }
}

/**
 * An apply failure that a table created or truncated on the source explains, as the stop that names it (exit 1):
 * a row for a partition the target lacks (routed through the root: 23514; or announced under its own name: the
 * target has no such table), or a unique key hit by rows written again into a partition whose TRUNCATE was not
 * replicated (23505). undefined: the failure stands as it is (also when the check itself fails).
 */
async function explainFailure(
  failure: unknown,
  src: Client,
  ctl: Client,
  publication: string,
  filter: Partial<TableFilter>,
  relations: string[],
): Promise<unknown> {
  const code = errorCode(failure);
  const object = failure instanceof PgshiftError && !(failure instanceof StoppedError) ? failure.object : undefined;
  try {
    if (code === '23514' || object !== undefined) {
      const gaps = await unpublishedTables(src, ctl, publication, filter);
      if (gaps.partitions.length && (code === '23514' || gaps.partitions.some((p) => p.display === object)))
        return newTablesError('pgoutput', gaps.tables, gaps.partitions, 'streaming');
    }
    if (code === '23505') await checkTruncatedPartitions(src, ctl, relations, true);
  } catch (err) {
    if (err instanceof StoppedError) return err;
  }
  return undefined;
}
