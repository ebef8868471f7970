// The machine's floor: the same database moved with no client process in the data path. Each chunk is a
// server-side `COPY … TO '/fifo'` on the source running at the same time as `COPY … FROM '/fifo'` on the
// target (a named pipe: the two servers stream to each other through the kernel, nothing is parsed or
// relayed by a client), 2 chunks at a time, largest first; each table's indexes and keys are built on 2 more
// connections as soon as its data is in, foreign keys once all data is in; then setval and ANALYZE per table.
// Written here from the catalog, independent of pgshift's own planner, so it measures the servers, not pgshift.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, closeSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { parseConnectionUrl } from '../src/config.js';
import { connect, type Client } from '../src/db/connect.js';
import { quoteLiteral } from '../src/db/ident.js';
import type { PeerContext, PeerRun } from './peers.js';
import { runPipe, Usage } from './proc.js';

/** Chunks of about this many heap bytes (tables with an integer key or any heap: by ctid pages). */
const CHUNK_BYTES = 128 * 1024 * 1024;

interface FloorTable {
  name: string; // format('%I.%I')
  cols: string;
  bytes: number;
  pages: number;
  key: string | null; // quoted integer single-column primary key
}

interface FloorChunk {
  table: FloorTable;
  where: string;
  whole: boolean;
  bytes: number;
}

async function open(url: string, side: 'source' | 'target'): Promise<Client> {
  return connect(parseConnectionUrl(url, side), { applicationName: 'pgshift-bench-floor' });
}

