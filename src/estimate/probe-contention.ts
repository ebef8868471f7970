// The probe's contention step: copy runs COPY pipes and index builds at the same time, and on a pair whose
// servers and client share cores (or a disk, or a link) each runs slower than its probe alone. Measured here,
// not assumed: a sample COPY beside a sample index build, and (with --index-jobs > 1) two builds side by side,
// each compared with itself alone. The result is the simulation's Contention (rates.ts).
//
// Builds run on scratch tables loaded inside their own transactions; every build is rolled back to a savepoint
// and every transaction is rolled back at the end (or by the server when the connection goes).
import type { Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { loadScratch, sampleCopy, scratchName, type Prepared } from './probe-sample.js';
import { median } from './median.js';
import type { Contention } from './rates.js';

export interface ContentionOptions {
  /** A source and a target connection for the COPY lane (idle, no transaction open). */
  src: Client;
  tgt: Client;
  /** Opens another target connection for a builder (the caller tracks and closes it). */
  openTarget: (n: number) => Promise<Client>;
  p: Prepared;
  /** Rows of one COPY sample and of one build's scratch table. */
  copyRows: number;
  buildRows: number;
  /**
   * The index the builders build: the largest table's slowest own index (its method and key columns on the scratch
   * columns), as copy's builders build it; absent: a btree on the first column.
   */
  buildIndex?: { name: string; method: string; columns: string[] };
  indexJobs: number;
  /** load.copy.copy from the --jobs pipes step (their slowdown / 2); absent with --jobs 1. */
  copyCopy?: number;
  /** Seconds each pairing runs. */
  window: number;
  /** Scratch numbers from here on (the COPY lanes use 0..jobs). */
  lane: number;
  signal: AbortSignal;
}

export interface ContentionResult {
  /** Only the pairs that were measured; the rest is the caller's default. */
  load: Partial<{ copyBuild: number; buildCopy: number; buildBuild: number; copyCopy: number }>;
  /** Slowdowns as measured (1.3 = 30 % slower than alone). */
  slowdown: { copyBesideBuild: number; buildBesideCopy: number; buildBesideBuild?: number };
  notes: string[];
}

export interface Item<T = unknown> {
  start: number;
  end: number;
  value: T;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

async function timed<T>(f: () => Promise<T>): Promise<Item<T>> {
  const start = now();
  const value = await f();
  return { start, end: now(), value };
}

/** One index build on a loaded scratch table, rolled back to a savepoint: as copy's builders run it (one key). */
async function build(tgt: Client, table: string, n: number, index?: ContentionOptions['buildIndex']): Promise<void> {
  await tgt.query('SAVEPOINT probe_contention');
  try {
    const how = index ? `USING ${index.method} (${index.columns.join(', ')})` : '(c1)';
    await tgt.query(`CREATE INDEX ${quoteIdent(`${scratchName(n)}_cidx`)} ON ${table} ${how}`);
  } finally {
    await tgt.query('ROLLBACK TO SAVEPOINT probe_contention');
  }
}

/** Run each lane's task over and over until `window` seconds have passed; the times (and results) of each. */
export async function together<T>(window: number, signal: AbortSignal, lanes: (() => Promise<T>)[]): Promise<Item<T>[][]> {
  const until = now() + window;
  return Promise.all(
    lanes.map(async (task) => {
      const out: Item<T>[] = [];
      while (out.length === 0 || now() < until) {
        if (signal.aborted) throw signal.reason;
        out.push(await timed(task));
      }
      return out;
    }),
  );
}

/**
 * A lane's items that ran while every other lane was busy (a lane's last items can end after the others
 * stopped: they ran partly alone); all of them when none did.
 */
export function whileAllBusy<T>(mine: Item<T>[], others: Item<unknown>[][]): Item<T>[] {
  const busyUntil = Math.min(...others.map((o) => o[o.length - 1]!.end));
  const busyFrom = Math.max(...others.map((o) => o[0]!.start));
  const inside = mine.filter((i) => i.start >= busyFrom - 1e-3 && i.end <= busyUntil + 1e-3);
  return inside.length ? inside : mine;
}

/**
 * How much slower a lane's items ran beside the others than alone: the median of their ratios to `alone`
 * (one item caught by a hiccup of a busy machine does not decide it), counting only items that ran while every
 * other lane was busy.
 */
export function slowdownOf<T>(mine: Item<T>[], others: Item<unknown>[][], alone: (i: Item<T>) => number): number {
  const ratios = whileAllBusy(mine, others)
    .map((i) => (i.end - i.start) / Math.max(1e-4, alone(i)))
    .filter(Number.isFinite);
  // No usable ratio (a solo timing that was not a number): as fast as alone, never NaN.
  return Math.max(1, ratios.length ? median(ratios) : 1);
}

export async function measureContention(o: ContentionOptions): Promise<ContentionResult> {
  const builders: { tgt: Client; table: string; n: number }[] = [];
  const notes: string[] = [];
  try {
    for (let k = 0; k < Math.min(2, Math.max(1, o.indexJobs)); k++) {
      const tgt = await o.openTarget(k);
      const n = o.lane + k;
      // The same session settings as copy's builders.
      await tgt.query(`SET maintenance_work_mem = '256MB'`);
      const { name } = await loadScratch(o.src, tgt, o.p, n, o.buildRows, o.signal);
      // One process, as the per-index samples (probe-builds.ts): a loaded builder table can pass
      // min_parallel_table_scan_size, and what workers gain is weighed apart (simulate.ts weightOf).
      await tgt.query(`ALTER TABLE ${name} SET (parallel_workers = 0)`);
      builders.push({ tgt, table: name, n });
    }
    const b1 = builders[0]!;
    const buildTask = (b: typeof b1) => () => build(b.tgt, b.table, b.n, o.buildIndex);
    const copyTask = () => sampleCopy(o.src, o.tgt, o.p, o.lane + 2, o.copyRows, o.signal);
    // Alone first: the reference each pairing is compared with. Medians over half a window each, not of three:
    // with a reference of three timings the COPY-beside-build slowdown of one source swung from 1.16× to 1.86×
    // between two probes forty minutes apart (a fast or slow reference moves every ratio at once).
    const alone = async (task: () => Promise<unknown>) => {
      const xs: number[] = [];
      const until = now() + o.window / 2;
      while (xs.length < 3 || (now() < until && xs.length < 200)) {
        if (o.signal.aborted) throw o.signal.reason;
        const i = await timed(task);
        xs.push(i.end - i.start);
      }
      return median(xs);
    };
    const soloBuild = await alone(buildTask(b1));
    const soloCopy = await alone(copyTask);

    const [copies, builds] = await together<unknown>(o.window, o.signal, [copyTask, buildTask(b1)]);
    const copyBesideBuild = slowdownOf(copies!, [builds!], () => soloCopy);
    const buildBesideCopy = slowdownOf(builds!, [copies!], () => soloBuild);
    notes.push(
      `a sample COPY beside a sample index build ran ${copyBesideBuild.toFixed(2)}× slower than alone, the build ${buildBesideCopy.toFixed(2)}× ` +
        `(${copies!.length} COPYs, ${builds!.length} builds in ${o.window.toFixed(1)}s)`,
    );
    let buildBesideBuild: number | undefined;
    const b2 = builders[1];
    if (b2) {
      const [x, y] = await together(o.window, o.signal, [buildTask(b1), buildTask(b2)]);
      buildBesideBuild = slowdownOf([...x!, ...y!], [x!, y!], () => soloBuild);
      notes.push(`two sample index builds at once ran ${buildBesideBuild.toFixed(2)}× slower each than one alone`);
    }
    notes.push(
      `the builds beside COPYs and each other: ${o.buildIndex ? `the source's ${o.buildIndex.name}` : 'a generic index'} on ${o.buildRows} sampled rows, ${(soloBuild * 1000).toFixed(0)} ms alone`,
    );
    // Pairs of one kind: both slowed s× → each takes s / 2 of the other's resources. Mixed pairs: what is left
    // of the slowdown after the activity's own share (Contention in rates.ts).
    // Two builds cannot run faster each than one alone: a ratio under 1 is the solo timing's noise.
    const bb = buildBesideBuild !== undefined ? Math.max(1, buildBesideBuild) / 2 : undefined;
    const load: ContentionResult['load'] = {
      ...(o.copyCopy !== undefined ? { copyCopy: o.copyCopy, copyBuild: Math.max(0, copyBesideBuild - o.copyCopy) } : {}),
      ...(bb !== undefined ? { buildBuild: bb, buildCopy: Math.max(0, buildBesideCopy - bb) } : {}),
    };
    return { load, slowdown: { copyBesideBuild, buildBesideCopy, ...(buildBesideBuild !== undefined ? { buildBesideBuild } : {}) }, notes };
  } finally {
    // Always: nothing outlives the builders' transactions.
    await Promise.all(builders.map((b) => b.tgt.query('ROLLBACK').catch(() => undefined)));
  }
}

/**
 * The simulation's Contention from what was measured, the rest from the pipes' capacity (as before the probe
 * measured pairs): with --jobs 1 two COPYs never overlap, with --index-jobs 1 two builds never do.
 */
export function contentionFrom(m: ContentionResult, capacity: number): Contention {
  const d = 1 / Math.max(1e-6, capacity);
  const cc = m.load.copyCopy ?? d;
  const bb = m.load.buildBuild ?? d;
  return {
    copy: { copy: cc, build: m.load.copyBuild ?? Math.max(0, m.slowdown.copyBesideBuild - cc) },
    build: { copy: m.load.buildCopy ?? Math.max(0, m.slowdown.buildBesideCopy - bb), build: bb },
  };
}
