// The probe's build samples: the largest table's own indexes (same columns, order, collation and method) built
// on its loaded sample, and one anti-join as a foreign-key validation runs it. What an index build costs depends
// on its keys far more than on its bytes: a collated text key sorts many times slower than an already ordered
// bigint, so one generic sample index would say little about the real ones.
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { median } from './median.js';
import type { TimedCopy } from './probe-sample.js';
import type { Rates } from './rates.js';
import { indexKey } from './simulate.js';

/** An index of the source table as the scratch table can hold it: key columns by scratch position. */
export interface SampleIndex {
  /** indexKey(schema, name) of the source index. */
  key: string;
  name: string;
  method: string;
  /** "c3 COLLATE "de-x-icu" DESC", one per key column. */
  columns: string[];
}

/** Measured on the sample: net seconds (the fixed cost of a build taken out), rows and heap bytes it covered. */
export interface IndexSample {
  seconds: number;
  rows: number;
  heapBytes: number;
  indexBytes: number;
  /** btree or hash. */
  method: string;
}

/**
 * The table's plain-column btree and hash indexes (expression and partial ones are skipped: their cost is not the
 * columns'), mapped onto the scratch columns (positions `attnums`, generated columns left out). A column the
 * scratch table holds as text instead of its own type is skipped too: its sort would not be the real one.
 */
export async function sampleIndexes(src: Client, t: TableInfo, attnums: number[], sameType: boolean[]): Promise<SampleIndex[]> {
  const { rows } = await src.query<{ schema: string; name: string; method: string; attnums: number[]; collations: (string | null)[]; descs: boolean[] }>(
    `SELECT n.nspname AS schema, c.relname AS name, am.amname AS method,
            array_agg(k.attnum ORDER BY k.ord) AS attnums,
            array_agg(CASE WHEN k.coll IN (0, 100) THEN NULL ELSE format('%I.%I', cn.nspname, co.collname) END ORDER BY k.ord) AS collations,
            array_agg((k.opt & 1) = 1 ORDER BY k.ord) AS descs
       FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_am am ON am.oid = c.relam
       CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indcollation::oid[], i.indoption::int2[]) WITH ORDINALITY AS k(attnum, coll, opt, ord)
       LEFT JOIN pg_collation co ON co.oid = k.coll
       LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
      WHERE i.indrelid = $1::oid AND i.indexprs IS NULL AND i.indpred IS NULL AND am.amname IN ('btree', 'hash')
        AND k.ord <= i.indnkeyatts
      GROUP BY n.nspname, c.relname, am.amname`,
    [t.oid],
  );
  const out: SampleIndex[] = [];
  for (const r of rows) {
    const cols = r.attnums.map((a, k) => {
      const pos = attnums.indexOf(a);
      if (pos < 0 || !sameType[pos]) return undefined;
      return `c${pos + 1}${r.collations[k] ? ` COLLATE ${r.collations[k]}` : ''}${r.descs[k] ? ' DESC' : ''}`;
    });
    if (cols.some((c) => c === undefined)) continue;
    out.push({ key: indexKey(r.schema, r.name), name: r.name, method: r.method, columns: cols as string[] });
  }
  return out;
}

const seconds = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;
/**
 * Builds timed per index: at least three, and up to seven while their summed time stays under REPEAT_SECONDS.
 * A small table's builds take a few ms each, and many-small's 600 builds are modelled from them.
 */
const MIN_REPEATS = 3;
const REPEATS = 7;
const REPEAT_SECONDS = 0.15;

/**
 * Build each index on the loaded scratch table (inside the probe's transaction; a savepoint each, so an index
 * the target cannot build — a collation it lacks — is skipped, not fatal). `fixed`: a build's fixed cost.
 */
