// Change source 1: logical replication (pgoutput). Preflight → slot and publication names recorded in the target
// state → publication, slot with an exported snapshot → initial copy under that snapshot (initial.ts) → the
// slot's stream from the position persisted on the target, applied by the Applier (apply/applier.ts) exactly once.
// Position: the commit's end LSN.
import { randomBytes } from 'node:crypto';
import type { TableFilter } from '../../catalog/filter.js';
import { requireEmptyTarget } from '../../copy/preflight.js';
import { schemaPreflight } from '../../copy/schema-preflight.js';
import type { Client } from '../../db/connect.js';
import { errorCode, PgshiftError, StoppedError, UsageError } from '../../errors.js';
import { silentLogger } from '../../log.js';
import { Applier } from '../apply/applier.js';
import { initialCopy } from '../initial.js';
import { LagMeter, type LagSample } from '../lag.js';
import type { Metrics } from '../metrics.js';
import { newTablesError, newTablesWarning, publishedTables, recordFilter, unpublishedTables, widenExclude } from '../new-tables.js';
import { checkTruncatedPartitions, recordPartitionFiles } from '../partition-truncate.js';
import { planReplication } from '../preflight.js';
import { SourceWriteMeter } from '../source-writes.js';
import type { ChangeSource, EndOfRun, Mark, Sample, SourceContext, StartKind } from '../source.js';
import {
  ensureReplicationState,
  loadReplication,
  markCaughtUp,
  recordFixedIdentity,
  recordReplication,
  type ReplicationState,
} from '../../state/replication.js';
import { formatLsn } from './lsn.js';
import { publicationExists, slotInfo } from './slot.js';
import { PgoutputSource } from './source.js';

const RETAINED_WARN_BYTES = 1024 ** 3;

export class PgoutputChangeSource implements ChangeSource<LagSample> {
  readonly capture = 'pgoutput' as const;
  private state!: ReplicationState;
  private filter: Partial<TableFilter> = {};
  private relations: string[] = [];
  private notReplicated: string[] = [];
  private writes!: SourceWriteMeter;
  private stream?: PgoutputSource;
  private applier?: Applier;
  private metrics?: Metrics;
  private metricsPort: number | null = null;
  private readonly meter = new LagMeter();
  private lastPosition = 0n;
  private lastRetainedWarn = 0;
  private caughtUp = false;

  constructor(private readonly ctx: SourceContext) {}

  async prepare(): Promise<void> {
    const { source, target, control, opts, logger } = this.ctx;
    const ctl = control.targetClient;
    const src = control.sourceClient;
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
    let filter = state ? state.options.filter : opts.filter;
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
    const plan = await planReplication(src, source, { filter, fixReplicaIdentity: Boolean(opts.fixReplicaIdentity), newRun: !state, logger, published });
    // The source's writes are watched from here on: the longer the window, the fewer it misses (statistics lag ~1 s).
    this.writes = new SourceWriteMeter(plan.relations);
    await this.writes.sample(src);
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
    this.state = state;
    this.filter = filter;
    this.relations = plan.relations;
    this.notReplicated = plan.notReplicated;
    // A change left on the source, named by cleanup with the statement that undoes it.
    await recordFixedIdentity(ctl, plan.fixedIdentity);
    // Partitions' files before the copy: a TRUNCATE of one is not replicated (partition-truncate.ts).
    await recordPartitionFiles(src, ctl, plan.relations);
  }

  async initialCopy(): Promise<{ how: StartKind; copy: import('../../copy/index.js').CopySummary | null }> {
    const { source, target, control, opts, logger } = this.ctx;
    const init = await initialCopy({
      source,
      target,
      src: control.sourceClient,
      ctl: control.targetClient,
      state: this.state,
      relations: this.relations,
      logger,
      copy: {
        jobs: opts.jobs,
        indexJobs: opts.indexJobs,
        filter: this.filter,
        splitBytes: opts.splitBytes,
        pgBin: opts.pgBin,
        logger,
        progress: opts.progress,
        signal: opts.signal,
      },
    });
    return { how: init.how, copy: init.copy };
  }

  async appliedTables(): Promise<string[]> {
    const { rows } = await this.ctx.control.targetClient.query(`SELECT r FROM unnest($1::text[]) r WHERE to_regclass(r) IS NOT NULL`, [this.relations]);
    return rows.map((r) => r.r as string);
  }

  async startApply(onConnect: (c: Client) => Promise<void>, signal: AbortSignal): Promise<{ running: Promise<void> }> {
    const { source, target, control, opts, logger } = this.ctx;
    this.stream = new PgoutputSource(source, this.state.slot, this.state.publication, {
      applyDdl: opts.applyDdl,
      streaming: opts.streamLargeTransactions !== false,
    });
    const at = (await loadReplication(control.targetClient))!;
    this.applier = new Applier(target, this.stream, {
      logger,
      formatPosition: formatLsn,
      initial: { position: at.appliedPosition ?? 0n, commitTime: at.appliedCommitTime },
      onConnect,
    });
    if (opts.metricsPort !== undefined) {
      // prom-client is loaded only when metrics are asked for (start-up time).
      this.metrics = new (await import('../metrics.js')).Metrics();
      const host = opts.metricsHost ?? '127.0.0.1';
      this.metricsPort = await this.metrics.listen(opts.metricsPort, host);
      logger.info(`replicate: metrics on http://${host.includes(':') ? `[${host}]` : host}:${this.metricsPort}/metrics, health on /healthz`);
    }
    return { running: this.applier.run(signal) };
  }

  stopApply(): void {
    this.applier?.stop();
  }

