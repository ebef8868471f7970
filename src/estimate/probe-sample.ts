// One probe sample: the source's rows (pages spread over the table) COPYed into a scratch table on the target
// inside a transaction that is always rolled back, with copy's format and FREEZE; optionally the scan, index
// builds and ANALYZE on the loaded sample. Also the source-only reads of an uncalibrated probe.
import { Writable } from 'node:stream';
import { STATE_SCHEMA } from '../catalog/system.js';
import type { TableInfo } from '../catalog/tables.js';
import { relayCopy } from '../copy/relay.js';
import type { Client } from '../db/connect.js';
import { copyOut } from '../db/copy-out.js';
import { quoteIdent } from '../db/ident.js';
import { median } from './median.js';
import { timeParallelBuild, timeSampleIndexes, timeSampleJoin, type IndexSample, type SampleIndex } from './probe-builds.js';

export interface ScratchColumn {
  attnum: number;
  type: string;
  /** The scratch column takes the source's binary form unchanged (built-in type, enum as text, domain as its base). */
  binaryOk: boolean;
}

const PROBE_PREFIX = 'estimate_probe_';

/** Scratch tables are named after this process: two probes never collide, and a test can find leftovers. */
export const scratchName = (i: number) => `${PROBE_PREFIX}${process.pid}_${i}`;

/** Columns of a table as the scratch table holds them: the target may lack the source's own types. */
export async function scratchColumns(src: Client, t: TableInfo): Promise<ScratchColumn[]> {
  const { rows } = await src.query<{ attnum: number; type: string; binary_ok: boolean }>(
    `SELECT a.attnum, CASE WHEN a.atttypid < 16384 THEN format_type(a.atttypid, a.atttypmod)
                 WHEN t.typtype = 'd' AND t.typbasetype < 16384 THEN format_type(t.typbasetype, t.typtypmod)
                 ELSE 'text' END AS type,
            (a.atttypid < 16384 OR t.typtype = 'e' OR (t.typtype = 'd' AND t.typbasetype < 16384)) AS binary_ok
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      ORDER BY a.attnum`,
    [t.oid],
  );
  return rows.map((r) => ({ attnum: Number(r.attnum), type: r.type, binaryOk: r.binary_ok }));
}

export interface Prepared {
  table: TableInfo;
  columns: ScratchColumn[];
  format: 'text' | 'binary';
  /** Source bytes per row (heap + TOAST over reltuples); 0 when never analyzed. */
  bytesPerRow: number;
  /** The table's own indexes, built on the sample that measures builds. */
  indexes: SampleIndex[];
}

let seed = 0;

/**
 * The sample's rows: pages spread over the whole table (TABLESAMPLE SYSTEM, a new seed each time) rather than
 * its first rows again and again — representative of its TOAST and bloat, and not already in the cache.
 */
function sourceSelect(p: Prepared, rows: number): string {
  const cols = p.table.columns
    .filter((c) => !c.generated)
    .map((c) => quoteIdent(c.name))
    .join(', ');
  const n = Math.max(1, Math.floor(rows));
  const pct = p.table.rows > 0 ? (100 * n) / p.table.rows : 100;
  const sample = n > 1 && pct < 90 ? ` TABLESAMPLE SYSTEM (${Math.max(0.0001, pct * 1.1).toFixed(4)}) REPEATABLE (${++seed})` : '';
  return `COPY (SELECT ${cols} FROM ONLY ${p.table.qualified}${sample} LIMIT ${n}) TO STDOUT (FORMAT ${p.format})`;
}

export interface TimedCopy {
  rows: number;
  seconds: number;
  /** heap + TOAST bytes of the loaded scratch table. */
  scratchBytes: number;
  /** CREATE TABLE of the scratch table, seconds. */
  ddl: number;
  scan?: { seconds: number; heapBytes: number };
  index?: { seconds: number; bytes: number; heapBytes: number };
  analyze?: { seconds: number; values: number };
  /** The table's own indexes built on the sample (raw seconds: the fixed cost of a build still in). */
  realIndexes?: Record<string, IndexSample>;
  /** The slowest of those built again with parallel maintenance workers: how many times as fast it ran. */
  parallelBuild?: { processes: number; speedup: number };
  /** A foreign-key-style anti-join of the sample with itself: rows of both sides per second. */
  joinRowsPerSecond?: number;
}