export async function timeSampleIndexes(
  tgt: Client,
  scratch: string,
  indexes: SampleIndex[],
  o: { rows: number; heapBytes: number; fixed: number; prefix: string },
): Promise<Record<string, IndexSample>> {
  const out: Record<string, IndexSample> = {};
  if (indexes.length === 0) return out;
  // One process, whatever the sample's size: a per-row cost free of worker start-up, which on a small sample
  // would be most of the time. What workers gain is measured once, apart (timeParallelBuild).
  await tgt.query('SAVEPOINT probe_workers');
  await tgt.query(`ALTER TABLE ${scratch} SET (parallel_workers = 0)`).then(
    () => tgt.query('RELEASE SAVEPOINT probe_workers'),
    () => tgt.query('ROLLBACK TO SAVEPOINT probe_workers'),
  );
  for (const [k, ix] of indexes.entries()) {
    const name = `${o.prefix}_r${k}`;
    const create = `CREATE INDEX ${quoteIdent(name)} ON ${scratch} USING ${ix.method} (${ix.columns.join(', ')})`;
    try {
      // The median of three to seven builds (more while they are quick): a single timing of a 50 ms build on this
      // project's busy 2-core machine was off by up to 2× and, scaled to the whole table, decided the estimate.
      const times: number[] = [];
      for (;;) {
        await tgt.query('SAVEPOINT probe_index');
        const t0 = process.hrtime.bigint();
        await tgt.query(create);
        times.push(seconds(t0));
        const spent = times.reduce((a, b) => a + b, 0);
        if (times.length >= REPEATS || (times.length >= MIN_REPEATS && spent >= REPEAT_SECONDS) || spent >= 2 * REPEAT_SECONDS) break;
        await tgt.query('ROLLBACK TO SAVEPOINT probe_index');
      }
      // The last build stays: its size is measured, and the samples after it run with it, as copy's do.
      const { rows } = await tgt.query<{ b: string }>(
        `SELECT pg_relation_size(c.oid) AS b FROM pg_class c WHERE c.relname = $1 AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = $2::regclass)`,
        [name, scratch],
      );
      const s = median(times);
      out[ix.key] = { seconds: Math.max(s * 0.2, s - o.fixed), rows: o.rows, heapBytes: o.heapBytes, indexBytes: Number(rows[0]?.b ?? 0), method: ix.method };
      await tgt.query('RELEASE SAVEPOINT probe_index');
    } catch {
      await tgt.query('ROLLBACK TO SAVEPOINT probe_index');
    }
  }
  return out;
}

/**
 * The gain of parallel maintenance workers, measured: the sample's slowest index (the most work, so worker
 * start-up weighs least) built again with as many workers as the target gives a big table's build
 * (max_parallel_maintenance_workers; copy's 256MB maintenance_work_mem allows up to 7), forced by the scratch
 * table's parallel_workers (the sample is too small for the planner to choose them). Rolled back to a savepoint:
 * the index and the setting go again. Undefined when the target gives no workers or the build fails.
 */
export async function timeParallelBuild(
  tgt: Client,
  scratch: string,
  indexes: SampleIndex[],
  serial: Record<string, IndexSample>,
  prefix: string,
): Promise<{ processes: number; speedup: number } | undefined> {
  const slowest = indexes.filter((ix) => serial[ix.key]).sort((a, b) => serial[b.key]!.seconds - serial[a.key]!.seconds)[0];
  if (!slowest) return undefined;
  const { rows } = await tgt.query<{ w: number }>(`SELECT least(current_setting('max_parallel_maintenance_workers')::int, 7) AS w`);
  const workers = Number(rows[0]?.w ?? 0);
  if (!(workers > 0)) return undefined;
  await tgt.query('SAVEPOINT probe_parallel');
  try {
    await tgt.query(`ALTER TABLE ${scratch} SET (parallel_workers = ${workers})`);
    // The median of PARALLEL_REPEATS builds, as the serial side is: one timing swung the speedup 0.93–1.43× between
    // four estimates of the same source minutes apart on a quiet machine, and it weighs every big build.
    const times: number[] = [];
    for (let k = 0; k < PARALLEL_REPEATS; k++) {
      await tgt.query('SAVEPOINT probe_parallel_build');
      const t0 = process.hrtime.bigint();
      await tgt.query(`CREATE INDEX ${quoteIdent(`${prefix}_par`)} ON ${scratch} USING ${slowest.method} (${slowest.columns.join(', ')})`);
      times.push(seconds(t0));
      await tgt.query('ROLLBACK TO SAVEPOINT probe_parallel_build');
    }
    return { processes: 1 + workers, speedup: serial[slowest.key]!.seconds / Math.max(1e-4, median(times)) };
  } catch {
    return undefined;
  } finally {
    await tgt.query('ROLLBACK TO SAVEPOINT probe_parallel');
  }
}

/** Parallel builds timed for the workers' gain (median): each costs about what one serial sample build does. */
export const PARALLEL_REPEATS = 3;

/** The target's settings that decide an index build's parallel workers. */
export async function maintenanceSettings(tgt: Client): Promise<Rates['parallelMaintenance']> {
  const { rows } = await tgt.query<{ max: string; min_pages: string }>(
    `SELECT current_setting('max_parallel_maintenance_workers') AS max,
            (SELECT setting FROM pg_settings WHERE name = 'min_parallel_table_scan_size') AS min_pages`,
  );
  return { maxWorkers: Number(rows[0]!.max), minPages: Number(rows[0]!.min_pages) };
}

