// `pgshift copy --source FILE`: a pg_dump archive (Heroku's latest.dump, or a -Fd folder) into an empty target,
// the way a live copy goes: the archive proven whole first, the schema's pre-data in batches, tables loaded in
// parallel (largest first, each in one transaction with its "done" mark), sequences, large objects, then
// post-data (indexes, keys, triggers, materialized views) and ANALYZE. Every step is recorded on the target, so
// --resume after a crash or Ctrl-C goes on from the last committed table or batch.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { ConnectionSpec } from '../config.js';
import { connect, withClient, withTransaction, type Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { roundTripCounts, setRoundTripPhase } from '../db/roundtrips.js';
import { DUMP_EXCLUDED_SCHEMAS } from '../catalog/system.js';
import type { TableFilter } from '../catalog/filter.js';
import { hasFilter, selectArchive } from './filter.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { classifyError, InterruptedError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { Progress } from '../progress.js';
import { listToc, sectionSql, type TocEntry } from '../schema/dump.js';
import type { PgTools } from '../schema/pgdump.js';
import { runTool } from '../schema/run.js';
import { checkExtensionsAgainst, skippedByExtensionCheck } from '../schema/extensions.js';
import { sourceObjectsOf } from './extensions.js';
import { requireEmptyTarget } from '../copy/preflight.js';
import { restoreSection } from '../copy/restore.js';
import { startIndexBuilds, type IndexBuilds } from './indexes.js';
import { emptySummary, type CopySummary } from '../copy/summary.js';
import * as state from '../state/store.js';
import { ArchiveError, openArchive, pgRestoreFor, type Archive } from './index.js';
import { loadData } from './load-data.js';

export interface ArchiveCopyOptions {
  jobs: number;
  /** Sessions building indexes and keys while the data loads. */
  indexJobs: number;
  resume: boolean;
  pgBin?: string;
  keepOwner?: boolean;
  keepAcl?: boolean;
  analyze?: 'overlap' | 'end' | 'none';
  /** --include/--exclude: tables left out whole (archive/filter.ts); a resume keeps the first run's. */
  filter?: Partial<TableFilter>;
  logger: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface ArchiveCopySummary extends CopySummary {
  archive: { path: string; bytes: number; pgDumpVersion: string | null; createdAt: string | null };
}

/** What identifies the archive a run restores: a resume must be given the same file. */
function archiveIdentity(a: Archive): Record<string, unknown> {
  return { archive: basename(a.path), bytes: a.dataBytes, createdAt: a.header.createdAt, database: a.header.database, entries: a.entries.length };
}

/** Key by key: the state keeps it as jsonb, which orders keys its own way. */
function sameIdentity(recorded: Record<string, unknown> | null, now: Record<string, unknown>): boolean {
  return recorded !== null && Object.keys(now).length === Object.keys(recorded).length && Object.entries(now).every(([k, v]) => recorded[k] === v);
}

export async function copyFromArchive(path: string, target: ConnectionSpec, opts: ArchiveCopyOptions): Promise<ArchiveCopySummary> {
  const { logger } = opts;
  const progress = opts.progress ?? new Progress({ logger, quiet: true });
  const started = Date.now();
  const controller = new AbortController();
  const onAbort = () => controller.abort(new InterruptedError('copy interrupted by signal', { phase: 'copy', hint: 'run the same command with --resume' }));
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  // ---- preflight: the archive whole and readable, before anything is written
  const t0 = Date.now();
  const opened = openArchive(path);
  // Tables of schemas pgshift never copies (its own, Heroku's _heroku) are left out, as in a live copy, and
  // those --include/--exclude leave out (refused here, before anything is written, when the selection cannot be).
  let selection = selectArchive(opened, opts.filter, 'copy');
  let archive: Archive = { ...opened, tables: selection.tables };
  const tools = pgRestoreFor(archive, opts.pgBin);
  const summary: ArchiveCopySummary = {
    ...emptySummary('full', opts.resume),
    newSnapshot: false,
    pgDump: { path: tools.pgDump, dir: tools.dir, version: tools.version, major: tools.major, olderThanTarget: false },
    archive: { path: archive.path, bytes: archive.dataBytes, pgDumpVersion: archive.header.pgDumpVersion, createdAt: archive.header.createdAt },
  };
  const listDir = mkdtempSync(join(tmpdir(), 'pgshift-archive-'));
  const dump = { dir: listDir, path: archive.path };
  let ctl: Client | undefined;
  let written = false;
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    setRoundTripPhase(name);
    try {
      return await fn();
    } finally {
      summary.phases[name] = (summary.phases[name] ?? 0) + (Date.now() - t) / 1000;
    }
  };
  try {
    ctl = await connect(target, { applicationName: runApplicationName('copy') });
    await acquireRunLock(ctl, { command: 'copy', side: 'target', display: target.display });
    const run = await state.loadRun(ctl);
    const identity = archiveIdentity(archive);
    if (opts.resume) {
      if (!run)
        throw new UsageError('--resume: there is no pgshift copy to resume on this target; nothing was changed', {
          phase: 'preflight',
          hint: 'run the same command without --resume',
        });
      if (!sameIdentity(run.sourceIdentity, identity)) {
        throw new UsageError(`--resume: the interrupted copy restored ${run.source}, not this archive (${archive.path}); nothing was changed`, {
          phase: 'preflight',
          hint: 'pass the archive of the first run',
        });
      }
      if (run.finishedAt) {
        logger.info('copy: this target already holds a finished copy of the archive; nothing to resume');
        return { ...summary, alreadyComplete: true, seconds: (Date.now() - started) / 1000 };
      }
    } else if (run && !run.finishedAt) {
      throw new UsageError(`the target holds an interrupted pgshift copy (started ${run.startedAt.toISOString()} from ${run.source}); nothing was changed`, {
        phase: 'preflight',
        hint: 'finish it with the same command plus --resume, or remove it with pgshift cleanup --target … --force and copy into an emptied target',
      });
    } else {
      await requireEmptyTarget(ctl, target.display);
    }
    if (opts.resume && run && hasFilter(run.options.filter)) {
      // The first run's selection, whatever this one was given (the CLI refuses filters with --resume).
      selection = selectArchive(opened, run.options.filter, 'copy');
      archive = { ...opened, tables: selection.tables };
    }
    const keepOwner = opts.resume && run ? Boolean(run.options.keepOwner) : Boolean(opts.keepOwner);
    const keepAcl = opts.resume && run ? Boolean(run.options.keepAcl) : Boolean(opts.keepAcl);
    // Extensions an admin installed on the target beforehand (managed targets): what only their owner may run is
    // skipped when it would change nothing, refused with the statement when it would.
    const extensions = await checkExtensionsAgainst(sourceObjectsOf(archive.entries), ctl, target.display);
    for (const w of extensions.warnings) logger.warn(w);
    summary.phases.preflight = (Date.now() - t0) / 1000;
    if (signal.aborted) throw signal.reason;

    // ---- state
    written = true;
    // Phases "state" and "index plan" (the builds rendered by pg_restore) account for the time between the others.
    const steps = await timed('state', async () => {
      await state.ensureStateSchema(ctl!);
      if (!opts.resume) {
        await withTransaction(ctl!, () =>
          state.createRun(ctl!, `archive ${archive.path}`, identity, {
            mode: 'full',
            filter: opts.filter ?? {},
            splitBytes: 0,
            jobs: opts.jobs,
            keepOwner,
            keepAcl,
          }),
        );
      } else {
        await state.markResumed(ctl!);
      }
      return (await state.loadRun(ctl!))!.steps;
    });
    // The role the archive's objects belonged to: its default privileges become the target role's (no --keep-owner).
    const sourceRole = archive.entries.find((e) => e.desc === 'DATABASE')?.owner ?? undefined;
    const skipped = new Set<string>();
    const restore = async (section: 'pre-data' | 'post-data', step: 'preData' | 'postData') => {
      if (steps[step]) return;
      const ph = progress.phase(section);
      await timed(section, () =>
        restoreSection({
          tools,
          dump: dump as never,
          target,
          ctl: ctl!,
          section,
          keep: (e) => keepEntry(e, skipped) && selection.keep(e) && !skippedByExtensionCheck(extensions, e),
          keepOwner,
          keepAcl,
          sourceRole,
          signal,
          onBatch: (n) => ph.add({ items: n }),
        }),
      );
      await state.markStep(ctl!, step);
      ph.done();
    };

    await restore('pre-data', 'preData');
    if (signal.aborted) throw signal.reason;
    // Index and key builds take each table as soon as its rows are in (indexes.ts). Their plan (post-data rendered
    // by pg_restore) is made while the first tables load: a table loaded before it is ready is handed over then.
    let builds: IndexBuilds | undefined;
    const loadedEarly: number[][] = [];
    const planned = steps.postData
      ? Promise.resolve(undefined)
      : timed('index plan', () =>
          startIndexBuilds({
            tools,
            dump,
            target,
            ctl: ctl!,
            archive,
            keep: (e) => keepEntry(e, new Set()) && selection.keep(e),
            keepOwner,
            keepAcl,
            jobs: opts.indexJobs,
            progress,
            summary,
            signal,
            // --analyze overlap (the default): each table as soon as its builds are done, beside the data.
            analyze: (opts.analyze ?? 'overlap') === 'overlap' && !steps.analyze,
          }),
        ).then((b) => {
          builds = b;
          for (const ids of loadedEarly.splice(0)) b.tablesLoaded(ids);
          return b;
        });
    // A plan that fails stops the data after the tables loading (each is whole or absent: --resume goes on).
    planned.catch((err: unknown) => controller.abort(err));
    const data = timed('data', () =>
      loadData(archive, tools, listDir, target, ctl!, opts.jobs, progress, summary, signal, (ids) =>
        builds ? builds.tablesLoaded(ids) : loadedEarly.push(ids),
      ),
    );
    const [loaded, plan] = await Promise.allSettled([data, planned]);
    if (loaded.status === 'rejected' || plan.status === 'rejected') {
      await builds?.stop();
      throw plan.status === 'rejected' ? plan.reason : (loaded as PromiseRejectedResult).reason;
    }
    if (signal.aborted) throw signal.reason;
    await timed('sequences', () => restoreSmallData(archive, tools, dump, target, ctl!, 'SEQUENCE SET', summary, signal, selection.keep));
    await timed('large objects', () => restoreLargeObjects(archive, tools, listDir, target, ctl!, keepOwner, summary, signal));
    if (signal.aborted) throw signal.reason;
    // What is left of them once the data is in.
    await timed('indexes', async () => builds?.finish());
    if (signal.aborted) throw signal.reason;
    await restore('post-data', 'postData');
    for (const what of skipped) logger.warn(`copy: left out ${what}`);
    summary.indexes += archive.entries.filter((e) => e.desc === 'FK CONSTRAINT' && selection.keep(e)).length;
    summary.materializedViews = archive.entries.filter((e) => e.desc === 'MATERIALIZED VIEW DATA' && selection.keep(e)).length;
    if (opts.analyze !== 'none' && !steps.analyze) {
      // What the builders did not analyze already (all of it with --analyze end, or on a resume).
      const rest = archive.tables.filter((t) => !builds?.analyzed.has(t.dumpId));
      if (rest.length) await timed('analyze', () => analyzeAll(target, { ...archive, tables: rest }, opts.jobs));
      await state.markStep(ctl, 'analyze');
    }
    await state.markFinished(ctl);
    // Round trips per phase (the data and index sessions charge theirs to "data" and "indexes"), as copy --json gives.
    summary.roundTrips = roundTripCounts();
    summary.tables = archive.tables.length;
    summary.seconds = (Date.now() - started) / 1000;
    return summary;
  } catch (err) {
    if (err instanceof ArchiveError || err instanceof UsageError) throw err;
    throw signal.aborted && signal.reason instanceof InterruptedError
      ? signal.reason
      : classifyError(err, 'copy', {
          phase: 'copy',
          hint: written ? 'fix the cause, then run the same command with --resume' : 'fix the cause, then run the same command again',
        });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    rmSync(listDir, { recursive: true, force: true });
    await ctl?.end().catch(() => undefined);
  }
}

/**
 * The archive's entries pgshift restores: not those of schemas it never copies (its own, Heroku's _heroku) nor
 * event triggers (a superuser's, and Heroku's point into _heroku), as a live copy does.
 */
export function keepEntry(e: TocEntry, skipped: Set<string>): boolean {
  const name = e.rest.split(' ')[0] ?? '';
  if (DUMP_EXCLUDED_SCHEMAS.includes(e.schema) || (e.desc === 'SCHEMA' && DUMP_EXCLUDED_SCHEMAS.includes(name))) return false;
  if (e.desc === 'EVENT TRIGGER') {
    skipped.add(`event trigger ${name} (pg_restore needs a superuser for it; create it on the target by hand if the application needs it)`);
    return false;
  }
  return true;
}

/** Small data entries (sequence values): rendered by pg_restore and run in one transaction with their marks. */
async function restoreSmallData(
  archive: Archive,
  tools: PgTools,
  dump: { dir: string; path: string },
  target: ConnectionSpec,
  ctl: Client,
  desc: string,
  summary: CopySummary,
  signal: AbortSignal,
  keep: (e: { dumpId: number }) => boolean,
): Promise<void> {
  const done = await state.doneTocEntries(ctl);
  const ids = new Set(archive.entries.filter((e) => e.desc === desc && !done.has(e.dumpId) && keep(e)).map((e) => e.dumpId));
  if (!ids.size) return;
  // A sequence's value is one setval() with its qualified name, as pg_dump wrote it: run as it stands (two
  // pg_restore processes to render it cost ~0.1 s); anything else is rendered by pg_restore.
  const entries = archive.entries.filter((e) => ids.has(e.dumpId));
  const direct = entries.every((e) => /^SELECT pg_catalog\.setval\('(?:[^']|'')+', -?\d+, (?:true|false)\);\s*$/.test(e.defn ?? ''));
  const sql = direct
    ? entries.map((e) => e.defn!.trim()).join('\n')
    : await sectionSql(
        tools,
        dump as never,
        target,
        (await listToc(tools, dump as never, target)).filter((e) => ids.has(e.dumpId)),
        { section: 'data' as never, keepOwner: true, keepAcl: true, signal },
      );
  await withTransaction(ctl, async () => {
    await ctl.query(sql);
    await state.markTocEntriesDone(ctl, 'data', [...ids]);
  });
  await ctl.query('RESET ALL');
  summary.sequences = ids.size;
}

/** Large objects, by pg_restore itself into the target (their bytes never pass through pgshift's memory). */
async function restoreLargeObjects(
  archive: Archive,
  tools: PgTools,
  listDir: string,
  target: ConnectionSpec,
  ctl: Client,
  keepOwner: boolean,
  summary: CopySummary,
  signal: AbortSignal,
): Promise<void> {
  const done = await state.doneTocEntries(ctl);
  const blobs = archive.entries.filter((e) => e.desc === 'BLOBS' && !done.has(e.dumpId));
  if (!blobs.length) return;
  const list = join(listDir, 'blobs.list');
  writeFileSync(list, blobs.map((e) => `${e.dumpId}; ${e.tableOid} ${e.oid} BLOBS - BLOBS -`).join('\n') + '\n', { mode: 0o600 });
  // One transaction: a failure leaves no large object half written, and --resume loads them again.
  await runTool(
    tools.pgRestore,
    ['-L', list, '--single-transaction', '--exit-on-error', ...(keepOwner ? [] : ['--no-owner']), '-d', target.database, archive.path],
    target,
    'large objects (pg_restore)',
    signal,
  );
  await state.markTocEntriesDone(
    ctl,
    'data',
    blobs.map((e) => e.dumpId),
  );
  summary.largeObjects = archive.largeObjects;
}

async function analyzeAll(target: ConnectionSpec, archive: Archive, jobs: number): Promise<void> {
  const queue = [...archive.tables].sort((a, b) => b.bytes - a.bytes);
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(jobs, queue.length)) }, () =>
      withClient(
        target,
        async (c) => {
          for (let t = queue.shift(); t; t = queue.shift()) await c.query(`ANALYZE ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`);
        },
        { applicationName: 'pgshift analyze' },
      ),
    ),
  );
}
