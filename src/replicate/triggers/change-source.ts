// Change source 2: trigger capture (`pgshift replicate --capture triggers`), the low-downtime path for sources whose role cannot replicate
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
import type { Client } from '../../db/connect.js';
import { qualify } from '../../db/ident.js';
import { exportSnapshot } from '../../db/snapshot.js';
import { copyDatabase, type CopySummary } from '../../copy/index.js';
import { requireEmptyTarget } from '../../copy/preflight.js';
import { PermissionError, PgshiftError, UsageError } from '../../errors.js';
import { silentLogger } from '../../log.js';
import { schemaPreflight } from '../../copy/schema-preflight.js';
import { loadRun } from '../../state/store.js';
import type { ChangeSource, EndOfRun, Mark, Sample, SourceContext, StartKind } from '../source.js';
import { applySessionSettings, SESSION_SETTINGS } from './apply.js';
import { planCapture } from './install.js';
import { newTablesError, newTablesWarning, recordFilter, uncapturedTables, widenExclude } from '../new-tables.js';
import { captureInstalled, installCapture } from './source.js';
import type { CaptureSample } from './lag.js';
import { CaptureLoop } from './loop.js';
import { recopyLoadedTables, withReplicateHint } from './recopy.js';
import { checkCaptureAcl } from './acl.js';
import {
  ensureCaptureState,
  loadCapture,
  markCaptureCaughtUp,
  markCaptureCopyDone,
  markInstalled,
  recordCapture,
  recordCopySnapshot,
  type CaptureState,
} from '../../state/replication.js';

export class CaptureChangeSource implements ChangeSource<CaptureSample> {
  readonly capture = 'triggers' as const;
  private state!: CaptureState;
  private notReplicated: string[] = [];
  private loop?: CaptureLoop;
  private lastPending = { pending: 0, ageSeconds: 0 };

  constructor(private readonly ctx: SourceContext) {}

  private get filter(): Partial<TableFilter> {
    return this.state.options.filter;
  }

  async prepare(): Promise<void> {
    const { source, target, control, opts, logger } = this.ctx;
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
        state.options.filter = widenExclude(state.options.filter, opts.filter.exclude, state.tables);
        await recordFilter(ctl, 'capture', state.options.filter);
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
    this.state = current;
    this.notReplicated = notReplicated;

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
        const tables = await listTables(src, current.options.filter);
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
  }

  async initialCopy(): Promise<{ how: StartKind; copy: CopySummary | null }> {
    const { source, target, control, opts, logger } = this.ctx;
    const ctl = control.targetClient;
    const src = control.sourceClient;
    // ---- initial copy, under a snapshot exported after the install committed
    const current = this.state;
    let initial: CopySummary | null = null;
    let start: StartKind = 'none';
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
        filter: current.options.filter,
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
      await markCaptureCopyDone(ctl);
      start = copyRun ? 'resumed' : 'fresh';
    }
    if (current.copyDone && start === 'none') {
      const fresh = await uncapturedTables(src, this.filter, current.tables);
      if (fresh.length) logger.warn(newTablesWarning('triggers', fresh));
    }
    return { how: start, copy: initial };
  }

  async appliedTables(): Promise<string[]> {
    return this.state.tables.map((t) => qualify(t.schema, t.name));
  }

  async startApply(onConnect: (c: Client) => Promise<void>, signal: AbortSignal): Promise<{ running: Promise<void> }> {
    const { source, target, control, opts, logger } = this.ctx;
    // Where the target stands now (the copy recorded it after this state was read).
    const applied = (await loadCapture(control.targetClient))!.appliedSnapshot!;
    this.loop = new CaptureLoop(source, target, this.state.tables, applied, { logger, idleMs: opts.idleMs ?? 500, onConnect });
    return { running: this.loop.run(signal) };
  }

  stopApply(): void {
    this.loop?.stop();
  }

  /** A batch whose snapshot was taken after this moment covers every change committed before it. */
  async mark(): Promise<Mark> {
    return Date.now();
  }

  reached(mark: Mark): boolean {
    return this.loop!.reachedAt >= Number(mark);
  }

  poke(): void {
    this.loop?.poke();
  }

  async sample(): Promise<{ sample: Sample; detail: CaptureSample }> {
    const loop = this.loop!;
    // A source that cannot be reached now is the apply loop's to retry: the status shows the last counts meanwhile.
    const pending = await this.ctx.control
      .holdSource()
      .then((src) => pendingStats(src, loop.applied))
      .catch(() => this.lastPending);
    this.lastPending = pending;
    const s = loop.lag.sample(pending);
    return { sample: { at: s.at, lagSeconds: s.lagSeconds, lagBytes: null, pending: s.pendingChanges, position: loop.applied }, detail: s };
  }

  describe(mark: Mark): { position: string; at: Date } {
    return { position: this.loop!.applied, at: new Date(Number(mark)) };
  }

  lastCommit(): Date | null {
    return this.loop?.lastCommit ?? null;
  }

  async checkComplete(): Promise<void> {
    // Never "caught up" while a table of the selection has no capture (created since the start).
    const fresh = await uncapturedTables(await this.ctx.control.holdSource(), this.filter, this.state.tables);
    if (fresh.length) throw newTablesError('triggers', fresh);
  }

  async explainFailure(): Promise<unknown> {
    return undefined;
  }

  async beforeFinish(src: Client): Promise<void> {
    await applySessionSettings(src, { search_path: SESSION_SETTINGS.search_path! });
  }

  async markCaughtUp(tgt: Client): Promise<void> {
    await markCaptureCaughtUp(tgt);
  }

  async report(end: EndOfRun<CaptureSample>): Promise<Record<string, unknown>> {
    const loop = this.loop!;
    const totals = loop.lag.totals();
    let last = end.last?.detail ?? null;
    let sinceCheck = 0;
    if (end.finishedSource) {
      // What the application wrote since the check: "caught up" is a moment, and writes may still go on.
      const after = await pendingStats(end.finishedSource, loop.applied);
      last = last ? { ...last, pendingChanges: after.pending, lagSeconds: after.ageSeconds } : last;
      sinceCheck = after.pending;
    }
    return {
      appliedSnapshot: loop.applied,
      pendingChanges: last?.pendingChanges ?? 0,
      lagSeconds: last?.lagSeconds ?? 0,
      transactions: totals.batches,
      changes: totals.changes,
      rowsWritten: totals.rows,
      capturedTables: this.state.tables.length,
      reconnects: loop.reconnects,
      caughtUpTo: end.caught ? { at: new Date(Number(end.caught.mark)).toISOString(), pendingSince: sinceCheck } : null,
      notReplicated: this.notReplicated,
    };
  }

  async close(): Promise<void> {}
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

/** Pending log rows and the start time of the oldest one's transaction, as of now on the source. */
async function pendingStats(src: Client, applied: string): Promise<{ pending: number; ageSeconds: number }> {
  // The age on the source's clock (the log's timestamps are the writing transactions' start times there).
  const { rows } = await src.query(
    `SELECT count(*)::int8::text AS n, COALESCE(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - min(l.at)), 0)::float8 AS age
       FROM _pgshift.log l WHERE NOT pg_catalog.pg_visible_in_snapshot(l.xid, $1::pg_catalog.pg_snapshot)`,
    [applied],
  );
  return { pending: Number(rows[0].n), ageSeconds: Math.max(0, rows[0].age) };
}