/**
 * A foreign key's validation is one anti-join of the referencing table against the referenced one (as the
 * server's RI_Initial_Check writes it); timed here on the sample against itself: rows of both sides per second.
 */
export async function timeSampleJoin(tgt: Client, scratch: string, rows: number): Promise<number | undefined> {
  if (rows < 1000) return undefined;
  // As RI_Initial_Check runs it: planned through SPI_prepare without CURSOR_OPT_PARALLEL_OK, so never parallel
  // (a sample past min_parallel_table_scan_size would otherwise get workers the real check never has), with
  // work_mem = maintenance_work_mem and hash_mem_multiplier = 1. The savepoint takes the settings back. No LIMIT
  // (the check fetches one row, but plans without one): LIMIT 1 can make the planner pick a nested loop.
  await tgt.query('SAVEPOINT probe_join');
  try {
    await tgt.query(`SELECT set_config('max_parallel_workers_per_gather', '0', true), set_config('work_mem', current_setting('maintenance_work_mem'), true)`);
    await tgt.query(`SELECT set_config(name, '1', true) FROM pg_settings WHERE name = 'hash_mem_multiplier'`);
    const t0 = process.hrtime.bigint();
    await tgt.query(`SELECT fk.c1 FROM ONLY ${scratch} fk LEFT OUTER JOIN ONLY ${scratch} pk ON pk.c1 = fk.c1 WHERE pk.c1 IS NULL AND fk.c1 IS NOT NULL`);
    return (2 * rows) / Math.max(0.0005, seconds(t0));
  } finally {
    await tgt.query('ROLLBACK TO SAVEPOINT probe_join');
  }
}

/**
 * The build rates the probe's largest sample gives: scan and index-write rates from its generic index, each of
 * the table's own indexes from its own builds (net of a build's fixed cost `tinyBuild`), what parallel workers
 * gained, and the anti-join's rows per second.
 */
export function buildRates(solo: TimedCopy, tinyBuild: number, table: string): { rates: Partial<Rates>; notes: string[] } {
  const rates: Partial<Rates> = {};
  const notes: string[] = [];
  if (solo.scan && solo.index && solo.scan.seconds > 0) {
    const scan = solo.scan.heapBytes / Math.max(0.0005, solo.scan.seconds);
    const writeSeconds = Math.max(solo.index.seconds * 0.2, solo.index.seconds - solo.scan.seconds - tinyBuild);
    rates.scan = scan;
    rates.indexWrite = solo.index.bytes / writeSeconds;
    notes.push(
      `sample index build: ${(solo.index.bytes / 1e6).toFixed(1)} MB of index in ${solo.index.seconds.toFixed(2)}s after a ${(solo.scan.heapBytes / 1e6).toFixed(1)} MB scan`,
    );
    // The table's own indexes: each is modelled from its own sample (the other tables' from the scan and write
    // rates: a sample of a small table's index is all fixed cost and tells nothing).
    const real = Object.entries(solo.realIndexes ?? {}).map(([k, m]) => [k, { ...m, seconds: Math.max(m.seconds * 0.2, m.seconds - tinyBuild) }] as const);
    if (real.length) {
      rates.perIndex = Object.fromEntries(real);
      notes.push(
        `${real.length} of ${table}'s own indexes built on its sample: ${real.map(([k, m]) => `${JSON.parse(k)[1]} ${m.seconds.toFixed(3)}s`).join(', ')}`,
      );
      // Their btree builds (each the median of three to seven) also give the write rate other tables' btrees use:
      // steadier than the one timing of the generic index, and of real keys. Measured: the generic index alone
      // swung the write rate 56–134 MB/s between probes, and many-small's 600 builds with it.
      const btrees = real.filter(([, m]) => m.method === 'btree' && m.indexBytes > 0).map(([, m]) => m);
      const written = btrees.reduce((a, m) => a + m.indexBytes, 0);
      const spent = btrees.reduce((a, m) => a + Math.max(m.seconds * 0.2, m.seconds - m.heapBytes / scan), 0);
      if (written > 0 && spent > 0) rates.indexWrite = written / spent;
    }
  }
  if (solo.parallelBuild) {
    rates.parallelBuild = solo.parallelBuild;
    notes.push(
      `a sample index build with ${solo.parallelBuild.processes - 1} parallel maintenance worker(s) ran ${solo.parallelBuild.speedup.toFixed(2)}× as fast as in one process ` +
        `(the leader merges and writes the index alone): copy's big builds are modelled with that gain`,
    );
  }
  if (solo.joinRowsPerSecond) {
    rates.foreignKeyRows = solo.joinRowsPerSecond;
    rates.foreignKeySampleRows = solo.rows;
  }
  return { rates, notes };
}
