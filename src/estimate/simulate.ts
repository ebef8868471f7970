// A discrete-event simulation of copy's data phase: the plan's chunks in copy's order (chunkOrder), on --jobs pipes; each
// table's index and key builds released by copy's own BuildScheduler (src/copy/schedule.ts) as its last chunk
// finishes, on --index-jobs builders; foreign keys once all data is in. Activities that run at the same time
// slow each other as the probe measured it (rates.contention): each running activity adds its kind's measured
// load to every other's, and one whose summed load passes 1 runs that many times slower than alone. An index
// build with parallel maintenance workers weighs what its workers gain (measured by the probe, parallelGain; up
// to what the pair runs at full speed): alone on an idle pair it runs that many times faster than the probe's
// one-process sample, beside other work it gets its share. Builds on one table also wait for each other's table locks where the server makes them
// (locks.ts: a key's ALTER TABLE waits for the table's other builds). Pure: no I/O.
import { BATCH_MAX_CHUNKS, batchable } from '../copy/pipeline.js';
import { tableKey } from '../catalog/table-id.js';
import { chunkOrder, type Chunk } from '../copy/plan.js';
import { BuildScheduler, ownerKey, type BuildJob } from '../copy/schedule.js';
import { LockTable, locksOf } from './locks.js';
import { contentionOf, type ActivityKind, type Contention, type Rates } from './rates.js';

export interface ModelTable {
  /** tableKey of the table. */
  key: string;
  display: string;
  heapBytes: number;
  toastBytes: number;
  rows: number;
  /** Columns (ANALYZE computes statistics per column). */
  columns: number;
  format: 'text' | 'binary';
}

export interface Segment {
  /** "copy 1", "index 2": the connection that runs it. */
  lane: string;
  kind: 'chunk' | BuildJob['kind'];
  /** tableKey of the table it works on. */
  key: string;
  table: string;
  /** "chunk 2/3", the index or key name. */
  label: string;
  start: number;
  end: number;
}

export interface DataPhaseSim {
  /** Seconds from the first connection to the last build (0 when nothing to copy). */
  seconds: number;
  /** When the last chunk finished. */
  dataSeconds: number;
  segments: Segment[];
  /** The chain of segments that decided when the phase ended, first to last. */
  criticalPath: Segment[];
}

export interface DataPhaseInput {
  tables: ModelTable[];
  chunks: Chunk[];
  builds: BuildJob[];
  /** Index bytes on the source by JSON [schema, index name]; builds without an entry cost the overhead only. */
  indexBytes: Record<string, number>;
  jobs: number;
  indexJobs: number;
}

/** Key of an index in DataPhaseInput.indexBytes. */
export const indexKey = (schema: string, name: string) => JSON.stringify([schema, name]);

/**
 * Past this many bytes a chunk's commit finds most of its WAL already flushed by the WAL writer: measured on the
 * project's PG15 pair, the commit after 2.4 MB took 8 ms more than an empty one, after 25 MB 20–50 ms.
 */
export const FLUSH_CAP_BYTES = 4 * 1024 * 1024;

/**
 * Seconds one chunk takes at full speed; a whole-table chunk's commit also waits for its WAL (rates.commitFlush).
 * A small whole table goes to the source with others in one round trip (copy/pipeline.ts copyChunkBatch): of
 * the source round trip in its fixed cost it pays only its share of the batch (`batch` chunks).
 */
export function chunkSeconds(t: ModelTable, c: Chunk, r: Rates, batch = 1): number {
  const rate = r.perTable[t.key] ?? r.copy[t.format];
  const f = r.commitFlush;
  const flush = c.method === 'whole' && f && f.bytes > 0 ? (f.seconds * Math.min(c.estBytes, FLUSH_CAP_BYTES)) / f.bytes : 0;
  const shared = batch > 1 && batchable(c) ? Math.min(r.sourceRoundTrip, r.chunkOverhead / 2) * (1 - 1 / batch) : 0;
  return r.chunkOverhead - shared + c.estBytes / rate + flush;
}

/** A foreign key added NOT VALID: the first half of a split key (its VALIDATE follows), or one never validated. */
const addedNotValid = (j: BuildJob) => j.kind === 'foreign key' && / NOT VALID$/.test(j.statements[0] ?? '');

