// The data phase: --jobs pipelines (one source + one target connection each, all on the one snapshot), largest
// chunks first; each table's indexes are handed to the --index-jobs builders as soon as its last chunk commits.
import type { ConnectionSpec } from '../config.js';
import type { TableInfo } from '../catalog/tables.js';
import { connect, type Client } from '../db/connect.js';
import { classifyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PhaseProgress } from '../progress.js';
import { buildIndex, type IndexJob } from './indexes.js';
import { copyChunk } from './pipeline.js';
import { integerKey, type Chunk } from './plan.js';
import { importSnapshot } from '../db/snapshot.js';

export interface DataPhaseInput {
  source: ConnectionSpec;
  target: ConnectionSpec;
  snapshotId: string;
  tables: Map<string, TableInfo>;
  pending: Chunk[];
  /** Chunks per table still to copy (including those of other runs) — when it reaches 0 the indexes start. */
  remaining: Map<string, number>;
  indexJobs: IndexJob[];
  jobs: number;
  indexWorkers: number;
  truncateAndFreeze: boolean;
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
}

/** A tiny closable work queue shared by workers. */
class Queue<T> {
  private items: T[] = [];
  private waiters: ((v: T | undefined) => void)[] = [];
  private closed = false;
  push(item: T): void {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(undefined);
  }
  take(): Promise<T | undefined> {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export const tableKey = (schema: string, name: string) => `${schema}.${name}`;

async function closeQuietly(client: Client | undefined): Promise<void> {
  if (!client) return;
  // A connection stuck in COPY OUT may not answer Terminate; don't let it hold the exit.
  await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
}

export async function runDataPhase(input: DataPhaseInput): Promise<DataPhaseResult> {
  const { logger, controller } = input;
  const signal = controller.signal;
  const result = { rows: 0, bytes: 0, indexes: 0 };
  const chunkQueue = [...input.pending].sort((a, b) => b.estBytes - a.estBytes);
  const indexQueue = new Queue<IndexJob>();
  const indexesOf = new Map<string, IndexJob[]>();
  for (const j of input.indexJobs) {
    const k = tableKey(j.schema, j.table);
    indexesOf.set(k, [...(indexesOf.get(k) ?? []), j]);
  }
  const release = (key: string) => {
    for (const j of indexesOf.get(key) ?? []) indexQueue.push(j);
    indexesOf.delete(key);
  };
  // Tables whose data is already in (a resumed run) get their indexes right away.
  for (const key of [...indexesOf.keys()]) if ((input.remaining.get(key) ?? 0) === 0) release(key);

  const chunkWorker = async (n: number) => {
    let src: Client | undefined;
    let tgt: Client | undefined;
    try {
      src = await connect(input.source, { applicationName: `pgshift copy worker ${n}` });
      await importSnapshot(src, input.snapshotId);
      tgt = await connect(input.target, { applicationName: `pgshift copy worker ${n}` });
      // The state row commits with the data, so an asynchronous commit loses both or neither.
      await tgt.query(`SET synchronous_commit = off`);
      for (let c = chunkQueue.shift(); c && !signal.aborted; c = chunkQueue.shift()) {
        const key = tableKey(c.schema, c.table);
        const t = input.tables.get(key)!;
        const label = `${t.display}${c.chunks > 1 ? ` (chunk ${c.chunk + 1}/${c.chunks})` : ''}`;
        try {
          const r = await copyChunk(src, tgt, t, c, integerKey(t), {
            truncateAndFreeze: input.truncateAndFreeze,
            signal,
            onBytes: (b) => input.dataProgress.add({ bytes: b }),
          });
          result.rows += r.rows;
          result.bytes += r.bytes;
          input.dataProgress.add({ rows: r.rows, items: 1 });
          logger.debug({ table: t.display, chunk: c.chunk, rows: r.rows, bytes: r.bytes }, `data: copied ${label}`);
        } catch (err) {
          throw classifyError(err, `data: copying ${label}`, {
            phase: 'data',
            object: t.display,
            hint: 'fix the cause, then run the same command with --resume (finished chunks are kept)',
          });
        }
        const left = (input.remaining.get(key) ?? 1) - 1;
        input.remaining.set(key, left);
        if (left === 0) release(key);
      }
    } finally {
      await closeQuietly(src);
      await closeQuietly(tgt);
    }
  };

  const indexWorker = async (n: number) => {
    let tgt: Client | undefined;
    try {
      tgt = await connect(input.target, { applicationName: `pgshift index builder ${n}` });
      await tgt.query(`SET maintenance_work_mem = '256MB'`);
      for (let j = await indexQueue.take(); j && !signal.aborted; j = await indexQueue.take()) {
        try {
          await buildIndex(tgt, j);
        } catch (err) {
          throw classifyError(err, `indexes: building ${j.schema}.${j.name} on ${j.schema}.${j.table}`, {
            phase: 'indexes',
            object: `${j.schema}.${j.table}`,
            hint: 'fix the cause, then run the same command with --resume',
          });
        }
        result.indexes++;
        input.indexProgress?.add({ items: 1 });
      }
    } finally {
      await closeQuietly(tgt);
    }
  };

  let firstError: unknown;
  const failFast = <T>(p: Promise<T>) =>
    p.catch((err) => {
      firstError ??= err;
      indexQueue.close();
      controller.abort(err);
      throw err;
    });
  const chunkWorkers = Array.from({ length: Math.min(input.jobs, Math.max(1, chunkQueue.length)) }, (_, i) => failFast(chunkWorker(i + 1)));
  const indexWorkers = input.indexJobs.length ? Array.from({ length: input.indexWorkers }, (_, i) => failFast(indexWorker(i + 1))) : [];
  const dataDone = Promise.allSettled(chunkWorkers).finally(() => {
    // Tables with no chunk left to copy but whose indexes never got released (should not happen) go now.
    for (const key of [...indexesOf.keys()]) release(key);
    indexQueue.close();
  });
  await Promise.allSettled([dataDone, ...indexWorkers]);
  if (firstError !== undefined) throw firstError;
  if (signal.aborted) throw signal.reason;
  return result;
}
