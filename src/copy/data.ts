// The data phase: --jobs pipelines (one source + one target connection each, all on the one snapshot), largest
// tables first and each table's chunks largest first (a split table finishes early, so its key builds overlap
// the rest of the copy); each table's indexes are handed to the --index-jobs builders as soon as its last chunk
// commits, and its ANALYZE (--analyze overlap) once its indexes are in.
import type { ConnectionSpec } from '../config.js';
import type { TableInfo } from '../catalog/tables.js';
import { connect, type Client } from '../db/connect.js';
import { displayName } from '../db/ident.js';
import { classifyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PhaseProgress } from '../progress.js';
import { runBuildJob } from './builds.js';
import { BuildScheduler, ownerKey, secondHalf, type BuildJob } from './schedule.js';
import { BATCH_MAX_BYTES, BATCH_MAX_CHUNKS, batchable, copyChunk, copyChunkBatch, type ChunkResult, type CopyWireFormat } from './pipeline.js';
import { chunkOrder, integerKey, type Chunk } from './plan.js';
import { tableKey } from '../catalog/table-id.js';
import { importSnapshotSql } from '../db/snapshot.js';
import { StreamStats, type StreamSummary } from './stream-stats.js';

export interface DataPhaseInput {
  source: ConnectionSpec;
  target: ConnectionSpec;
  snapshotId: string;
  tables: Map<string, TableInfo>;
  pending: Chunk[];
  /** Chunks per table (tableKey) still to copy — when it reaches 0 the table's builds may start. */
  remaining: Map<string, number>;
  /** Tables whose data is entirely in already (a resumed run). */
  loaded: string[];
  buildJobs: BuildJob[];
  jobs: number;
  indexWorkers: number;
  truncateAndFreeze: boolean;
  /** COPY format on the wire (default binary where safe). */
  format?: CopyWireFormat;
  logger: Logger;
  dataProgress: PhaseProgress;
  indexProgress?: PhaseProgress;
  /** Aborted on the first failure (or Ctrl-C): in-flight COPYs are cancelled and roll back. */
  controller: AbortController;
}

export interface DataPhaseResult {
  rows: number;
  bytes: number;
  indexes: number;
  /** Tables (tableKey) analyzed during the phase. */
  analyzed: string[];
  /** What streamed from the source and when (none when nothing was left to copy). */
  stream?: StreamSummary;
}

/** Session settings of the target connections; each is logged at debug level when set. */
export const CHUNK_SETTINGS = {
  // The chunk's state row commits with its data, so an asynchronous commit loses both or neither.
  synchronous_commit: 'off',
} as const;
export const BUILD_SETTINGS = {
  // Same reasoning: an index and its state row commit together.
  synchronous_commit: 'off',
  // Sorts for index builds in memory (per builder; the server's own default is 64MB).
  maintenance_work_mem: '256MB',
} as const;

async function applySettings(c: Client, settings: Record<string, string>, logger: Logger, who: string): Promise<void> {
  for (const [name, value] of Object.entries(settings)) {
    await c.query(`SELECT set_config($1, $2, false)`, [name, value]);
    logger.debug({ setting: name, value, connection: who }, `session setting ${name} = ${value}`);
  }
}

/** Chunks a worker copies under one reading transaction (each holds a table lock until it ends). */
const REIMPORT_EVERY = 100;

async function closeQuietly(client: Client | undefined): Promise<void> {
  if (!client) return;
  // A connection stuck in COPY OUT may not answer Terminate; don't let it hold the exit.
  await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
}