async function listFloorTables(src: Client): Promise<FloorTable[]> {
  const { rows } = await src.query<{ name: string; cols: string; bytes: string; pages: string; key: string | null }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS name,
           (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS cols,
           pg_relation_size(c.oid) + coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS bytes,
           pg_relation_size(c.oid) / current_setting('block_size')::int AS pages,
           (SELECT quote_ident(a.attname) FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1]
             WHERE k.conrelid = c.oid AND k.contype = 'p' AND array_length(k.conkey, 1) = 1
               AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)) AS key
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
     ORDER BY 3 DESC`);
  return rows.map((r) => ({ name: r.name, cols: r.cols ?? '', bytes: Number(r.bytes), pages: Number(r.pages), key: r.key }));
}

async function planFloor(src: Client, tables: FloorTable[]): Promise<FloorChunk[]> {
  const chunks: FloorChunk[] = [];
  for (const t of tables) {
    const n = Math.max(1, Math.ceil(t.bytes / CHUNK_BYTES));
    if (n === 1) {
      chunks.push({ table: t, where: '', whole: true, bytes: t.bytes });
      continue;
    }
    let bounds: bigint[];
    let col: string;
    if (t.key) {
      const { rows } = await src.query<{ lo: string; hi: string }>(`SELECT min(${t.key})::text AS lo, max(${t.key})::text AS hi FROM ONLY ${t.name}`);
      const lo = BigInt(rows[0]!.lo ?? 0);
      const hi = BigInt(rows[0]!.hi ?? 0) + 1n;
      bounds = Array.from({ length: n - 1 }, (_, i) => lo + ((hi - lo) * BigInt(i + 1)) / BigInt(n));
      col = t.key;
    } else {
      bounds = Array.from({ length: n - 1 }, (_, i) => (BigInt(t.pages) * BigInt(i + 1)) / BigInt(n));
      col = 'ctid';
    }
    const lit = (b: bigint) => (col === 'ctid' ? `'(${b},0)'::tid` : b.toString());
    for (let i = 0; i < n; i++) {
      const conds = [i > 0 ? `${col} >= ${lit(bounds[i - 1]!)}` : '', i < n - 1 ? `${col} < ${lit(bounds[i]!)}` : ''].filter(Boolean);
      chunks.push({ table: t, where: ` WHERE ${conds.join(' AND ')}`, whole: false, bytes: t.bytes / n });
    }
  }
  return chunks.sort((a, b) => b.bytes - a.bytes);
}

interface Build {
  table: string;
  sql: string;
  fk: boolean;
}

async function listBuilds(src: Client): Promise<Build[]> {
  const { rows } = await src.query<{ table: string; sql: string; fk: boolean }>(`
    SELECT format('%I.%I', n.nspname, t.relname) AS table,
           CASE WHEN k.oid IS NOT NULL THEN format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s', n.nspname, t.relname, k.conname, pg_get_constraintdef(k.oid))
                ELSE pg_get_indexdef(i.indexrelid) END AS sql, false AS fk
      FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
      LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = t.oid AND k.contype IN ('p', 'u', 'x')
     WHERE t.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
    UNION ALL
    SELECT format('%I.%I', n.nspname, t.relname), format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s', n.nspname, t.relname, k.conname, pg_get_constraintdef(k.oid)), true
      FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE k.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
     ORDER BY 3, 2`);
  return rows;
}

/** Run the floor; the CPU counted is only that of pg_dump | psql for the pre-data schema. */
export async function runFloor(ctx: PeerContext): Promise<PeerRun> {
  const fifoDir = join(ctx.sharedDir, 'floor');
  mkdirSync(fifoDir, { recursive: true });
  chmodSync(fifoDir, 0o777);
  const usage = new Usage();
  const started = process.hrtime.bigint();
  await runPipe(
    { bin: ctx.pgDump, args: ['--schema-only', '--section=pre-data', '--no-owner', '--no-privileges', '-d', ctx.source] },
    { bin: ctx.psql, args: ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', ctx.target] },
    { logFile: ctx.logFile, usage },
  );
  const at = () => Number(process.hrtime.bigint() - started) / 1e9;
  // Seconds from the start when each step ended: where the floor's own time goes, beside pgshift's phases.
  const marks: Record<string, number> = { schema: at() };
  const plan = await open(ctx.source, 'source');
  let tables: FloorTable[];
  let chunks: FloorChunk[];
  let builds: Build[];
  try {
    tables = await listFloorTables(plan);
    chunks = await planFloor(plan, tables);
    builds = await listBuilds(plan);
  } finally {
    await plan.end();
  }
  const left = new Map<string, number>();
  for (const c of chunks) left.set(c.table.name, (left.get(c.table.name) ?? 0) + 1);
  const indexQueue: Build[] = [];
  const fks = builds.filter((b) => b.fk);
  let dataDone = false;
  const waiters: Array<() => void> = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  let fifoN = 0;
  let failed: unknown;

  const dataWorker = async () => {
    const src = await open(ctx.source, 'source');
    const tgt = await open(ctx.target, 'target');
    try {
      await tgt.query('SET synchronous_commit = off');
      for (let c = chunks.shift(); c && failed === undefined; c = chunks.shift()) {
        const fifo = join(fifoDir, `chunk-${++fifoN}`);
        execFileSync('mkfifo', ['-m', '0666', fifo]);
        await tgt.query('BEGIN');
        if (c.whole) await tgt.query(`TRUNCATE ONLY ${c.table.name}`);
        const into = tgt.query(`COPY ${c.table.name} (${c.table.cols}) FROM ${quoteLiteral(fifo)} (FORMAT binary${c.whole ? ', FREEZE' : ''})`);
        const out = src.query(`COPY (SELECT ${c.table.cols || '*'} FROM ONLY ${c.table.name}${c.where}) TO ${quoteLiteral(fifo)} (FORMAT binary)`);
        const [o, i] = await Promise.allSettled([out, into]);
        if (o.status === 'rejected' && i.status !== 'fulfilled') {
          // The target still waits for a writer: open and close the FIFO so it sees end of data and stops.
          try {
            closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
          } catch {
            /* reader already gone */
          }
        }
        if (o.status === 'rejected') throw o.reason;
        if (i.status === 'rejected') throw i.reason;
        await tgt.query('COMMIT');
        execFileSync('rm', ['-f', fifo]);
        const n = (left.get(c.table.name) ?? 1) - 1;
        left.set(c.table.name, n);
        if (n === 0) {
          indexQueue.push(...builds.filter((b) => !b.fk && b.table === c.table.name));
          notify();
        }
      }
    } finally {
      await src.end().catch(() => undefined);
      await tgt.end().catch(() => undefined);
    }
  };

  const buildWorker = async () => {
    const tgt = await open(ctx.target, 'target');
    try {
      await tgt.query(`SET maintenance_work_mem = '256MB'`);
      for (;;) {
        if (failed !== undefined) return;
        const b = indexQueue.shift() ?? (dataDone && indexQueue.length === 0 ? undefined : null);
        if (b === undefined) break;
        if (b === null) {
          await new Promise<void>((r) => waiters.push(r));
          continue;
        }
        await tgt.query(b.sql);
      }
    } finally {
      await tgt.end().catch(() => undefined);
    }
  };
  const guard = (p: Promise<void>) =>
    p.catch((e) => {
      failed ??= e;
      notify();
    });
  const builders = Array.from({ length: ctx.jobs }, () => guard(buildWorker()));
  await Promise.all(Array.from({ length: ctx.jobs }, () => guard(dataWorker())));
  marks.data = at();
  dataDone = true;
  notify();
  await Promise.all(builders);
  if (failed !== undefined) throw failed;
  marks.indexes = at();

  // Foreign keys (all keys exist now), in parallel; then sequences and ANALYZE.
  const finish = async (work: string[]) => {
    const queue = [...work];
    await Promise.all(
      Array.from({ length: ctx.jobs }, async () => {
        const tgt = await open(ctx.target, 'target');
        try {
          for (let q = queue.shift(); q; q = queue.shift()) await tgt.query(q);
        } finally {
          await tgt.end().catch(() => undefined);
        }
      }),
    );
  };
  await finish(fks.map((f) => f.sql));
  marks.foreignKeys = at();
  const setvals = ctx.sequences
    .filter((s) => s.lastValue !== null)
    .map((s) => `SELECT setval(${quoteLiteral(s.name)}, ${BigInt(s.lastValue!)}, ${s.isCalled})`);
  await finish([...setvals, ...tables.map((t) => `ANALYZE ${t.name}`)]);
  marks.analyze = at();
  return { seconds: marks.analyze, ...usage.result, reported: { marks } };
}
