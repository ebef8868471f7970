// executeCopy(): run a CopyPlan under a snapshot. Phases in order — pre-data → data ∥ indexes → large objects →
// post-data → materialized views → sequences → ANALYZE — each recorded on the target so --resume skips it.
import type { ConnectionSpec } from '../config.js';
import { tableKey } from '../catalog/table-id.js';
import { withClient, type Client } from '../db/connect.js';
import { setRoundTripPhase } from '../db/roundtrips.js';
import { importSnapshot, type Snapshot } from '../db/snapshot.js';
import { DUMP_EXCLUDED_SCHEMAS } from '../catalog/system.js';
import { privilegedObjects, privilegedWarning, securityDefinerWarning } from '../catalog/privileged.js';
import { classifyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../progress.js';
import { DumpFile, dumpSchema, type TocEntry } from '../schema/dump.js';
import { skippedByExtensionCheck, type ExtensionCheck } from '../schema/extensions.js';
import { keepEntry } from '../schema/filter.js';
import type { PgTools } from '../schema/pgdump.js';
import * as state from '../state/store.js';
import { analyzeJobs, analyzeTables, type AnalyzeMode } from './analyze.js';
import { builtByPgshift } from './builds.js';
import { runDataPhase } from './data.js';
import { restoreSection, type Section } from './restore.js';
import { finishDataOnly, prepareDataOnly } from './dataonly.js';
import { refreshMatviews } from './finish.js';
import { copyLargeObject } from './largeobjects.js';
import type { CopyPlan } from './plan.js';
import { applySequences, type SequenceSetting } from './sequences.js';
import type { CopySummary } from './summary.js';
import type { CopyWireFormat } from './pipeline.js';
import { formatCount } from '../format.js';
import { secondHalf } from './schedule.js';
import type { EarlyDump } from './early-dump.js';

export interface ExecuteEnv {
  source: ConnectionSpec;
  target: ConnectionSpec;
  /** The target control connection: holds the run lock, writes the state. */
  ctl: Client;
  snapshot: Snapshot;
  /** pg_dump/pg_restore; absent in data-only mode. */
  tools?: PgTools;
  /** Source sequence values read right after the snapshot was taken. */
  sequenceValues: SequenceSetting[];
  steps: Partial<Record<state.Step, string>>;
  /** This run reads a snapshot other than the one earlier chunks were copied under. */
  resumed: boolean;
  jobs: number;
  indexJobs: number;
  /** When ANALYZE runs (analyze.ts); default overlap. */
  analyze?: AnalyzeMode;
  /** COPY format on the wire (--copy-format; default binary where safe). */
  copyFormat?: CopyWireFormat;
  keepOwner?: boolean;
  keepAcl?: boolean;
  /** Extensions the target's admin installed: statements only their owner may run are skipped (see extensions.ts). */
  extensions?: ExtensionCheck;
  logger: Logger;
  progress: Progress;
  /** Aborted on Ctrl-C or the first failure: in-flight COPYs roll back. */
  controller: AbortController;
  summary: CopySummary;
  /** The schema dump, started before the plan was made (early-dump.ts); absent: dumped here. */
  schemaDump?: EarlyDump;
}

export async function executeCopy(plan: CopyPlan, env: ExecuteEnv): Promise<CopySummary> {
  const { ctl, progress, logger, summary } = env;
  const signal = env.controller.signal;
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    setRoundTripPhase(name);
    try {
      return await fn();
    } finally {
      summary.phases[name] = (summary.phases[name] ?? 0) + (Date.now() - t0) / 1000;
      setRoundTripPhase('state');
    }
  };
  let dump: DumpFile | undefined;
  let snapshotOpen = true;
  try {
    if (env.tools) {
      let bytes = await state.loadSchemaDump(ctl);
      if (!bytes) {
        const ph = progress.phase('schema dump');
        // Started early, the phase counts only what is left of it.
        bytes = await timed(
          'schema dump',
          () => env.schemaDump?.take() ?? dumpSchema(env.tools!, env.source, { snapshot: env.snapshot.id, signal, excludeTables: plan.excluded.tables }),
        );
        await state.saveSchemaDump(ctl, bytes);
        ph.done(`${bytes.length} bytes`);
      }
      dump = new DumpFile(bytes);
    }
    const { rows: role } = await ctl.query<{ user: string; superuser: boolean }>(
      `SELECT current_user AS user, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`,
    );
    const targetIsSuperuser = role[0]?.superuser === true;
    const skipped = new Set<string>();
    // Event triggers whose function lives in a schema pgshift never copies (Heroku's _heroku): they cannot be
    // created on the target whoever connects, and are not the application's.
    const { rows: foreignEvents } = await env.snapshot.client.query<{ name: string }>(
      `SELECT e.evtname AS name FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY ($1::text[])`,
      [DUMP_EXCLUDED_SCHEMAS],
    );
    const notOurs = new Set(foreignEvents.map((r) => r.name));
    const keepCommon = (e: TocEntry) => {
      if (!keepEntry(plan.excluded, e) || skippedByExtensionCheck(env.extensions, e)) return false;
      if (e.desc === 'EVENT TRIGGER') {
        const name = e.rest.split(' ')[0]!;
        if (notOurs.has(name)) {
          skipped.add(`event trigger ${name} (its function is in a schema pgshift does not copy, such as Heroku's _heroku)`);
          return false;
        }
        // Other event triggers need a superuser on the target.
        if (!targetIsSuperuser) {
          skipped.add(`event trigger ${name} (needs superuser on the target)`);
          return false;
        }
      }
      return true;
    };
    const restore = async (section: Section, step: 'preData' | 'postData', keep: (e: TocEntry) => boolean) => {
      const ph = progress.phase(section);
      await timed(section, () =>
        restoreSection({
          tools: env.tools!,
          dump: dump!,
          target: env.target,
          ctl,
          section,
          keep,
          keepOwner: env.keepOwner,
          keepAcl: env.keepAcl,
          sourceRole: env.source.user,
          signal,
          onBatch: (n) => ph.add({ items: n }),
        }),
      );
      await state.markStep(ctl, step);
      ph.done();
    };

    // Ctrl-C is honoured between steps too (the data phase and restores watch the signal themselves): a step that
    // starts after it would run to its end and leave the user with a finished copy and exit 130 unexplained.
    const stopIfAsked = () => {
      if (signal.aborted) throw signal.reason;
    };
    if (env.tools && !env.steps.preData) {
      // Said before the step it foretells: pg_restore would otherwise fail on these objects mid-way.
      const objects = await privilegedObjects(env.snapshot.client);
      const privileged = privilegedWarning(objects, role[0] ?? null);
      if (privileged) logger.warn(`copy: ${privileged.message}. next: ${privileged.remedy}`);
      const definers = env.keepOwner ? undefined : securityDefinerWarning(objects);
      if (definers) logger.warn(`copy: ${definers.message}. next: ${definers.remedy}`);
      await restore('pre-data', 'preData', keepCommon);
    }

    const analyzed = new Set<string>();
    if (plan.data.length > 0 && !env.steps.data) await timed('data+indexes', () => dataPhase(plan, env, analyzed));
    // Also after a crash that came between the last chunk and this point (idempotent).
    if (plan.mode === 'data-only') await timed('triggers+foreign keys', () => finishDataOnly(ctl));

    stopIfAsked();
    if (plan.largeObjects.length > 0 && !env.steps.largeObjects) {
      summary.largeObjects = await timed('large objects', () => copyLargeObjects(env, plan.largeObjects));
      await state.markStep(ctl, 'largeObjects');
    }
    await env.snapshot.close();
    snapshotOpen = false;

    // Post-data: everything pgshift did not build itself; triggers come after all data.
    stopIfAsked();
    if (env.tools && !env.steps.postData) {
      await restore('post-data', 'postData', (e) => keepCommon(e) && !builtByPgshift(plan.builds, e));
    }
    stopIfAsked();
    if (plan.matviews.length && !env.steps.matviews) {
      const ph = progress.phase('matviews', { items: plan.matviews.length });
      await timed('matviews', () => refreshMatviews(ctl, plan.matviews, () => ph.add({ items: 1 })));
      summary.materializedViews = plan.matviews.length;
      await state.markStep(ctl, 'matviews');
      ph.done();
    }
    stopIfAsked();
    await applySequences(ctl, env.sequenceValues);
    summary.sequences = env.sequenceValues.length;
    // Tables analyzed during the data phase (--analyze overlap) are not analyzed again.
    const rest = plan.data.filter((t) => !analyzed.has(tableKey(t)));
    stopIfAsked();
    if ((env.analyze ?? 'overlap') !== 'none' && plan.data.length && !env.steps.analyze) {
      const ph = progress.phase('analyze', { items: rest.length });
      await timed('analyze', () => analyzeTables(env.target, rest, env.indexJobs, logger, () => ph.add({ items: 1 })));
      await state.markStep(ctl, 'analyze');
      ph.done();
    }
    stopIfAsked();
    await state.markFinished(ctl);
    for (const w of env.extensions?.warnings ?? []) logger.warn(w);
    for (const s of skipped) logger.warn(`copy: skipped ${s}`);
    return summary;
  } finally {
    if (snapshotOpen) await env.snapshot.close();
    dump?.dispose();
  }
}

