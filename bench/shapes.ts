// Dataset shapes for the bench (`--shape`). `mixed` is generate.ts's three tables; the others stress one
// thing each (issues #13, #14). All are generated server-side and deterministic (values derive from row
// numbers), sized by --mb (heap + TOAST + indexes, approximately).
//
//   narrow       one very large narrow table dominating (like pgbench_accounts: int key, 3 ints, char(84))
//   wide-values  few rows with huge values (bytea and text of VALUE_MB each, stored out of line)
//   many-tables  TABLES tables with serial keys spread over schemas (schema-per-tenant designs)
//   wide-rows    one table of 1,000 int columns
import { parseConnectionUrl, type ConnectionSpec } from '../src/config.js';
import { connect, type Client } from '../src/db/connect.js';
import { generateDataset, type GenerateResult } from './generate.js';

export const SHAPES = ['mixed', 'narrow', 'wide-values', 'many-tables', 'wide-rows'] as const;
export type Shape = (typeof SHAPES)[number];

const MB = 1024 * 1024;
const VALUE_MB = 8; // each huge value (bytea and text) in wide-values
const TABLES = 1000; // many-tables, unless --tables
const SCHEMAS = 20;
const WIDE_COLUMNS = 1000;

interface ShapePlan {
  /** DDL before loading; a list runs as one transaction each (thousands of tables in one would fill the lock table). */
  schema: string | string[];
  /** INSERT statements, run 2 at a time. */
  loads: string[];
  /** Keys and indexes, after loading, 2 at a time. */
  post: string[];
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Split 1..rows into INSERT … SELECT batches. */
function batches(rows: number, batch: number, sql: (lo: number, hi: number) => string): string[] {
  const out: string[] = [];
  for (let lo = 1; lo <= rows; lo += batch) out.push(sql(lo, Math.min(rows, lo + batch - 1)));
  return out;
}

/** many-tables: how many tables, and rows in each (default: --mb spread over them; 0 = empty tables). */
export interface ManyTablesOptions {
  tables?: number;
  rowsPerTable?: number;
}

function plan(shape: Exclude<Shape, 'mixed'>, mb: number, many: ManyTablesOptions = {}): ShapePlan {
  const bytes = mb * MB;
  switch (shape) {
    case 'narrow': {
      // pgbench -i: ~160 B per account row with its primary key; 1 branch per 100,000 accounts, 10 tellers each.
      const accounts = Math.max(1000, Math.round(bytes / 160));
      const branches = Math.max(1, Math.ceil(accounts / 100_000));
      return {
        schema: `
CREATE TABLE pgbench_branches (bid int NOT NULL, bbalance int, filler char(88));
CREATE TABLE pgbench_tellers (tid int NOT NULL, bid int, tbalance int, filler char(84));
CREATE TABLE pgbench_accounts (aid int NOT NULL, bid int, abalance int, filler char(84));
CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
INSERT INTO pgbench_branches SELECT i, 0, '' FROM generate_series(1, ${branches}) AS i;
INSERT INTO pgbench_tellers SELECT i, (i - 1) / 10 + 1, 0, '' FROM generate_series(1, ${branches * 10}) AS i;`,
        loads: batches(
          accounts,
          500_000,
          (lo, hi) => `INSERT INTO pgbench_accounts SELECT i, (i - 1) / 100000 + 1, (i * 7) % 1000 - 500, '' FROM generate_series(${lo}, ${hi}) AS i`,
        ),
        post: [
          'ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)',
          'ALTER TABLE pgbench_branches ADD PRIMARY KEY (bid)',
          'ALTER TABLE pgbench_tellers ADD PRIMARY KEY (tid)',
        ],
      };
    }
    case 'wide-values': {
      const rows = Math.max(2, Math.round(bytes / (2 * VALUE_MB * MB)));
      const md5s = (VALUE_MB * MB) / 16; // 16 bytes of bytea per md5; 32 hex characters of text
      return {
        schema: 'CREATE TABLE blobs (id int PRIMARY KEY, name text NOT NULL, data bytea, body text)',
        loads: range(rows).map(
          (k) => `INSERT INTO blobs SELECT ${k + 1}, 'blob ' || ${k + 1},
                   (SELECT decode(string_agg(md5(${k + 1} || ':' || g), ''), 'hex') FROM generate_series(1, ${md5s}) AS g),
                   (SELECT string_agg(md5(${k + 1} || '/' || g), '') FROM generate_series(1, ${md5s / 2}) AS g)`,
        ),
        post: [],
      };
    }
    case 'many-tables': {
      // ~100 B per row with its key.
      const tables = many.tables ?? TABLES;
      const rowsPerTable = many.rowsPerTable ?? Math.max(10, Math.round(bytes / tables / 100));
      const name = (k: number) => `tenant_${String(k % SCHEMAS).padStart(2, '0')}.items_${k}`;
      return {
        schema: [
          range(SCHEMAS)
            .map((s) => `CREATE SCHEMA tenant_${String(s).padStart(2, '0')};`)
            .join('\n'),
          ...range(Math.ceil(tables / 500)).map((b) =>
            range(Math.min(500, tables - b * 500))
              .map((i) => `CREATE TABLE ${name(b * 500 + i)} (id serial PRIMARY KEY, account int NOT NULL, note text, created timestamptz NOT NULL);`)
              .join('\n'),
          ),
        ],
        loads: (rowsPerTable > 0 ? range(tables) : []).map(
          (k) => `INSERT INTO ${name(k)} (account, note, created)
                  SELECT i % 97, 'item ' || substr(md5(i::text), 1, 20), timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
                    FROM generate_series(1, ${rowsPerTable}) AS i`,
        ),
        post: range(Math.floor(tables / 10)).map((k) => `CREATE INDEX ON ${name(k * 10)} (account)`),
      };
    }
    case 'wide-rows': {
      const rows = Math.max(100, Math.round(bytes / (WIDE_COLUMNS * 4 + 40)));
      const cols = range(WIDE_COLUMNS - 1).map((c) => `c${c + 1}`);
      return {
        schema: `CREATE TABLE wide (id int PRIMARY KEY, ${cols.map((c) => `${c} int`).join(', ')})`,
        loads: batches(
          rows,
          5000,
          (lo, hi) => `INSERT INTO wide SELECT i, ${cols.map((_, c) => `i % ${c + 7}`).join(', ')} FROM generate_series(${lo}, ${hi}) AS i`,
        ),
        post: [],
      };
    }
  }
}

async function onPool(spec: ConnectionSpec, jobs: number, work: string[], log: (l: string) => void, what: string): Promise<void> {
  const queue = [...work];
  let done = 0;
  const step = Math.max(1, Math.floor(work.length / 10));
  await Promise.all(
    Array.from({ length: Math.min(jobs, Math.max(1, work.length)) }, async () => {
      const c = await connect(spec, { applicationName: 'pgshift-bench-generate' });
      try {
        await c.query('SET synchronous_commit = off');
        for (let q = queue.shift(); q; q = queue.shift()) {
          await c.query(q);
          if (++done % step === 0) log(`generate: ${what} ${done}/${work.length}`);
        }
      } finally {
        await c.end().catch(() => undefined);
      }
    }),
  );
}

/** Fill an empty database with the shape; the result lists its tables. */
export async function generateShape(
  shape: Shape,
  o: { url: string; mb: number; jobs: number; log: (l: string) => void; many?: ManyTablesOptions },
): Promise<GenerateResult> {
  if (shape === 'mixed') return generateDataset({ url: o.url, mb: o.mb, jobs: o.jobs, log: o.log });
  const started = Date.now();
  const spec = parseConnectionUrl(o.url, 'source');
  const p = plan(shape, o.mb, o.many);
  const one = async <T>(fn: (c: Client) => Promise<T>) => {
    const c = await connect(spec, { applicationName: 'pgshift-bench-generate' });
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  for (const ddl of typeof p.schema === 'string' ? [p.schema] : p.schema) await one((c) => c.query(ddl));
  o.log(`generate: ${shape}, ${o.mb} MB planned, ${p.loads.length} load statements`);
  await onPool(spec, o.jobs, p.loads, o.log, 'loaded');
  await onPool(spec, o.jobs, p.post, o.log, 'built');
  const tables = await one(async (c) => {
    const { rows } = await c.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'`,
    );
    return rows.map((r) => r.name);
  });
  // Hint bits and visibility map set once here, so no peer pays for them (see generate.ts).
  await onPool(
    spec,
    o.jobs,
    tables.map((t) => `VACUUM (ANALYZE) ${t}`),
    o.log,
    'vacuumed',
  );
  return await one(async (c) => {
    const { rows } = await c.query<{ name: string; rows: string; bytes: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name, c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_' ORDER BY 3 DESC`,
    );
    const { rows: db } = await c.query<{ b: string }>('SELECT pg_database_size(current_database()) AS b');
    const result = {
      databaseBytes: Number(db[0]!.b),
      seconds: (Date.now() - started) / 1000,
      tables: rows.map((r) => ({ name: r.name, rows: Number(r.rows), bytes: Number(r.bytes) })),
    };
    o.log(`generate: ${shape} done in ${result.seconds.toFixed(1)}s, database ${(result.databaseBytes / MB).toFixed(0)} MB`);
    return result;
  });
}
