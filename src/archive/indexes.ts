// Indexes, primary/unique keys and foreign keys of an archive restore, built while the data still loads: each
// index and key as soon as its table's rows are committed (pg_restore -j does the same), each foreign key as soon
// as the rows of both its tables are in and every index and key on them is built — the referenced key among
// them (pg_dump makes a foreign key depend on it) — on `jobs` sessions of their own. All are rendered by one
// pg_restore call and split per entry; each runs in one transaction with its "done" mark, so a resume skips it.
// Triggers and the rest follow in post-data's batches; so do foreign keys that need another post-data entry first
// (to a partitioned table: its index attachments). A foreign key on a table without rows of its own in the archive
// (partitioned) waits for all the data: its rows load with the copy's triggers off, so none may come after it.
import type { ConnectionSpec } from '../config.js';
import { withClient, type Client } from '../db/connect.js';
import { runPipelined } from '../db/pipelined.js';
import { errorCode } from '../errors.js';
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
  /** The TABLE DATA entry of the table an index or key is built on (its ANALYZE follows the last); null: none to wait for, or a foreign key. */
  after: number | null;
  /** What must be done first: TABLE DATA entries (rows in) and other builds; released when empty. */
  waits: Set<number>;
  /** An ANALYZE of that TABLE DATA entry's table (after its builds: CREATE INDEX and ANALYZE lock each other out). */
  analyze?: boolean;
  /** A group's builds in one (tablesLoaded): the builds it holds, each marked done with it and released after it. */
  holds?: number[];
  /** … and the TABLE DATA entries whose tables it ANALYZEs after their builds. */
  analyzes?: number[];
}

/** Marks every TABLE DATA entry's rows as in: a foreign key waiting on it for want of rows of its own. */
const ALL_DATA = -1;

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

/** The builds, started at once; `tablesLoaded` releases a table's, `finish` waits for all (rejects on a failure). */
export interface IndexBuilds {
  /**
   * The rows of these tables are committed (one table, or a group of small ones in one transaction: their index
   * and key builds and ANALYZEs then go as one item too — one transaction, two round trips for the group).
   */
  tablesLoaded(dataDumpIds: number[]): void;
  finish(): Promise<void>;
  /** The data failed: no build starts any more; those running end. */
  stop(): Promise<void>;
  /** TABLE DATA entries whose table was ANALYZEd here (the rest are left to copy's analyze phase). */
  analyzed: Set<number>;
}

const NONE = (): IndexBuilds => ({ tablesLoaded: () => undefined, finish: async () => undefined, stop: async () => undefined, analyzed: new Set() });

