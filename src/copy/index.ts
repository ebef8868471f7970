// `pgshift copy`: preflight → snapshot → schema (pre-data) → data ∥ indexes → large objects → post-data →
// materialized views → sequences → ANALYZE. Each step is recorded on the target so --resume skips it.
import type { ConnectionSpec } from '../config.js';
import { dataTables, listSequences, listTables, type TableInfo } from '../catalog/tables.js';
import { compileFilter, type TableFilter } from '../catalog/filter.js';
import { connect, serverMajor, withClient, type Client } from '../db/connect.js';
import { classifyError, InterruptedError, UsageError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { Progress } from '../progress.js';
import { DumpFile, dumpSchema, listToc, sectionSql, type TocEntry } from '../schema/dump.js';
import { excludedObjects, excludedTableOids, keepEntry } from '../schema/filter.js';
import { pickPgTools } from '../schema/pgdump.js';
import * as state from '../state/store.js';
import { runDataPhase, tableKey } from './data.js';
import { populatedMatviews, refreshMatviews } from './finish.js';
import { finishDataOnly, prepareDataOnly } from './dataonly.js';
import { listBuildJobs } from './builds.js';
import { copyLargeObject, listLargeObjects } from './largeobjects.js';
import { planChunks } from './plan.js';
import { requireConnections, requireEmptyTables, requireEmptyTarget, requireReadable } from './preflight.js';
import { applySequences, readSequences } from './sequences.js';
import { importSnapshot } from '../db/snapshot.js';
import { exportSnapshot } from './snapshot.js';

export type CopyMode = 'full' | 'schema-only' | 'data-only';

export interface CopyOptions {
  jobs: number;
  indexJobs: number;
  resume: boolean;
  mode: CopyMode;
  filter: Partial<TableFilter>;
  /** Tables larger than this (heap + TOAST bytes) are split into chunks; 0 disables splitting. */
  splitBytes: number;
  pgBin?: string;
  keepOwner?: boolean;
  keepAcl?: boolean;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
  /** Read this snapshot instead of exporting one (replicate: the slot's); copy closes it when done with it. */
  snapshot?: Awaited<ReturnType<typeof exportSnapshot>>;
}

export interface CopySummary {
  ok: true;
  mode: CopyMode;
  resumed: boolean;
  /** True when this run's data came from a snapshot newer than the first run's. */
  newSnapshot: boolean;
  alreadyComplete: boolean;
  tables: number;
  chunks: number;
  rows: number;
  bytes: number;
  indexes: number;
  sequences: number;
  largeObjects: number;
  materializedViews: number;
  seconds: number;
  phases: Record<string, number>;
  pgDump: string | null;
}

export async function copyDatabase(source: ConnectionSpec, target: ConnectionSpec, opts: CopyOptions): Promise<CopySummary> {
  const logger = opts.logger ?? silentLogger;
  const progress = opts.progress ?? new Progress({ logger, quiet: true });
  const started = Date.now();
  const phases: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      phases[name] = (phases[name] ?? 0) + (Date.now() - t0) / 1000;
    }
  };
  const controller = new AbortController();
  const onAbort = () => controller.abort(new InterruptedError('copy interrupted by signal', { hint: 'state is kept on the target: run the same command with --resume to finish' }));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const summary: CopySummary = {
    ok: true, mode: opts.mode, resumed: opts.resume, newSnapshot: opts.resume, alreadyComplete: false, tables: 0, chunks: 0,
    rows: 0, bytes: 0, indexes: 0, sequences: 0, largeObjects: 0, materializedViews: 0, seconds: 0, phases, pgDump: null,
  };
  const ctl = await connect(target, { applicationName: 'pgshift copy control' });
  let snapshot: Awaited<ReturnType<typeof exportSnapshot>> | undefined;
  let dump: DumpFile | undefined;
  try {
    // ---- preflight: nothing is written until every check passed
    const run = await state.loadRun(ctl);
    if (opts.resume) {
      if (!run) throw new UsageError('--resume: there is no pgshift copy to resume on this target', { phase: 'preflight', hint: 'run pgshift copy without --resume' });
      if (run.source !== source.display) {
        throw new UsageError(`--resume: the interrupted copy came from ${run.source}, not ${source.display}`, { phase: 'preflight', hint: 'pass the same --source as the first run' });
      }
      if (run.finishedAt) {
        logger.info('copy: this target already holds a finished copy; nothing to resume');
        return { ...summary, alreadyComplete: true, newSnapshot: false, seconds: (Date.now() - started) / 1000 };
      }
    } else if (run && !run.finishedAt) {
      throw new UsageError('the target holds an interrupted pgshift copy; nothing was changed', {
        phase: 'preflight',
        hint: 'finish it with --resume, or drop it first (DROP SCHEMA pgshift CASCADE on an emptied target) to start over',
      });
    } else if (opts.mode !== 'data-only') {
      await requireEmptyTarget(ctl, target.display);
    }
    const mode: CopyMode = opts.resume && run ? ((run.options.mode as CopyMode) ?? opts.mode) : opts.mode;
    summary.mode = mode;

    // Connections this run adds while the coordinator and the control connection stay open.
    await requireConnections(ctl, 'target', opts.jobs + (mode === 'full' ? opts.indexJobs : 0), '--jobs/--index-jobs', target.display);
    snapshot = opts.snapshot ?? (await timed('snapshot', () => exportSnapshot(source)));
    const snap = snapshot.client;
    await requireConnections(snap, 'source', opts.jobs, '--jobs', source.display);
    const major = await serverMajor(snap);
    const tools = mode === 'data-only' ? undefined : pickPgTools(major, opts.pgBin);
    summary.pgDump = tools ? `${tools.version} (${tools.dir})` : null;
    const filter = opts.resume && run ? (run.options.filter as Partial<TableFilter>) : opts.filter;
    const allTables = await listTables(snap);
    const keepTable = compileFilter(filter);
    const excluded = await excludedObjects(snap, allTables.filter((t) => !keepTable(t.schema, t.name)).map((t) => t.oid));
    const excludedOids = excludedTableOids(excluded, allTables);
    const tables = allTables.filter((t) => !excludedOids.has(t.oid));
    const copied = mode === 'schema-only' ? [] : dataTables(tables);
    // Sequences follow their tables: only those owned by an excluded table are left out.
    const sequences = (await listSequences(snap)).filter((q) => !excluded.sequences.has(`${q.schema}\u0000${q.name}`));
    await requireReadable(snap, copied, source.user);
    // Read at once: sequence reads are not transactional, so "as of the snapshot" means "right after exporting it".
    const seqValues = mode === 'schema-only' ? [] : await readSequences(snap, sequences);
    if (mode === 'data-only' && !opts.resume) await requireEmptyTables(ctl, copied);
    summary.tables = copied.length;
    if (opts.resume) logger.warn('copy: resuming — data copied from now on comes from a new snapshot of the source; finished chunks are kept. Run pgshift verify after writes are frozen.');

    // ---- state and schema dump (taken under the same snapshot as the data)
    if (!opts.resume) {
      await state.ensureStateSchema(ctl);
      await state.createRun(ctl, source.display, { mode, filter, splitBytes: opts.splitBytes, jobs: opts.jobs });
    } else {
      await state.markResumed(ctl);
    }
    const steps = (await state.loadRun(ctl))!.steps;
    let toc: TocEntry[] = [];
    if (tools) {
      let bytes = await state.loadSchemaDump(ctl);
      if (!bytes) {
        const ph = progress.phase('schema dump');
        bytes = await timed('schema dump', () => dumpSchema(tools, source, { snapshot: snapshot!.id, signal: controller.signal }));
        await state.saveSchemaDump(ctl, bytes);
        ph.done(`${bytes.length} bytes`);
      }
      dump = new DumpFile(bytes);
      toc = await listToc(tools, dump, target);
    }
    const targetIsSuperuser = (await ctl.query(`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`)).rows[0].rolsuper as boolean;
    const skipped = new Set<string>();
    const keepCommon = (e: TocEntry) => {
      if (!keepEntry(excluded, e)) return false;
      // Event triggers need superuser on the target (Heroku's _heroku ones never apply elsewhere).
      if (e.desc === 'EVENT TRIGGER' && !targetIsSuperuser) {
        skipped.add(`event trigger ${e.rest.split(' ')[0]}`);
        return false;
      }
      return true;
    };

    if (tools && !steps.preData) {
      const ph = progress.phase('pre-data');
      const sql = await sectionSql(tools, dump!, target, toc, { section: 'pre-data', keep: keepCommon, keepOwner: opts.keepOwner, keepAcl: opts.keepAcl, signal: controller.signal });
      await timed('pre-data', () => applySection(ctl, sql, 'preData'));
      ph.done();
    }

    // ---- data ∥ indexes
    const builds = mode === 'full' ? await listBuildJobs(snap, copied) : { jobs: [], ownOids: new Set<number>() };
    const built = await state.doneIndexes(ctl);
    if (copied.length > 0 && !steps.data) {
      let chunks = (await state.loadChunks(ctl)).filter((c) => copied.some((t) => t.schema === c.schema && t.name === c.table));
      if (chunks.length === 0) {
        await state.saveChunks(ctl, await planChunks(snap, copied, opts.splitBytes));
        chunks = await state.loadChunks(ctl);
      }
      const pending = chunks.filter((c) => !c.done);
      const remaining = new Map<string, number>();
      for (const c of pending) remaining.set(tableKey(c.schema, c.table), (remaining.get(tableKey(c.schema, c.table)) ?? 0) + 1);
      summary.chunks = pending.length;
      const tableMap = new Map(copied.map((t) => [tableKey(t.schema, t.name), t] as const));
      const dataProgress = progress.phase('data', { bytes: pending.reduce((s, c) => s + c.estBytes, 0), items: pending.length });
      const todo = builds.jobs.filter((j) => !built.has(`${j.schema}.${j.stateName}`));
      const indexProgress = todo.length ? progress.phase('indexes', { items: todo.length }) : undefined;
      if (mode === 'data-only') await prepareDataOnly(ctl, copied);
      const r = await timed('data+indexes', () =>
        runDataPhase({
          source, target, snapshotId: snapshot!.id, tables: tableMap, pending, remaining, buildJobs: todo,
          loaded: copied.map((t) => tableKey(t.schema, t.name)).filter((k) => !remaining.has(k)),
          jobs: opts.jobs, indexWorkers: opts.indexJobs, truncateAndFreeze: mode === 'full', logger, dataProgress, indexProgress, controller,
        }),
      );
      summary.rows = r.rows;
      summary.bytes = r.bytes;
      summary.indexes = r.indexes;
      dataProgress.done(`${r.rows.toLocaleString('en-US')} rows`);
      indexProgress?.done();
      await state.markStep(ctl, 'data');
    }
    // Also after a crash that came between the last chunk and this point (idempotent).
    if (mode === 'data-only') await timed('triggers+foreign keys', () => finishDataOnly(ctl));

    if (mode !== 'schema-only' && !steps.largeObjects) {
      summary.largeObjects = await timed('large objects', () => copyLargeObjects(source, target, snapshot!, progress, controller.signal));
      await state.markStep(ctl, 'largeObjects');
    }
    const matviews = mode === 'full' ? await populatedMatviews(snap) : [];
    await snapshot.close();
    snapshot = undefined;

    // ---- post-data: everything pgshift did not build itself; triggers come after all data
    if (tools && !steps.postData) {
      const ph = progress.phase('post-data');
      const sql = await sectionSql(tools, dump!, target, toc, {
        section: 'post-data',
        keep: (e) => keepCommon(e) && !(['INDEX', 'CONSTRAINT', 'FK CONSTRAINT'].includes(e.desc) && builds.ownOids.has(e.oid)),
        keepOwner: opts.keepOwner,
        keepAcl: opts.keepAcl,
        signal: controller.signal,
      });
      await timed('post-data', () => applySection(ctl, sql, 'postData'));
      ph.done();
    }
    if (matviews.length && !steps.matviews) {
      const ph = progress.phase('matviews', { items: matviews.length });
      await timed('matviews', () => refreshMatviews(ctl, matviews, () => ph.add({ items: 1 })));
      summary.materializedViews = matviews.length;
      await state.markStep(ctl, 'matviews');
      ph.done();
    }
    await applySequences(ctl, seqValues);
    summary.sequences = seqValues.length;
    if (copied.length && !steps.analyze) {
      const ph = progress.phase('analyze', { items: copied.length });
      await timed('analyze', () => analyzeTables(target, copied, opts.indexJobs, () => ph.add({ items: 1 })));
      await state.markStep(ctl, 'analyze');
      ph.done();
    }
    await state.markFinished(ctl);
    for (const s of skipped) logger.warn(`copy: skipped ${s} (needs superuser on the target)`);
    summary.seconds = (Date.now() - started) / 1000;
    return summary;
  } catch (err) {
    throw controller.signal.aborted && controller.signal.reason instanceof InterruptedError
      ? controller.signal.reason
      : classifyError(err, 'copy', { phase: 'copy', hint: 'fix the cause, then run the same command with --resume' });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await snapshot?.close();
    dump?.dispose();
    await ctl.end().catch(() => undefined);
  }
}