/**
 * Chunks come from the state (a resume) or from the plan. Page-range chunks only partition rows within one
 * snapshot: a resumed table whose ctid chunks were partly copied is emptied and copied again whole.
 */
async function dataPhase(plan: CopyPlan, env: ExecuteEnv, analyzed: Set<string>): Promise<void> {
  const { ctl, summary, logger } = env;
  const selected = new Set(plan.data.map(tableKey));
  let chunks = (await state.loadChunks(ctl)).filter((c) => selected.has(tableKey(c)));
  if (chunks.length === 0) {
    await state.saveChunks(ctl, plan.chunks);
    chunks = await state.loadChunks(ctl);
  }
  const tables = new Map(plan.data.map((t) => [tableKey(t), t] as const));
  if (env.resumed) {
    const partlyByPages = new Set(chunks.filter((c) => c.method === 'ctid' && c.done).map(tableKey));
    for (const k of [...partlyByPages].filter((k) => chunks.some((c) => tableKey(c) === k && !c.done))) {
      const t = tables.get(k)!;
      logger.warn(
        `copy: ${t.display} was split by page ranges and partly copied under the earlier snapshot; emptying it and copying it again whole from the new one`,
      );
      await state.resetTableChunks(ctl, t, t.qualified);
      for (const c of chunks) if (tableKey(c) === k) c.done = false;
    }
  }
  const pending = chunks.filter((c) => !c.done);
  const remaining = new Map<string, number>();
  for (const c of pending) remaining.set(tableKey(c), (remaining.get(tableKey(c)) ?? 0) + 1);
  summary.chunks = pending.length;
  const built = await state.doneIndexes(ctl);
  const isBuilt = (name: string | undefined, schema: string) => name !== undefined && built.has(tableKey({ schema, name }));
  const todo = plan.builds.jobs.filter((j) => !isBuilt(j.stateName, j.schema) && !isBuilt(j.doneWith, j.schema));
  // On the index-build connections, which only a full copy opens (and preflight counts).
  const analyses = (env.analyze ?? 'overlap') === 'overlap' && plan.mode === 'full' && !env.steps.analyze ? analyzeJobs(plan.data, todo) : [];
  const dataProgress = env.progress.phase('data', { bytes: pending.reduce((s, c) => s + c.estBytes, 0), items: pending.length });
  // Counted in objects built: a key's ALTER TABLE half is part of its index.
  const builds = todo.filter((j) => !secondHalf(j)).length;
  const indexProgress = todo.length ? env.progress.phase('indexes', { items: builds }) : undefined;
  if (plan.mode === 'data-only') await prepareDataOnly(ctl, plan.data);
  const r = await runDataPhase({
    source: env.source,
    target: env.target,
    snapshotId: env.snapshot.id,
    tables,
    pending,
    remaining,
    buildJobs: [...todo, ...analyses],
    loaded: [...tables.keys()].filter((k) => !remaining.has(k)),
    jobs: env.jobs,
    indexWorkers: env.indexJobs,
    truncateAndFreeze: plan.mode === 'full',
    format: env.copyFormat,
    logger,
    dataProgress,
    indexProgress,
    controller: env.controller,
  });
  summary.rows = r.rows;
  summary.bytes = r.bytes;
  summary.indexes = r.indexes;
  if (r.stream) summary.stream = r.stream;
  for (const k of r.analyzed) analyzed.add(k);
  dataProgress.done(`${formatCount(r.rows)} rows`);
  indexProgress?.done();
  await state.markStep(ctl, 'data');
}

async function copyLargeObjects(env: ExecuteEnv, oids: number[]): Promise<number> {
  const ph = env.progress.phase('large objects', { items: oids.length });
  const signal = env.controller.signal;
  await withClient(env.source, async (src) => {
    await importSnapshot(src, env.snapshot.id);
    await withClient(env.target, async (tgt) => {
      for (const oid of oids) {
        if (signal.aborted) throw signal.reason;
        try {
          await copyLargeObject(src, tgt, oid, (b) => ph.add({ bytes: b }));
        } catch (err) {
          throw classifyError(err, `large objects: copying large object ${oid}`, {
            phase: 'large objects',
            object: `large object ${oid}`,
            hint: 'fix the cause, then re-run with --resume',
          });
        }
        ph.add({ items: 1 });
      }
    });
  });
  ph.done();
  return oids.length;
}