/**
 * BEGIN, then a scratch table created and loaded with a sample of `rows` rows, left in the open transaction:
 * the caller always rolls it back (ROLLBACK, or closing the connection).
 */
export async function loadScratch(
  src: Client,
  tgt: Client,
  p: Prepared,
  i: number,
  rows: number,
  signal: AbortSignal,
): Promise<{ name: string; ddl: number; seconds: number; rows: number }> {
  const name = `${quoteIdent(STATE_SCHEMA)}.${quoteIdent(scratchName(i))}`;
  const cols = p.columns.map((_, k) => `c${k + 1}`);
  const defs = p.columns.map((c, k) => `${cols[k]} ${c.type}`).join(', ');
  await tgt.query('BEGIN');
  const d0 = process.hrtime.bigint();
  await tgt.query(`CREATE TABLE ${name} (${defs})`);
  const ddl = Number(process.hrtime.bigint() - d0) / 1e9;
  const t0 = process.hrtime.bigint();
  // Through copy's own relay (relay.ts): the rate includes what the client spends per byte, as in the copy.
  const { rows: copied } = await relayCopy(src, tgt, sourceSelect(p, rows), `COPY ${name} (${cols.join(', ')}) FROM STDIN (FORMAT ${p.format}, FREEZE)`, {
    signal,
  });
  return { name, ddl, seconds: Number(process.hrtime.bigint() - t0) / 1e9, rows: copied };
}

/**
 * One sample into a scratch table, inside a transaction that is always rolled back. With `measureBuild`, also a
 * full scan and an index build on the loaded rows, as copy's builders would run them.
 */
