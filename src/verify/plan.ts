// Which relations hold rows to compare, and how to compare each one: the same column list (by name, in source
// column order) on both sides, the key, and how many buckets to spread its rows over.
import type { Client } from '../db/connect.js';
import { displayName, qualify } from '../db/ident.js';
import { compileFilter, type TableFilter } from '../catalog/filter.js';
import { dataTables, listTablesWith, SEQUENCES_SQL, sequencesFromRows, type CatalogRows, type SequenceInfo } from '../catalog/tables.js';
import { userSchemaSql } from '../catalog/system.js';
import { tableKey } from '../catalog/table-id.js';
import type { ColumnHashMode } from './sql.js';

export interface DataRelation {
  schema: string;
  name: string;
  qualified: string;
  display: string;
  /** r: table (read with ONLY: inheritance parents hold their own rows), m: materialized view. */
  relkind: 'r' | 'm';
  columns: string[];
  /** Type OID of each column (same order). */
  columnTypes: number[];
  primaryKey: string[] | null;
  /** Type OID of each primary key column. */
  keyTypes: number[];
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
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       (SELECT array_agg(a.atttypid::int8 ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS types
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'm' AND ${userSchemaSql('n.nspname')}
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1, 2`;

/**
 * The tables and materialized views verify compares, and the sequences it reads: one round trip (listTablesWith),
 * whatever their number.
 */
export async function listDataRelations(client: Client, filter: Partial<TableFilter>): Promise<{ relations: DataRelation[]; sequences: SequenceInfo[] }> {
  const read = await listTablesWith(client, filter, [MATVIEWS_SQL, SEQUENCES_SQL]);
  const [mv, seqs] = read.extra as [{ rows: MatviewRow[] }, CatalogRows];
  const tables = dataTables(read.tables).map((t): DataRelation => ({
    schema: t.schema,
    name: t.name,
    qualified: t.qualified,
    display: t.display,
    relkind: 'r',
    columns: t.columns.map((c) => c.name),
    columnTypes: t.columns.map((c) => c.typeOid),
    primaryKey: t.primaryKey,
    keyTypes: (t.primaryKey ?? []).map((k) => t.columns.find((c) => c.name === k)?.typeOid ?? 0),
    bytes: t.tableBytes,
    rowsEstimate: t.rows,
    populated: true,
  }));
  const keep = compileFilter(filter);
  const views = mv.rows
    .filter((r) => keep(r.schema, r.name))
    .map((r): DataRelation => ({
      schema: r.schema,
      name: r.name,
      qualified: qualify(r.schema, r.name),
      display: displayName(r.schema, r.name),
      relkind: 'm',
      columns: r.columns ?? [],
      columnTypes: (r.types ?? []).map(Number),
      primaryKey: null,
      keyTypes: [],
      bytes: Number(r.bytes),
      rowsEstimate: Number(r.rows),
      populated: r.populated,
    }));
  return { relations: [...tables, ...views], sequences: sequencesFromRows(seqs.rows, filter) };
}

interface MatviewRow {
  schema: string;
  name: string;
  populated: boolean;
  bytes: string;
  rows: string;
  columns: string[] | null;
  types: string[] | null;
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
  /**
   * integer: one smallint/integer/bigint key column on both sides — bucketed by its value and ordered numerically
   * (no text conversion of the key: a third cheaper to checksum). text: any other key, bucketed by a hash of
   * its text and ordered by that text's bytes.
   */
  keyMode: 'integer' | 'text';
  /** How each compared column enters the row hash (see sql.ts rowHash). */
  hashModes: ColumnHashMode[];
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

/**
 * Types whose own hash is exact: equal hash input only for identical values (no -0 = 0, no 1.0 = 1.00, no
 * '1 day' = '24 hours', no enum OIDs that differ between servers).
 */
const RAW_HASH_TYPES = new Set([16, 17, 18, 20, 21, 23, 26, 1082, 1083, 1114, 1184, 2950]);
/** text, varchar: hashed as bytes under COLLATE "C" (a nondeterministic collation would fold case). */
const TEXT_TYPES = new Set([25, 1043]);

function hashMode(sourceType: number | undefined, targetType: number | undefined): ColumnHashMode {
  if (sourceType === undefined || sourceType !== targetType) return 'text';
  if (RAW_HASH_TYPES.has(sourceType)) return 'raw';
  if (TEXT_TYPES.has(sourceType)) return 'rawC';
  return 'text';
}

/** int2, int4, int8. */
const INTEGER_TYPES = new Set([21, 23, 20]);

export function pairRelations(source: DataRelation[], target: DataRelation[]): TablePair[] {
  const byName = (list: DataRelation[]) => new Map(list.map((r) => [tableKey(r), r]));
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
    const intKey = (r?: DataRelation) => !!r && r.keyTypes.length === 1 && INTEGER_TYPES.has(r.keyTypes[0]!) && r.primaryKey?.[0] === key?.[0];
    const keyMode = key && key.length === 1 && intKey(s) && intKey(t) ? 'integer' : 'text';
    return {
      display: (s ?? t)!.display,
      source: s,
      target: t,
      columns,
      onlySource: s && t ? s.columns.filter((c) => !tCols.has(c)) : [],
      onlyTarget: s && t ? t.columns.filter((c) => !sCols.has(c)) : [],
      key,
      keyMode,
      hashModes: columns.map((c) => hashMode(s?.columnTypes[s.columns.indexOf(c)], t?.columnTypes[t.columns.indexOf(c)])),
      buckets: bucketCount(Math.max(s?.rowsEstimate ?? 0, t?.rowsEstimate ?? 0), Math.max(s?.bytes ?? 0, t?.bytes ?? 0)),
    };
  });
}