/** A schema section and its "done" mark commit together; the session's settings are restored after. */
async function applySection(ctl: Client, sql: string, step: 'preData' | 'postData'): Promise<void> {
  const phase = step === 'preData' ? 'schema pre-data' : 'schema post-data';
  await ctl.query('BEGIN');
  try {
    await ctl.query(sql);
    await ctl.query('RESET ALL');
    await state.markStep(ctl, step);
    await ctl.query('COMMIT');
  } catch (err) {
    await ctl.query('ROLLBACK').catch(() => undefined);
    await ctl.query('RESET ALL').catch(() => undefined);
    throw classifyError(err, `${phase}: restoring the schema on the target`, {
      phase,
      hint: 'nothing of this step was applied; fix the cause (often a missing extension or role on the target), then re-run with --resume',
    });
  }
}

async function copyLargeObjects(source: ConnectionSpec, target: ConnectionSpec, snapshot: { id: string; client: Client }, progress: Progress, signal: AbortSignal): Promise<number> {
  const los = await listLargeObjects(snapshot.client);
  if (los.length === 0) return 0;
  const ph = progress.phase('large objects', { items: los.length });
  await withClient(source, async (src) => {
    await importSnapshot(src, snapshot.id);
    await withClient(target, async (tgt) => {
      for (const lo of los) {
        if (signal.aborted) throw signal.reason;
        try {
          await copyLargeObject(src, tgt, lo.oid, (b) => ph.add({ bytes: b }));
        } catch (err) {
          throw classifyError(err, `large objects: copying large object ${lo.oid}`, { phase: 'large objects', object: `large object ${lo.oid}`, hint: 'fix the cause, then re-run with --resume' });
        }
        ph.add({ items: 1 });
      }
    });
  });
  ph.done();
  return los.length;
}

async function analyzeTables(target: ConnectionSpec, tables: TableInfo[], workers: number, onDone: () => void): Promise<void> {
  const queue = [...tables];
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(workers, queue.length)) }, () =>
      withClient(target, async (c) => {
        for (let t = queue.shift(); t; t = queue.shift()) {
          await c.query(`ANALYZE ${t.qualified}`);
          onDone();
        }
      }),
    ),
  );
}