/** A foreign-key job that checks every row: its VALIDATE half, or a key added whole. One added NOT VALID checks
 * none (its VALIDATE half does, or the source's key was never validated). */
export function checksRows(j: BuildJob): boolean {
  return j.kind === 'foreign key' && (j.validate === true || !addedNotValid(j));
}

/** A build's name for people; the two halves of a key or a foreign key (copy/builds.ts) say which half they are. */
export function buildLabel(j: BuildJob): string {
  if (j.attach) return `${j.name} (attach)`;
  if (j.kind === 'foreign key' && j.validate) return `${j.name} (validate)`;
  if (addedNotValid(j)) return `${j.name} (NOT VALID)`;
  return j.name;
}

/** Seconds one build takes at full speed: scan the heap(s), then sort and write the index. */
export function buildSeconds(j: BuildJob, tables: Map<string, ModelTable>, indexBytes: Record<string, number>, r: Rates): number {
  const heap = (k: string) => tables.get(k)?.heapBytes ?? 0;
  if (j.kind === 'analyze') {
    // copy --analyze overlap: ANALYZE as a build job (model.ts analyzeSeconds, inlined to keep this module pure).
    const t = tables.get(ownerKey(j));
    const rows = Math.min(Math.max(t?.rows ?? 1, 1), 30_000);
    return r.analyze.perTable + Math.min(t?.heapBytes ?? 0, 30_000 * 8192) / r.scan + rows * Math.max(1, t?.columns ?? 1) * r.analyze.perValue;
  }
  if (j.kind === 'foreign key' && !checksRows(j)) return r.buildOverhead;
  if (j.kind === 'foreign key') {
    // Validation is one anti-join of the referencing table against the referenced key: both heaps are read,
    // and the referenced side is hashed (about twice the work of a scan). Measured by the probe per row.
    const [child, ref] = [j.needsData[0] ?? ownerKey(j), j.needsKeys[0] ?? ownerKey(j)];
    const rows = (k: string) => Math.max(0, tables.get(k)?.rows ?? 0);
    if (r.foreignKeyRows && rows(child) > 0 && rows(ref) > 0)
      return r.buildOverhead + ((rows(child) + rows(ref)) / r.foreignKeyRows) * hashGrowth(rows(ref), r.foreignKeySampleRows);
    return r.buildOverhead + (heap(child) + 2 * heap(ref)) / r.scan;
  }
  // A key's ALTER TABLE half (copy/builds.ts): catalog work only, once its index is built.
  if (j.attach) return r.buildOverhead;
  const sampled = r.perIndex[indexKey(j.schema, j.name)];
  const owner = tables.get(ownerKey(j));
  if (sampled && owner) return r.buildOverhead + scaleIndexSample(sampled, owner);
  return r.buildOverhead + heap(ownerKey(j)) / r.scan + (indexBytes[indexKey(j.schema, j.name)] ?? 0) / r.indexWrite;
}

/**
 * How much more per row a hash anti-join costs over `rows` hashed rows than over the probe's `sampleRows`: once
 * the hash outgrows the CPU's caches every probe of it misses. Measured on the target of bench:estimate (serial,
 * work_mem 256MB, bench/estimate-builds.ts --fk): 3.56 M rows/s over 40k rows, 2.65 M over 290k, 1.67 M for the
 * dominant shape's real check over 1.2M — per-row cost growing as rows^0.15 to ^0.21; the lower is used, and at
 * most 4× (past the caches it stops growing; a hash past maintenance_work_mem would spill, not modelled).
 */
export function hashGrowth(rows: number, sampleRows: number | undefined): number {
  if (!sampleRows || sampleRows <= 0 || rows <= sampleRows) return 1;
  return Math.min(4, (rows / sampleRows) ** 0.15);
}

/**
 * An index built on a sample, scaled to the whole table as a sort grows: n·log n in rows (in heap bytes when the
 * table was never analyzed). Linear scaling was right only while a big build was credited a core per parallel
 * worker; with the workers' real gain (parallelGain, about none on the bench's 2 cores) whole-table builds of the
 * dominant shape measured 21–34× their 15× smaller sample (bench/estimate-builds.ts), n·log n says 18.6×.
 */