export async function runDataPhase(input: DataPhaseInput): Promise<DataPhaseResult> {
  const { logger, controller } = input;
  const signal = controller.signal;
  const result: DataPhaseResult = { rows: 0, bytes: 0, indexes: 0, analyzed: [] };
  const streams = new StreamStats();
  const chunkQueue = chunkOrder(input.pending);
  const scheduler = new BuildScheduler(input.buildJobs, input.loaded);
  // A stop (Ctrl-C, a failure elsewhere) must also release the builders waiting for tables that will never load.
  const stopBuilds = () => scheduler.abort();
  if (signal.aborted) stopBuilds();
  else signal.addEventListener('abort', stopBuilds, { once: true });

  /**
   * The next unit of work: one chunk, or a run of small whole-table chunks that go to the source in one round
   * trip — no more than a fair share of what is left, so every job keeps work until the end.
   */
  const takeWork = (): Chunk[] => {
    const first = chunkQueue.shift();
    if (!first) return [];
    const batch = [first];
    if (!batchable(first)) return batch;
    const max = Math.min(BATCH_MAX_CHUNKS, Math.ceil((chunkQueue.length + 1) / input.jobs));
    let bytes = first.estBytes;
    while (batch.length < max && chunkQueue.length && batchable(chunkQueue[0]!) && bytes + chunkQueue[0]!.estBytes <= BATCH_MAX_BYTES) {
      bytes += chunkQueue[0]!.estBytes;
      batch.push(chunkQueue.shift()!);
    }
    return batch;
  };

  const chunkWorker = async (n: number) => {
    let src: Client | undefined;
    let tgt: Client | undefined;
    try {
      src = await connect(input.source, { applicationName: `pgshift copy worker ${n}`, pooledReads: true, phase: 'data' });
      // Never copy a subset silently: with row security off, a table whose policies would filter rows for this
      // role raises an error instead (as pg_dump does). One round trip with the snapshot import.
      await src.query(`${importSnapshotSql(input.snapshotId)}; SET LOCAL row_security = off`);
      tgt = await connect(input.target, { applicationName: `pgshift copy worker ${n}`, phase: 'data' });
      await applySettings(tgt, CHUNK_SETTINGS, logger, `copy worker ${n}`);
      let sinceImport = 0;
      for (let work = takeWork(); work.length && !signal.aborted; work = takeWork()) {
        // Each COPY keeps its table's lock until the reading transaction ends: re-import the snapshot now and
        // then (in the same round trip as the COMMIT), so thousands of tables never fill the source's lock table.
        if (sinceImport > 0 && sinceImport + work.length > REIMPORT_EVERY) {
          await src.query(`COMMIT; ${importSnapshotSql(input.snapshotId)}; SET LOCAL row_security = off`);
          sinceImport = 0;
        }
        sinceImport += work.length;
        const t0 = Date.now();
        const label = (c: Chunk) => `${input.tables.get(tableKey(c))!.display}${c.chunks > 1 ? ` (chunk ${c.chunk + 1}/${c.chunks})` : ''}`;
        const copied = (c: Chunk, r: ChunkResult) => {
          const key = tableKey(c);
          result.rows += r.rows;
          result.bytes += r.bytes;
          streams.add(input.tables.get(key)!.display, c, r);
          input.dataProgress.add({ rows: r.rows, items: 1 });
          logger.debug(
            {
              table: input.tables.get(key)!.display,
              chunk: c.chunk,
              rows: r.rows,
              bytes: r.bytes,
              wireBytes: r.wireBytes,
              streamSeconds: (r.endedAt - r.startedAt) / 1000,
              worker: n,
              batch: work.length,
              seconds: (Date.now() - t0) / 1000,
            },
            `data: copied ${label(c)}${work.length > 1 ? ` (one of ${work.length} in one source round trip)` : ''}`,
          );
          const left = (input.remaining.get(key) ?? 1) - 1;
          input.remaining.set(key, left);
          if (left === 0) scheduler.tableLoaded(key);
        };
        const opts = { truncateAndFreeze: input.truncateAndFreeze, format: input.format, signal, onBytes: (b: number) => input.dataProgress.add({ bytes: b }) };
        try {
          if (work.length === 1) {
            const c = work[0]!;
            const t = input.tables.get(tableKey(c))!;
            copied(c, await copyChunk(src, tgt, t, c, integerKey(t), opts));
          } else {
            const items = work.map((c) => ({ t: input.tables.get(tableKey(c))!, c }));
            await copyChunkBatch(src, tgt, items, { ...opts, onChunk: (i, r) => copied(work[i]!, r) });
          }
        } catch (err) {
          const failed = work[Math.min(work.length - 1, (err as { batchIndex?: number }).batchIndex ?? 0)]!;
          const t = input.tables.get(tableKey(failed))!;
          throw classifyError(err, `data: copying ${label(failed)}`, {
            phase: 'data',
            object: t.display,
            hint: 'fix the cause, then run the same command with --resume (finished chunks are kept)',
          });
        }
      }
    } finally {
      await closeQuietly(src);
      await closeQuietly(tgt);
    }
  };

  const buildWorker = async (n: number) => {
    let tgt: Client | undefined;
    try {
      tgt = await connect(input.target, { applicationName: `pgshift index builder ${n}`, phase: 'indexes' });
      await applySettings(tgt, BUILD_SETTINGS, logger, `index builder ${n}`);
      for (let j = await scheduler.queue.take(); j && !signal.aborted; j = await scheduler.queue.take()) {
        const t0 = Date.now();
        if (j.kind === 'analyze') {
          try {
            for (const sql of j.statements) await tgt.query(sql);
          } catch (err) {
            throw classifyError(err, `analyze: analyzing ${displayName(j.schema, j.table)}`, {
              phase: 'analyze',
              object: displayName(j.schema, j.table),
              hint: 'fix the cause, then run the same command with --resume',
            });
          }
          logger.debug({ table: displayName(j.schema, j.table), seconds: (Date.now() - t0) / 1000 }, 'analyze: analyzed (overlapping the copy)');
          result.analyzed.push(ownerKey(j));
          scheduler.jobDone(j);
          continue;
        }
        try {
          await runBuildJob(tgt, j);
          logger.debug(
            { table: displayName(j.schema, j.table), seconds: (Date.now() - t0) / 1000 },
            j.attach ? `indexes: attached ${j.name} to its table` : `indexes: built ${j.kind} ${j.name}`,
          );
        } catch (err) {
          throw classifyError(err, `indexes: building ${j.kind} ${j.name} on ${displayName(j.schema, j.table)}`, {
            phase: 'indexes',
            object: displayName(j.schema, j.table),
            hint: 'fix the cause, then run the same command with --resume',
          });
        }
        if (!secondHalf(j)) {
          result.indexes++;
          input.indexProgress?.add({ items: 1 });
        }
        scheduler.jobDone(j);
      }
    } finally {
      await closeQuietly(tgt);
    }
  };

  let firstError: unknown;
  const failFast = <T>(p: Promise<T>) =>
    p.catch((err) => {
      firstError ??= err;
      scheduler.abort();
      controller.abort(err);
      throw err;
    });
  const chunkWorkers = Array.from({ length: Math.min(input.jobs, Math.max(1, chunkQueue.length)) }, (_, i) => failFast(chunkWorker(i + 1)));
  const buildWorkers = input.buildJobs.length ? Array.from({ length: input.indexWorkers }, (_, i) => failFast(buildWorker(i + 1))) : [];
  const dataDone = Promise.allSettled(chunkWorkers).finally(() => scheduler.allLoaded());
  await Promise.allSettled([dataDone, ...buildWorkers]);
  signal.removeEventListener('abort', stopBuilds);
  if (firstError !== undefined) throw firstError;
  if (signal.aborted) throw signal.reason;
  if (input.pending.length) result.stream = streams.summary();
  return result;
}
