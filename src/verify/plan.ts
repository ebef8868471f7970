// Which relations hold rows to compare, and how to compare each one: the same column list (by name, in source
// column order) on both sides, the key, and how many buckets to spread its rows over.
import type { Client } from '../db/connect.js';
import { displayName, qualify } from '../db/ident.js';
import { compileFilter, type TableFilter } from '../catalog/filter.js';
import { dataTables, listTables } from '../catalog/tables.js';

export interface DataRelation {
  schema: string;
  name: string;
  qualified: string;
  display: string;
  /** r: table (read with ONLY: inheritance parents hold their own rows), m: materialized view. */
  relkind: 'r' | 'm';
  columns: string[];
  primaryKey: string[] | null;
  /** Main fork size: how the reads are split into block ranges. */
  bytes: number;
  rowsEstimate: number;
  /** A materialized view that was never refreshed cannot be read. */
  populated: boolean;
}

const MATVIEWS_SQL = `
SELECT n.nspname AS schema, c.relname AS name, c.relispopulated AS populated,
       pg_relation_size(c.oid) AS bytes, GREATEST(c.reltuples, 0)::int8 AS rows,
       (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'm' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgshift')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1, 2`;

export async function listDataRelations(client: Client, filter: Partial<TableFilter>): Promise<DataRelation[]> {
  const tables = dataTables(await listTables(client, filter)).map(
    (t): DataRelation => ({
      schema: t.schema,
      name: t.name,
      qualified: t.qualified,
      display: t.display,
      relkind: 'r',
      columns: t.columns.map((c) => c.name),
      primaryKey: t.primaryKey,
      bytes: t.tableBytes,
      rowsEstimate: t.rows,
      populated: true,
    }),
  );
  const keep = compileFilter(filter);
  const mv = await client.query(MATVIEWS_SQL);
  const views = mv.rows
    .filter((r) => keep(r.schema, r.name))
    .map(
      (r): DataRelation => ({
        schema: r.schema,
        name: r.name,
        qualified: qualify(r.schema, r.name),
        display: displayName(r.schema, r.name),
        relkind: 'm',
        columns: r.columns ?? [],
        primaryKey: null,
        bytes: Number(r.bytes),
        rowsEstimate: Number(r.rows),
        populated: r.populated,
      }),
    );
  return [...tables, ...views];
}

export interface TablePair {
  display: string;
  source?: DataRelation;
  target?: DataRelation;
  /** Columns compared: present on both sides, in source order. */
  columns: string[];
  /** Columns present on one side only (also reported by the schema comparison). */
  onlySource: string[];
  onlyTarget: string[];
  /** Key used to locate rows; null → compared as a multiset. */
  key: string[] | null;
  /** Number of hash buckets (a power of two), the same on both sides. */
  buckets: number;
}

/** Rows per bucket we aim for: small enough that locating a difference reads little, large enough to keep the bucket map small. */
const ROWS_PER_BUCKET = 1000;
/** Upper bound on buckets per table: the client keeps one (count, sum) per bucket, so memory stays bounded. */
export const MAX_BUCKETS = 16384;

export function bucketCount(rowsEstimate: number, bytes: number): number {
  // reltuples is 0 before the first ANALYZE (fresh restores): fall back to ~100 bytes a row.
  const rows = Math.max(rowsEstimate, bytes / 100);
  let b = 1;
  while (b < MAX_BUCKETS && b * ROWS_PER_BUCKET < rows) b *= 2;
  return b;
}

export function pairRelations(source: DataRelation[], target: DataRelation[]): TablePair[] {
  const byName = (list: DataRelation[]) => new Map(list.map((r) => [`${r.schema}\u0000${r.name}`, r]));
  const src = byName(source);
  const tgt = byName(target);
  const keys = [...new Set([...src.keys(), ...tgt.keys()])].sort();
  return keys.map((k) => {
    const s = src.get(k);
    const t = tgt.get(k);
    const tCols = new Set(t?.columns ?? []);
    const sCols = new Set(s?.columns ?? []);
    const columns = s && t ? s.columns.filter((c) => tCols.has(c)) : [];
    const pk = s?.primaryKey ?? t?.primaryKey ?? null;
    const key = pk && pk.every((c) => columns.includes(c)) ? pk : null;
    return {
      display: (s ?? t)!.display,
      source: s,
      target: t,
      columns,
      onlySource: s && t ? s.columns.filter((c) => !tCols.has(c)) : [],
      onlyTarget: s && t ? t.columns.filter((c) => !sCols.has(c)) : [],
      key,
      buckets: bucketCount(Math.max(s?.rowsEstimate ?? 0, t?.rowsEstimate ?? 0), Math.max(s?.bytes ?? 0, t?.bytes ?? 0)),
    };
  });
}