export function scaleIndexSample(m: { seconds: number; rows: number; heapBytes: number }, t: ModelTable): number {
  const ratio = t.rows > 0 && m.rows > 0 ? t.rows / m.rows : t.heapBytes / Math.max(1, m.heapBytes);
  const n = Math.max(2, m.rows);
  return m.seconds * ratio * Math.max(1, Math.log2(n * Math.max(1, ratio)) / Math.log2(n));
}

/**
 * Parallel workers the target gives a CREATE INDEX on a heap of this size (its plan_create_index_workers): one
 * more each time the heap triples past min_parallel_table_scan_size, at most max_parallel_maintenance_workers,
 * and each participant needs 32MB of copy's maintenance_work_mem (256MB).
 */
export function indexWorkers(heapBytes: number, s: Rates['parallelMaintenance']): number {
  const pages = heapBytes / 8192;
  const minPages = Math.max(1, s.minPages);
  if (!(s.maxWorkers > 0) || pages < minPages) return 0;
  let workers = 1;
  for (let threshold = minPages * 3; pages >= threshold && workers < s.maxWorkers; threshold *= 3) workers++;
  return Math.min(workers, s.maxWorkers, Math.floor(256 / 32) - 1);
}

/**
 * How many times as fast as one process a build runs with `processes` (leader + workers), alone. Measured by the
 * probe at one count (rates.parallelBuild), other counts by Amdahl's law from it: the workers only scan and sort
 * in parallel, the leader merges their runs and writes the whole index by itself, so the gain is far below one
 * core per process (measured 1.0–1.3× with 2 workers on the bench's 2-core pair). Unmeasured: a core per process.
 */
export function parallelGain(processes: number, m: Rates['parallelBuild']): number {
  if (processes <= 1) return 1;
  if (!m || m.processes <= 1) return processes;
  // Serial share f from the measured point: speedup = 1 / (f + (1 − f) / p).
  const f = Math.min(1, Math.max(0, (m.processes / Math.max(1e-6, m.speedup) - 1) / (m.processes - 1)));
  return 1 / (f + (1 - f) / processes);
}

/** Processes an activity runs at full speed while it runs (see the head of this file). */
function weightOf(build: BuildJob | undefined, tables: Map<string, ModelTable>, r: Rates, load: Contention): number {
  if (build?.kind !== 'index') return 1;
  const workers = indexWorkers(tables.get(ownerKey(build))?.heapBytes ?? 0, r.parallelMaintenance);
  // More processes than builds fit at full speed at once only share those.
  return Math.max(1, Math.min(parallelGain(1 + workers, r.parallelBuild), 1 / Math.max(1e-6, load.build.build)));
}

/**
 * Speed of each running activity (1 = as fast as its probe measured it alone): its weight, slowed by the summed
 * load of everything running (itself included) where that passes 1.
 */
export function speeds(running: { kind: ActivityKind; weight: number }[], load: Contention): number[] {
  return running.map(
    (a) =>
      a.weight /
      Math.max(
        1,
        running.reduce((s, b) => s + b.weight * load[a.kind][b.kind], 0),
      ),
  );
}

interface Running {
  seg: Segment;
  /** Working, or waiting for a table lock before its work (start) or for its key's ALTER TABLE after it (end). */
  state: 'work' | 'waitStart' | 'waitEnd';
  kind: ActivityKind;
  /** Processes it runs (weightOf). */
  weight: number;
  /** Full-speed seconds of work left. */
  left: number;
  chunk?: Chunk;
  build?: BuildJob;
}

const EPS = 1e-9;