export async function sampleCopy(
  src: Client,
  tgt: Client,
  p: Prepared,
  i: number,
  rows: number,
  signal: AbortSignal,
  measureBuild = false,
): Promise<TimedCopy> {
  const name = `${quoteIdent(STATE_SCHEMA)}.${quoteIdent(scratchName(i))}`;
  try {
    const { ddl, seconds, rows: copied } = await loadScratch(src, tgt, p, i, rows, signal);
    const out: TimedCopy = { rows: copied, seconds, scratchBytes: 0, ddl };
    const { rows: sz } = await tgt.query<{ heap: string; total: string }>(
      `SELECT pg_relation_size($1::regclass) AS heap, pg_table_size($1::regclass) AS total`,
      [name],
    );
    out.scratchBytes = Number(sz[0]!.total);
    if (measureBuild && out.rows > 0) {
      const heapBytes = Number(sz[0]!.heap);
      const s0 = process.hrtime.bigint();
      await tgt.query(`SELECT count(*) FROM ${name}`);
      out.scan = { seconds: Number(process.hrtime.bigint() - s0) / 1e9, heapBytes };
      await tgt.query(`SET LOCAL maintenance_work_mem = '256MB'`);
      const i0 = process.hrtime.bigint();
      await tgt.query(`CREATE INDEX ${quoteIdent(`${scratchName(i)}_idx`)} ON ${name} (c1)`);
      const iSeconds = Number(process.hrtime.bigint() - i0) / 1e9;
      const { rows: ix } = await tgt.query<{ b: string }>(`SELECT pg_relation_size(format('%I.%I', $1::text, $2::text)::regclass) AS b`, [
        STATE_SCHEMA,
        `${scratchName(i)}_idx`,
      ]);
      out.index = { seconds: iSeconds, bytes: Number(ix[0]!.b), heapBytes };
      if (out.rows >= 1000) {
        out.realIndexes = await timeSampleIndexes(tgt, name, p.indexes, { rows: out.rows, heapBytes, fixed: 0, prefix: scratchName(i) });
        const par = await timeParallelBuild(tgt, name, p.indexes, out.realIndexes, scratchName(i));
        if (par) out.parallelBuild = par;
        out.joinRowsPerSecond = await timeSampleJoin(tgt, name, out.rows);
      }
      const a0 = process.hrtime.bigint();
      await tgt.query(`ANALYZE ${name}`);
      out.analyze = { seconds: Number(process.hrtime.bigint() - a0) / 1e9, values: Math.min(out.rows, 30_000) * p.columns.length };
    }
    return out;
  } finally {
    // Always: the probe writes nothing that outlives its transaction.
    await tgt.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * What TRUNCATE adds to a whole-table chunk (copy runs BEGIN; TRUNCATE; COPY … FREEZE): a new relation file, and
 * at commit the old one unlinked. Inside a savepoint TRUNCATE takes that full path even on a table created in the
 * same transaction, and rolling the savepoint back unlinks the new file, standing in for the commit's unlink.
 * Median seconds of three, on a one-row scratch table that is rolled back with everything else.
 */
export async function timeTruncate(src: Client, tgt: Client, p: Prepared, i: number, signal: AbortSignal): Promise<number> {
  try {
    const { name } = await loadScratch(src, tgt, p, i, 1, signal);
    const times: number[] = [];
    for (let k = 0; k < 3; k++) {
      const t0 = process.hrtime.bigint();
      await tgt.query(`SAVEPOINT probe_truncate; TRUNCATE ${name}; ROLLBACK TO SAVEPOINT probe_truncate`);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return times.sort((a, b) => a - b)[1]!;
  } finally {
    await tgt.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * What a chunk's COMMIT costs: its TRUNCATE gave the table new files, so the commit drops the old ones, and a
 * commit that drops files flushes the WAL at once, synchronous_commit=off or not (PostgreSQL's
 * RecordTransactionCommit), then unlinks them. Timed on a scratch table created and dropped inside one
 * transaction that commits: the same kind of commit, and nothing is left behind. With `load`, the table is first
 * loaded with that many source rows, so the commit also flushes the WAL they wrote, as a whole-table chunk's does
 * (on a durable target: 1.9 ms empty, 3.7 ms after 0.24 MB, 10 ms after 2.4 MB on the project's PG15 pair).
 * Median seconds of three, and the scratch table's bytes.
 */
export async function timeCommit(
  tgt: Client,
  p: Prepared,
  i: number,
  signal: AbortSignal,
  load?: { src: Client; rows: number },
): Promise<{ seconds: number; bytes: number }> {
  const name = `${quoteIdent(STATE_SCHEMA)}.${quoteIdent(`${scratchName(i)}_commit`)}`;
  const defs = p.columns.map((c, k) => `c${k + 1} ${c.type}`).join(', ');
  const cols = p.columns.map((_, k) => `c${k + 1}`).join(', ');
  const times: number[] = [];
  const sizes: number[] = [];
  for (let k = 0; k < 3; k++) {
    if (signal.aborted) throw signal.reason;
    try {
      await tgt.query(`BEGIN; CREATE TABLE ${name} (${defs})`);
      if (load) {
        await relayCopy(load.src, tgt, sourceSelect(p, load.rows), `COPY ${name} (${cols}) FROM STDIN (FORMAT ${p.format}, FREEZE)`, { signal });
        const { rows } = await tgt.query<{ b: string }>(`SELECT pg_table_size($1::regclass) AS b`, [name]);
        sizes.push(Number(rows[0]!.b));
      }
      await tgt.query(`DROP TABLE ${name}`);
      const t0 = process.hrtime.bigint();
      await tgt.query('COMMIT');
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    } catch (err) {
      await tgt.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
  return { seconds: median(times), bytes: sizes.length ? median(sizes) : 0 };
}

/** Read-only sample (no target): COPY to nowhere. */
export async function sampleRead(src: Client, p: Prepared, rows: number, signal: AbortSignal): Promise<{ rows: number; seconds: number; wireBytes: number }> {
  const t0 = process.hrtime.bigint();
  let wireBytes = 0;
  const counter = new Writable({
    write(c: Buffer, _e, done) {
      wireBytes += c.length;
      done();
    },
  });
  const out = await copyOut(src, sourceSelect(p, rows), [counter], signal);
  return { rows: Number(out.rowCount ?? rows), seconds: Number(process.hrtime.bigint() - t0) / 1e9, wireBytes };
}

/** Seconds to hash `rows` rows of the table as verify does (row text hashed server-side). */
export async function timeHash(src: Client, p: Prepared, rows: number): Promise<number> {
  const cols = p.table.columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
  const t0 = process.hrtime.bigint();
  await src.query(
    `SELECT sum(hashtextextended(ROW(${cols})::text, 0)) FROM (SELECT * FROM ONLY ${p.table.qualified} LIMIT ${Math.max(1, Math.floor(rows))}) t`,
  );
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
