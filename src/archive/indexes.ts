// Indexes and primary/unique keys of an archive restore, built while the data still loads: each as soon as its
// table's rows are committed (pg_restore -j does the same), on `jobs` sessions of their own. All are rendered by
// one pg_restore call and split per entry; each runs in one transaction with its "done" mark, so a resume skips
// it. Foreign keys, triggers and the rest follow in post-data's batches, once every index they may need exists.
import type { ConnectionSpec } from '../config.js';
import { withClient, withTransaction, type Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import type { Progress } from '../progress.js';
import { splitScript } from '../copy/restore-failure.js';
import type { CopySummary } from '../copy/summary.js';
import { listToc, sectionSql, type TocEntry } from '../schema/dump.js';
import type { PgTools } from '../schema/pgdump.js';
import * as state from '../state/store.js';
import type { Archive } from './index.js';

interface Build {
  dumpId: number;
  sql: string;
  /** The TABLE DATA entry whose rows must be in first (null: nothing to wait for). */
  after: number | null;
  /** An ANALYZE of that TABLE DATA entry's table (after its builds: CREATE INDEX and ANALYZE lock each other out). */
  analyze?: boolean;
}

/** A queue that waiting workers take from until it is closed and empty. */
class ReadyQueue {
  private readonly items: Build[] = [];
  private waiters: Array<() => void> = [];
  private closed = false;
  push(items: Build[]): void {
    this.items.push(...items);
    this.wake();
  }
  close(): void {
    this.closed = true;
    this.wake();
  }
  async take(): Promise<Build | undefined> {
    for (;;) {
      const next = this.items.shift();
      if (next) return next;
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export interface IndexBuildInput {
  tools: PgTools;
  dump: { dir: string; path: string };
  target: ConnectionSpec;
  ctl: Client;
  archive: Archive;
  keep: (e: TocEntry) => boolean;
  keepOwner: boolean;
  keepAcl: boolean;
  jobs: number;
  progress: Progress;
  summary: CopySummary;
  signal: AbortSignal;
  /** ANALYZE each table loaded in this run once its builds are done (copy --analyze overlap), on the same sessions. */
  analyze?: boolean;
}

/** The builds, started at once; `tableLoaded` releases a table's, `finish` waits for all (rejects on a failure). */
export interface IndexBuilds {
  tableLoaded(dataDumpId: number): void;
  finish(): Promise<void>;
  /** The data failed: no build starts any more; those running end. */
  stop(): Promise<void>;
  /** TABLE DATA entries whose table was ANALYZEd here (the rest are left to copy's analyze phase). */
  analyzed: Set<number>;
}

const NONE = (): IndexBuilds => ({ tableLoaded: () => undefined, finish: async () => undefined, stop: async () => undefined, analyzed: new Set() });

export async function startIndexBuilds(input: IndexBuildInput): Promise<IndexBuilds> {
  const { archive, signal } = input;
  const done = await state.doneTocEntries(input.ctl);
  const toc = (await listToc(input.tools, input.dump as never, input.target, 'post-data')).filter(
    (e) => (e.desc === 'INDEX' || e.desc === 'CONSTRAINT') && !done.has(e.dumpId) && input.keep(e),
  );
  if (!toc.length) return NONE();
  const sql = await sectionSql(input.tools, input.dump as never, input.target, toc, {
    section: 'post-data',
    keepOwner: input.keepOwner,
    keepAcl: input.keepAcl,
    signal,
  });
  const { prefix, entries } = splitScript(sql);
  // Each rendered entry must be the one listed at its place; otherwise post-data's batches build them, in order.
  if (entries.length !== toc.length || entries.some((e, i) => !e.label.startsWith(`${toc[i]!.desc} `))) return NONE();
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  // TABLE entry → its TABLE DATA entry (a data entry depends on its table's entry).
  const dataOf = new Map<number, number>();
  for (const e of archive.entries) if (e.desc === 'TABLE DATA') for (const d of e.dependencies) if (byId.get(d)?.desc === 'TABLE') dataOf.set(d, e.dumpId);
  const builds: Build[] = entries.map((e, i) => {
    const table = byId.get(toc[i]!.dumpId)?.dependencies.find((d) => byId.get(d)?.desc === 'TABLE');
    const data = table === undefined ? undefined : dataOf.get(table);
    return { dumpId: toc[i]!.dumpId, sql: prefix + e.sql, after: data === undefined || done.has(data) ? null : data };
  });
  const waiting = new Map<number, Build[]>();
  for (const b of builds) if (b.after !== null) waiting.set(b.after, [...(waiting.get(b.after) ?? []), b]);
  const ready = new ReadyQueue();
  ready.push(builds.filter((b) => b.after === null));
  // Builds still owed per table; at 0 (or at once for a table without any) its ANALYZE is queued.
  const owed = new Map([...waiting].map(([d, bs]) => [d, bs.length]));
  const names = new Map(archive.tables.map((t) => [t.dumpId, `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`]));
  const analyzed = new Set<number>();
  const analyzeLater = (data: number) => {
    const table = names.get(data);
    if (input.analyze && table) ready.push([{ dumpId: data, sql: `ANALYZE ${table}`, after: null, analyze: true }]);
  };
  input.summary.indexes = builds.length;
  const ph = input.progress.phase('indexes', { items: builds.length });
  let failed = false;
  const workers = Promise.all(
    Array.from({ length: Math.max(1, Math.min(input.jobs, builds.length + (input.analyze ? archive.tables.length : 0))) }, () =>
      withClient(
        input.target,
        async (c) => {
          for (let b = await ready.take(); b && !signal.aborted && !failed; b = await ready.take()) {
            const item = b;
            if (item.analyze) {
              await c.query(item.sql);
              analyzed.add(item.dumpId);
              continue;
            }
            await withTransaction(c, async () => {
              await c.query(item.sql);
              await state.markTocEntriesDone(c, 'post-data', [item.dumpId]);
            });
            await c.query('RESET ALL');
            ph.add({ items: 1 });
            if (item.after !== null) {
              const left = (owed.get(item.after) ?? 1) - 1;
              owed.set(item.after, left);
              if (left === 0) analyzeLater(item.after);
            }
          }
        },
        { applicationName: 'pgshift copy indexes' },
      ),
    ),
  ).catch((err: unknown) => {
    failed = true;
    ready.close();
    throw err;
  });
  // Seen by finish(); until then a failure only stops the other workers.
  workers.catch(() => undefined);
  return {
    tableLoaded(dataDumpId) {
      const b = waiting.get(dataDumpId);
      if (b) ready.push(b);
      else analyzeLater(dataDumpId);
      waiting.delete(dataDumpId);
    },
    analyzed,
    async finish() {
      // Tables whose data did not load in this run (a resume finds them done): their builds go now.
      for (const b of waiting.values()) ready.push(b);
      waiting.clear();
      ready.close();
      await workers;
      ph.done();
    },
    async stop() {
      failed = true;
      ready.close();
      await workers.catch(() => undefined);
    },
  };
}