export async function simulateDataPhase(input: DataPhaseInput, rates: Rates): Promise<DataPhaseSim> {
  const tables = new Map(input.tables.map((t) => [t.key, t] as const));
  const load = contentionOf(rates);
  // copy's own order (copy/plan.ts chunkOrder).
  const queue = chunkOrder(input.chunks);
  if (queue.length === 0) return { seconds: 0, dataSeconds: 0, segments: [], criticalPath: [] };
  const remaining = new Map<string, number>();
  for (const c of queue) remaining.set(tableKey(c), (remaining.get(tableKey(c)) ?? 0) + 1);
  const scheduler = new BuildScheduler(input.builds, []);
  // Workers as runDataPhase starts them: each connects first (a COPY pipe opens two connections).
  const dataLanes = Array.from({ length: Math.min(input.jobs, Math.max(1, queue.length)) }, (_, i) => ({
    name: `copy ${i + 1}`,
    freeAt: 2 * rates.connect,
    busy: false,
  }));
  const buildLanes = input.builds.length
    ? Array.from({ length: input.indexJobs }, (_, i) => ({ name: `index ${i + 1}`, freeAt: rates.connect, busy: false }))
    : [];
  const running: Running[] = [];
  const segments: Segment[] = [];
  const locks = new LockTable<Running>();
  let now = 0;
  let allLoadedSent = false;
  let dataSeconds = 0;

  const startWork = async () => {
    for (const lane of dataLanes) {
      if (lane.busy || lane.freeAt > now + EPS) continue;
      const c = queue.shift();
      if (!c) continue;
      const t = tables.get(tableKey(c));
      if (!t) throw new Error(`internal: chunk of unknown table ${tableKey(c)}`);
      lane.busy = true;
      const label = c.chunks > 1 ? `chunk ${c.chunk + 1}/${c.chunks}` : 'whole';
      running.push({
        seg: { lane: lane.name, kind: 'chunk', key: t.key, table: t.display, label, start: now, end: now },
        state: 'work',
        kind: 'copy',
        weight: 1,
        // As copy's takeWork: a fair share of the chunks left, at most BATCH_MAX_CHUNKS.
        left: chunkSeconds(t, c, rates, Math.min(BATCH_MAX_CHUNKS, Math.ceil((queue.length + 1) / input.jobs))),
        chunk: c,
      });
    }
    for (const lane of buildLanes) {
      if (lane.busy || lane.freeAt > now + EPS || scheduler.queue.size === 0) continue;
      // size > 0: take() resolves at once with the head of the queue.
      const j = (await scheduler.queue.take())!;
      lane.busy = true;
      const owner = tables.get(ownerKey(j));
      const r: Running = {
        seg: { lane: lane.name, kind: j.kind, key: ownerKey(j), table: owner?.display ?? `${j.schema}.${j.table}`, label: buildLabel(j), start: now, end: now },
        state: 'work',
        kind: 'build',
        weight: weightOf(j, tables, rates, load),
        left: buildSeconds(j, tables, input.indexBytes, rates),
        build: j,
      };
      if (!locks.request(r, locksOf(j).start)) r.state = 'waitStart';
      running.push(r);
    }
  };

  // A job is done: its lane comes free, its locks go, and the requests they held back are granted.
  const complete = (r: Running) => {
    running.splice(running.indexOf(r), 1);
    r.seg.end = now;
    segments.push(r.seg);
    const lane = [...dataLanes, ...buildLanes].find((l) => l.name === r.seg.lane)!;
    lane.busy = false;
    lane.freeAt = now;
    if (r.chunk) {
      const k = tableKey(r.chunk);
      const left = (remaining.get(k) ?? 1) - 1;
      remaining.set(k, left);
      if (left === 0) scheduler.tableLoaded(k);
      return;
    }
    scheduler.jobDone(r.build!);
    granted(locks.release(r));
  };
  const granted = (rs: Running[]) => {
    for (const g of rs) {
      if (g.state === 'waitStart') g.state = 'work';
      else if (g.state === 'waitEnd') complete(g);
    }
  };
  // Its build is done; a key still needs its ALTER TABLE's lock, which the table's other builds may hold back.
  const workDone = (r: Running) => {
    const end = r.build ? locksOf(r.build).end : [];
    if (end.length === 0 || locks.request(r, end)) return complete(r);
    r.state = 'waitEnd';
    // Two keys of one table, each waiting for the other's SHARE lock: the server aborts one (a deadlock), copy's
    // builder runs it again from the start (runBuildJob).
    if (locks.blockers(r).some((b) => b.state === 'waitEnd' && locks.blockers(b).includes(r))) {
      const freed = locks.release(r);
      r.state = 'work';
      r.left = buildSeconds(r.build!, tables, input.indexBytes, rates);
      granted(freed);
      if (!locks.request(r, locksOf(r.build!).start)) r.state = 'waitStart';
    }
  };

  // Each step starts, finishes or wakes something: a few per job and lane is plenty.
  const maxSteps = 100 * (queue.length + input.builds.length + dataLanes.length + buildLanes.length) + 1000;
  let steps = 0;
  const stalled = (working: Running[], dt: number) =>
    new Error(
      `internal: the estimate's simulation of the data phase cannot advance at ${now}s (step ${dt}s; running: ` +
        `${working.map((r) => `${r.seg.table} ${r.seg.label} ${r.left}s left`).join(', ')}); run pgshift estimate with --log-level debug and report it`,
    );
  for (;;) {
    await startWork();
    const dataIdle = queue.length === 0 && !running.some((r) => r.chunk);
    if (dataIdle && !allLoadedSent) {
      // runDataPhase: when every chunk worker has settled, whatever waits only waits for builds.
      allLoadedSent = true;
      dataSeconds = now;
      scheduler.allLoaded();
      continue;
    }
    // The next lane to come free after connecting, if nothing runs yet.
    const pendingLane = [...dataLanes, ...buildLanes].filter((l) => !l.busy && l.freeAt > now + EPS).map((l) => l.freeAt);
    if (running.length === 0) {
      const wake = Math.min(...pendingLane);
      if (!Number.isFinite(wake) || (queue.length === 0 && scheduler.queue.size === 0)) break;
      now = wake;
      continue;
    }
    const working = running.filter((r) => r.state === 'work');
    if (working.length === 0) {
      // Everything that runs waits for a lock: only a lane connecting can change that.
      const wake = Math.min(...pendingLane);
      if (!Number.isFinite(wake)) throw new Error('internal: every running build waits for a table lock');
      now = wake;
      continue;
    }
    const v = speeds(working, load);
    const speed = (r: Running) => v[working.indexOf(r)]!;
    const nextDone = Math.min(...working.map((r) => r.left / speed(r)));
    const nextWake = Math.min(Infinity, ...pendingLane.map((t) => t - now));
    const dt = Math.min(nextDone, nextWake);
    // Never spin: a step of NaN or infinite length (a rate of 0 slipped through) would loop forever.
    if (!(dt >= 0 && Number.isFinite(dt)) || ++steps > maxSteps) throw stalled(working, dt);
    now += dt;
    for (const r of working) r.left -= dt * speed(r);
    for (const r of working.filter((w) => w.left <= EPS)) if (r.state === 'work' && running.includes(r)) workDone(r);
  }
  const seconds = segments.reduce((m, s) => Math.max(m, s.end), 0);
  return { seconds, dataSeconds, segments, criticalPath: criticalPath(segments) };
}

/**
 * Walk back from the segment that ends last: each step's predecessor is what it waited for — the previous
 * work on its own connection, or (for a build) the last chunk of its table, or (for a foreign key) the end of
 * all data — whichever ended just as it started.
 */
export function criticalPath(segments: Segment[]): Segment[] {
  if (segments.length === 0) return [];
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
  let cur = segments.reduce((a, b) => (b.end > a.end ? b : a));
  const path = [cur];
  const lastData = segments.filter((s) => s.kind === 'chunk').reduce((m, s) => Math.max(m, s.end), 0);
  for (let guard = 0; guard < segments.length; guard++) {
    const at = cur.start;
    const c = cur;
    const candidates = segments.filter((s) => s !== c && near(s.end, at) && s.end <= at + 1e-6);
    const pick =
      (c.kind !== 'chunk' && candidates.find((s) => s.kind === 'chunk' && s.key === c.key)) ||
      (c.kind === 'foreign key' && near(at, lastData) && candidates.find((s) => s.kind === 'chunk')) ||
      candidates.find((s) => s.lane === c.lane) ||
      candidates[0];
    if (!pick) break;
    path.unshift(pick);
    cur = pick;
  }
  return path;
}