export async function startIndexBuilds(input: IndexBuildInput): Promise<IndexBuilds> {
  const { archive, signal } = input;
  const done = await state.doneTocEntries(input.ctl);
  const wanted = (await listToc(input.tools, input.dump as never, input.target, 'post-data')).filter(
    (e) => (e.desc === 'INDEX' || e.desc === 'CONSTRAINT' || e.desc === 'FK CONSTRAINT') && !done.has(e.dumpId) && input.keep(e),
  );
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  // TABLE entry → its TABLE DATA entry (a data entry depends on its table's entry).
  const dataOf = new Map<number, number>();
  for (const e of archive.entries) if (e.desc === 'TABLE DATA') for (const d of e.dependencies) if (byId.get(d)?.desc === 'TABLE') dataOf.set(d, e.dumpId);
  const indexes = new Set(wanted.filter((e) => e.desc !== 'FK CONSTRAINT').map((e) => e.dumpId));
  // A foreign key that needs a post-data entry built elsewhere (an index attachment) is left to post-data.
  const toc = wanted.filter(
    (e) => e.desc !== 'FK CONSTRAINT' || (byId.get(e.dumpId)?.dependencies ?? []).every((d) => byId.get(d)?.section !== 4 || indexes.has(d) || done.has(d)),
  );
  const building = new Set(toc.map((e) => e.dumpId));
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
  const tableOf = (id: number) => byId.get(id)?.dependencies.find((d) => byId.get(d)?.desc === 'TABLE');
  const builds: Build[] = entries.map((e, i) => {
    const id = toc[i]!.dumpId;
    const table = tableOf(id);
    const data = table === undefined ? undefined : dataOf.get(table);
    const after = data === undefined || done.has(data) ? null : data;
    return { dumpId: id, sql: prefix + e.sql, after: toc[i]!.desc === 'FK CONSTRAINT' ? null : after, waits: new Set(after === null ? [] : [after]) };
  });
  // A foreign key waits for the rows of its tables (both are among its dependencies) and every index and key on them.
  const keysOn = new Map<number, number[]>();
  for (const b of builds)
    if (byId.get(b.dumpId)?.desc !== 'FK CONSTRAINT') keysOn.set(tableOf(b.dumpId) ?? 0, [...(keysOn.get(tableOf(b.dumpId) ?? 0) ?? []), b.dumpId]);
  for (const b of builds) {
    if (byId.get(b.dumpId)?.desc !== 'FK CONSTRAINT') continue;
    for (const d of byId.get(b.dumpId)!.dependencies) {
      if (byId.get(d)?.desc === 'TABLE') {
        const data = dataOf.get(d);
        if (data === undefined) b.waits.add(ALL_DATA);
        else if (!done.has(data)) b.waits.add(data);
        for (const k of keysOn.get(d) ?? []) b.waits.add(k);
      } else if (building.has(d)) b.waits.add(d);
    }
  }
  // Who waits on what: released as each table's rows come in and each build is done.
  const waiting = new Map<number, Build[]>();
  for (const b of builds) for (const w of b.waits) waiting.set(w, [...(waiting.get(w) ?? []), b]);
  const ready = new ReadyQueue();
  ready.push(builds.filter((b) => b.waits.size === 0));
  // Closed once finish() is called and every build is released, so no session leaves while a foreign key
  // still waits for a build another one is running.
  let unreleased = builds.filter((b) => b.waits.size > 0).length;
  let finishing = false;
  const release = (id: number) => {
    const bs = waiting.get(id);
    waiting.delete(id);
    for (const b of bs ?? []) {
      b.waits.delete(id);
      if (b.waits.size > 0) continue;
      unreleased--;
      ready.push([b]);
    }
    if (finishing && unreleased === 0) ready.close();
  };
  // Index and key builds still owed per table; at 0 (or at once for a table without any) its ANALYZE is queued.
  const owed = new Map<number, number>();
  for (const b of builds) if (b.after !== null) owed.set(b.after, (owed.get(b.after) ?? 0) + 1);
  const names = new Map(archive.tables.map((t) => [t.dumpId, `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`]));
  const analyzed = new Set<number>();
  const analyzeLater = (data: number) => {
    const table = names.get(data);
    if (input.analyze && table) ready.push([{ dumpId: data, sql: `ANALYZE ${table}`, after: null, waits: new Set(), analyze: true }]);
  };
  // Foreign keys are counted with the rest of post-data's (copy.ts).
  input.summary.indexes = builds.filter((b) => byId.get(b.dumpId)?.desc !== 'FK CONSTRAINT').length;
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
              await c.query(`RESET ALL; ${item.sql}`);
              analyzed.add(item.dumpId);
              continue;
            }
            await runBuild(c, item);
            if (item.holds) {
              ph.add({ items: item.holds.length });
              for (const d of item.analyzes ?? []) analyzed.add(d);
              for (const id of item.holds) release(id);
              continue;
            }
            ph.add({ items: 1 });
            release(item.dumpId);
            if (item.after !== null) {
              const left = (owed.get(item.after) ?? 1) - 1;
              owed.set(item.after, left);
              if (left === 0) analyzeLater(item.after);
            }
          }
        },
        { applicationName: 'pgshift copy indexes', phase: 'indexes' },
      ),
    ),
  ).catch((err: unknown) => {
    failed = true;
    ready.close();
    throw err;
  });
  // Seen by finish(); until then a failure only stops the other workers.
  workers.catch(() => undefined);
  /**
   * A group's tables: the builds that waited only for their rows (indexes and keys; not foreign keys, which wait
   * for other builds too) and their ANALYZEs as one item, each build's script after RESET ALL as if run alone.
   */
  const together = (ids: number[]): void => {
    const holds: Build[] = [];
    for (const id of ids) {
      const mine = (waiting.get(id) ?? []).filter((b) => b.after === id && b.waits.size === 1);
      if (!mine.length) continue;
      waiting.set(
        id,
        (waiting.get(id) ?? []).filter((b) => !mine.includes(b)),
      );
      unreleased -= mine.length;
      owed.set(id, 0);
      holds.push(...mine);
    }
    const analyzes = input.analyze ? ids.filter((id) => names.has(id)) : [];
    if (!holds.length && !analyzes.length) return;
    const sql = [...holds.map((b) => `RESET ALL;\n${b.sql}`), ...analyzes.map((id) => `RESET ALL;\nANALYZE ${names.get(id)!};\n`)].join('\n');
    ready.push([{ dumpId: holds[0]?.dumpId ?? ids[0]!, sql, after: null, waits: new Set(), holds: holds.map((b) => b.dumpId), analyzes }]);
  };
  return {
    tablesLoaded(dataDumpIds) {
      if (dataDumpIds.length > 1) together(dataDumpIds);
      for (const id of dataDumpIds) {
        if (dataDumpIds.length === 1 && !owed.get(id)) analyzeLater(id);
        release(id);
      }
    },
    analyzed,
    async finish() {
      // All rows are in: what waits on tables whose data did not load in this run (a resume finds them done) goes
      // now; what waits on builds still running goes when they are done (the worker that finishes one takes it).
      finishing = true;
      for (const id of [...waiting.keys()]) if (!building.has(id)) release(id);
      if (unreleased === 0) ready.close();
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

/**
 * One build and its done mark in one transaction, in two round trips: `RESET ALL; BEGIN; <its script>` as one
 * query (the settings the previous item's script made are gone, pg_restore's own are set again by its prefix),
 * then the mark pipelined with COMMIT. Was five (BEGIN, script, mark, COMMIT, RESET ALL): with hundreds of small
 * tables each round trip's socket write and wake-up were a large share of the client's CPU.
 */
async function runBuild(c: Client, b: Build): Promise<void> {
  // Builds of tables that share foreign keys lock the same tables in different orders and can deadlock:
  // PostgreSQL aborts one, whose whole transaction (build and mark) is simply run again, as copy's builds are.
  for (let attempt = 1; ; attempt++) {
    try {
      await c.query(`RESET ALL; BEGIN; ${b.sql}`);
      await runPipelined(c, [state.tocEntriesDone('post-data', b.holds ?? [b.dumpId]), { text: 'COMMIT' }]);
      return;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      if (errorCode(err) !== '40P01' || attempt >= 5) throw err;
    }
  }
}
