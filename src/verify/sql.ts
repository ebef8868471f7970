// The SQL verify runs against each side. Every statement names its columns explicitly (by name, same list on
// both sides): `t.*` would follow each side's physical column order, which legitimately differs.
import { quoteIdent } from '../db/ident.js';
import type { DataRelation } from './plan.js';

const col = (c: string) => `t.${quoteIdent(c)}`;

/** Text of the whole row: record_out quotes values and tells NULL from '' — the same text for equal data. */
export function rowText(columns: string[]): string {
  return `ROW(${columns.map(col).join(', ')})::text`;
}

/** 64-bit hash of the row text. hashtextextended is the hash behind hash partitioning: stable across majors. */
export function rowHash(columns: string[]): string {
  return `hashtextextended(${rowText(columns)}, 0)`;
}

/** Text of the key: orders rows (byte order, COLLATE "C") identically on both sides. */
export function keyText(key: string[]): string {
  return `ROW(${key.map(col).join(', ')})::text`;
}

/** Bucket of a row: by key hash when keyed (a changed row stays in its bucket), by row hash otherwise. $1 = mask. */
function bucketOf(key: string[] | null, hashAlias: string): string {
  return key ? `(hashtextextended(${keyText(key)}, 0) & $1::int8)` : `(${hashAlias} & $1::int8)`;
}

function from(rel: DataRelation): string {
  // ONLY: an inheritance parent's own rows (children are compared as tables of their own).
  return `FROM ONLY ${rel.qualified} t`;
}

/** Block range of a chunk; $2 from, $3 to (absent on the last, open-ended chunk). */
function chunkWhere(range: ChunkRange | null): string {
  if (!range) return '';
  return range.toBlock === null ? 'WHERE t.ctid >= $2::tid' : 'WHERE t.ctid >= $2::tid AND t.ctid < $3::tid';
}

export interface ChunkRange {
  fromBlock: number;
  /** null: up to the end of the relation (rows may have landed past the size read from the catalog). */
  toBlock: number | null;
}

/**
 * Per-bucket row count and sum of row hashes of one block range. A sum keeps duplicate rows counted (XOR
 * would cancel pairs); sum(int8) accumulates in 128 bits, so it is exact and cheap. $1 = bucket mask.
 */
export function aggregateSql(rel: DataRelation, columns: string[], key: string[] | null, range: ChunkRange | null): string {
  const inner = key
    ? `SELECT ${bucketOf(key, '')} AS b, ${rowHash(columns)} AS h ${from(rel)} ${chunkWhere(range)}`
    : `SELECT ${rowHash(columns)} AS h ${from(rel)} ${chunkWhere(range)}`;
  const bucket = key ? 'x.b' : bucketOf(null, 'x.h');
  return `SELECT ${bucket}::text AS b, count(*)::text AS n, sum(x.h)::text AS s FROM (${inner}) x GROUP BY 1`;
}

export function tid(block: number): string {
  return `(${block},0)`;
}

export function aggregateParams(mask: number, range: ChunkRange | null): string[] {
  const p = [String(mask)];
  if (range) {
    p.push(tid(range.fromBlock));
    if (range.toBlock !== null) p.push(tid(range.toBlock));
  }
  return p;
}

/** Keyed rows of the given buckets, in key byte order: (key text, each key column as text, row hash). $1 mask, $2 buckets. */
export function keyedRowsSql(rel: DataRelation, columns: string[], key: string[]): string {
  return `SELECT ${keyText(key)} AS k, ARRAY[${key.map((c) => `${col(c)}::text`).join(', ')}]::text[] AS kv, ${rowHash(columns)}::text AS h
    ${from(rel)}
   WHERE ${bucketOf(key, '')} = ANY($2::int8[])
   ORDER BY ${keyText(key)} COLLATE "C"`;
}

/** Row hashes with their multiplicity in the given buckets, in hash order. $1 mask, $2 buckets. */
export function multisetSql(rel: DataRelation, columns: string[]): string {
  return `SELECT x.h::text AS h, count(*)::int8 AS n
    FROM (SELECT ${rowHash(columns)} AS h ${from(rel)}) x
   WHERE (x.h & $1::int8) = ANY($2::int8[])
   GROUP BY x.h ORDER BY x.h`;
}

/** One example row text per hash. $1 hashes. */
export function examplesSql(rel: DataRelation, columns: string[]): string {
  return `SELECT DISTINCT ON (y.h) y.h::text AS h, y.r
    FROM (SELECT x.r, hashtextextended(x.r, 0) AS h FROM (SELECT ${rowText(columns)} AS r ${from(rel)}) x) y
   WHERE y.h = ANY($1::int8[])
   ORDER BY y.h`;
}

/** Column values of one row found by key (untyped parameters take the key columns' types: the index is used). */
export function rowByKeySql(rel: DataRelation, columns: string[], key: string[]): string {
  return `SELECT ARRAY[${columns.map((c) => `${col(c)}::text`).join(', ')}]::text[] AS v
    ${from(rel)}
   WHERE ${key.map((c, i) => `${col(c)} = $${i + 1}`).join(' AND ')}`;
}