  async mark(): Promise<Mark> {
    // The INSERT position: the write position misses commits not written yet (synchronous_commit = off).
    return this.stream!.insertPosition();
  }

  reached(mark: Mark): boolean {
    return this.applier!.stats.reachedPosition >= BigInt(mark);
  }

  poke(): void {
    this.stream?.ping();
  }

  async sample(): Promise<{ sample: Sample; detail: LagSample }> {
    const { control, logger } = this.ctx;
    // Taken before the read: every commit before this moment is at or before the position read.
    let readAt: Date | null = new Date();
    const pos = await this.stream!.currentPosition().catch(() => {
      readAt = null;
      return this.lastPosition;
    });
    this.lastPosition = pos;
    const retained = await this.stream!.retainedBytes();
    const s = this.meter.sample(this.applier!.stats, pos, retained, new Date(), readAt);
    const srcNow = await control.holdSource().catch(() => undefined);
    if (srcNow) await this.writes.sample(srcNow);
    this.metrics?.update(s, this.caughtUp);
    if (retained !== null && retained > RETAINED_WARN_BYTES && Date.now() - this.lastRetainedWarn > 60_000) {
      this.lastRetainedWarn = Date.now();
      logger.warn(
        `replicate: slot ${this.state.slot} retains ${(retained / 1024 ** 3).toFixed(1)} GB of WAL on the source; if replication stalls it can fill the source's disk (pgshift cleanup drops the slot)`,
      );
    }
    return { sample: { at: s.at, lagSeconds: s.lagSeconds, lagBytes: s.lagBytes, pending: null, position: formatLsn(s.appliedPosition) }, detail: s };
  }

  describe(mark: Mark, sampledAt: Date): { position: string; at: Date } {
    // Reported against the position checked (everything up to it is applied), not the sample's later one.
    return { position: formatLsn(BigInt(mark)), at: sampledAt };
  }

  lastCommit(): Date | null {
    return this.applier?.stats.lastCommitTime ?? null;
  }

  async checkComplete(): Promise<void> {
    // Never "caught up" while a table of the selection is missing (created on the source since the start).
    const [srcNow, tgtNow] = [await this.ctx.control.holdSource(), await this.ctx.control.holdTarget()];
    const gaps = await unpublishedTables(srcNow, tgtNow, this.state.publication, this.filter);
    if (gaps.tables.length || gaps.partitions.length) throw newTablesError('pgoutput', gaps.tables, gaps.partitions);
    await checkTruncatedPartitions(srcNow, tgtNow, this.relations);
    this.caughtUp = true;
  }

  /**
   * An apply failure that a table created or truncated on the source explains, as the stop that names it (exit 1):
   * a row for a partition the target lacks (routed through the root: 23514; or announced under its own name: the
   * target has no such table), or a unique key hit by rows written again into a partition whose TRUNCATE was not
   * replicated (23505). undefined: the failure stands as it is (also when the check itself fails).
   */
  async explainFailure(failure: unknown): Promise<unknown> {
    const code = errorCode(failure);
    const object = failure instanceof PgshiftError && !(failure instanceof StoppedError) ? failure.object : undefined;
    try {
      // Either control connection may have been lost while streaming: re-opened (the lock re-taken), not fatal.
      const [src, ctl] = await Promise.all([this.ctx.control.holdSource(), this.ctx.control.holdTarget()]);
      if (code === '23514' || object !== undefined) {
        const gaps = await unpublishedTables(src, ctl, this.state.publication, this.filter);
        if (gaps.partitions.length && (code === '23514' || gaps.partitions.some((p) => p.display === object)))
          return newTablesError('pgoutput', gaps.tables, gaps.partitions, 'streaming');
      }
      if (code === '23505') await checkTruncatedPartitions(src, ctl, this.relations, true);
    } catch (err) {
      if (err instanceof StoppedError) return err;
    }
    return undefined;
  }

  async beforeFinish(): Promise<void> {}

  async markCaughtUp(tgt: Client): Promise<void> {
    await markCaughtUp(tgt);
  }

  async report(end: EndOfRun<LagSample>): Promise<Record<string, unknown>> {
    const stats = this.applier!.stats;
    const final = end.caught ? { ...end.caught.detail, sourcePosition: BigInt(end.caught.mark), lagBytes: 0 } : end.last!.detail;
    if (end.finishedSource) await this.writes.sample(end.finishedSource);
    this.metrics?.update(final, end.caughtUp);
    return {
      appliedLsn: formatLsn(stats.reachedPosition),
      // A keepalive can carry the applied position past the source position sampled before it: never shown behind.
      sourceLsn: formatLsn(final.sourcePosition > stats.reachedPosition ? final.sourcePosition : stats.reachedPosition),
      lagBytes: final.lagBytes,
      lagSeconds: final.lagSeconds,
      transactions: stats.transactions,
      changes: stats.changes,
      slot: this.state.slot,
      publication: this.state.publication,
      reconnects: stats.reconnects,
      missingRows: stats.missingRows,
      streamedTransactions: stats.streamed,
      caughtUpTo: end.caught
        ? {
            position: formatLsn(BigInt(end.caught.mark)),
            at: end.caught.detail.at.toISOString(),
            lastCommit: stats.lastCommitTime?.toISOString() ?? null,
          }
        : null,
      sourceWrites: end.caughtUp ? this.writes.report() : null,
      notReplicated: this.notReplicated,
      metricsPort: this.metricsPort,
    };
  }

  async close(): Promise<void> {
    await this.metrics?.close();
    await this.stream?.close();
  }
}
