// The SQL verify runs against each side. Every statement names its columns explicitly (by name, same list on
// both sides): `t.*` would follow each side's physical column order, which legitimately differs.
import { quoteIdent } from '../db/ident.js';
import type { DataRelation } from './plan.js';

const col = (c: string) => `t.${quoteIdent(c)}`;

/** Text of the whole row: record_out quotes values and tells NULL from '' — the same text for equal data. */
export function rowText(columns: string[]): string {
  return `ROW(${columns.map(col).join(', ')})::text`;
}

/**
 * How one column enters the row hash. raw: the type's own hash, exact for these types (equal hash input ⇔
 * identical value); rawC: text hashed byte-wise whatever the column's collation; text: its output text
 * (floats, numeric, json, intervals, enums, arrays…: the text tells -0 from 0, 1.0 from 1.00, key order).
 */
export type ColumnHashMode = 'raw' | 'rawC' | 'text';

export interface RowHashSpec {
  columns: string[];
  /** null: the portable method (hash of the whole row text) for servers before PostgreSQL 14. */
  modes: ColumnHashMode[] | null;
}

/**
 * 64-bit hash of a row. Both methods rest on the hashes behind hash partitioning, which are stable across
 * majors. hash_record_extended (14+) combines per-column hashes by position (a NULL adds 0) and skips the
 * text conversion of integers, timestamps, text, bytea… — cheaper than hashing the whole row text.
 */
export function rowHash(spec: RowHashSpec): string {
  if (!spec.modes) return `hashtextextended(${rowText(spec.columns)}, 0)`;
  const modes = spec.modes;
  // text mode goes through the type's output function (ROW(x)::text), not a cast: xml → text is a binary
  // coercion that exposes the stored string, and an equal xml value may be stored differently on each side
  // (xml_out and xml_send drop a plain <?xml version="1.0"?> declaration, so every copy normalizes it).
  const parts = spec.columns.map((c, i) => (modes[i] === 'raw' ? col(c) : modes[i] === 'rawC' ? `(${col(c)} COLLATE "C")` : `ROW(${col(c)})::text`));
  // hash_record_extended combines column hashes linearly (31·h1 + h2 …), so a bucket's sum would only see
  // each column's multiset of values: two rows swapping a value would cancel out. Hashing its result again
  // (as text: hashint8extended folds 64 bits to 32 first) makes each row's contribution non-linear.
  return `hashtextextended(hash_record_extended(ROW(${parts.join(', ')}), 0)::text, 0)`;
}

export interface KeySpec {
  columns: string[];
  mode: 'integer' | 'text';
}

/** Text of the key: orders rows (byte order, COLLATE "C") identically on both sides. */
export function keyText(key: string[]): string {
  return key.length === 1 ? `${col(key[0]!)}::text` : `ROW(${key.map(col).join(', ')})::text`;
}

/** Key order: numeric for an integer key, byte order of its text otherwise. */
function keyOrder(key: KeySpec): string {
  return key.mode === 'integer' ? col(key.columns[0]!) : `${keyText(key.columns)} COLLATE "C"`;
}

/**
 * Bucket of a row: by key when keyed (a changed row stays in its bucket, so it is reported as "different"),
 * by row hash otherwise. $1 = mask (buckets - 1).
 */
function bucketOf(key: KeySpec | null, hashAlias: string): string {
  if (!key) return `(${hashAlias} & $1::int8)`;
  if (key.mode === 'integer') return `(${col(key.columns[0]!)}::int8 & $1::int8)`;
  return `(hashtextextended(${keyText(key.columns)}, 0) & $1::int8)`;
}

function from(rel: DataRelation): string {
  // ONLY: an inheritance parent's own rows (children are compared as tables of their own).
  return `FROM ONLY ${rel.qualified} t`;
}

/** Block range of a chunk; $first from, $first+1 to (absent on the last, open-ended chunk). */
function chunkWhere(range: ChunkRange | null, first = 2): string {
  if (!range) return '';
  const lo = `$${first}::tid`;
  return range.toBlock === null ? `WHERE t.ctid >= ${lo}` : `WHERE t.ctid >= ${lo} AND t.ctid < $${first + 1}::tid`;
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
export function aggregateSql(rel: DataRelation, hash: RowHashSpec, key: KeySpec | null, range: ChunkRange | null): string {
  const inner = key
    ? `SELECT ${bucketOf(key, '')} AS b, ${rowHash(hash)} AS h ${from(rel)} ${chunkWhere(range)}`
    : `SELECT ${rowHash(hash)} AS h ${from(rel)} ${chunkWhere(range)}`;
  const bucket = key ? 'x.b' : bucketOf(null, 'x.h');
  return `SELECT ${bucket}::text AS b, count(*)::text AS n, sum(x.h)::text AS s FROM (${inner}) x GROUP BY 1`;
}

/**
 * Row count and sum of row hashes of one block range, without buckets: grouping every row costs about as much
 * as hashing it, so buckets are computed only for tables whose totals differ. $1 from, $2 to.
 */
export function totalsSql(rel: DataRelation, hash: RowHashSpec, range: ChunkRange | null): string {
  return `SELECT '0' AS b, count(*)::text AS n, coalesce(sum(x.h), 0)::text AS s FROM (SELECT ${rowHash(hash)} AS h ${from(rel)} ${chunkWhere(range, 1)}) x`;
}

export function totalsParams(range: ChunkRange | null): string[] {
  return aggregateParams(0, range).slice(1);
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
export function keyedRowsSql(rel: DataRelation, hash: RowHashSpec, key: KeySpec): string {
  return `SELECT ${keyText(key.columns)} AS k, ARRAY[${key.columns.map((c) => `${col(c)}::text`).join(', ')}]::text[] AS kv, ${rowHash(hash)}::text AS h
    ${from(rel)}
   WHERE ${bucketOf(key, '')} = ANY($2::int8[])
   ORDER BY ${keyOrder(key)}`;
}

/** Row hashes with their multiplicity in the given buckets, in hash order. $1 mask, $2 buckets. */
export function multisetSql(rel: DataRelation, hash: RowHashSpec): string {
  return `SELECT x.h::text AS h, count(*)::int8 AS n
    FROM (SELECT ${rowHash(hash)} AS h ${from(rel)}) x
   WHERE (x.h & $1::int8) = ANY($2::int8[])
   GROUP BY x.h ORDER BY x.h`;
}

/** Values longer than this (bytes of their text) are shown as length + md5, never fetched. */
export const MAX_SHOWN_BYTES = 200;

/**
 * One example row per hash, as (length, md5, text when short) of its record text: the text of a row with
 * 40 MB values never leaves the server. $1 hashes.
 */
export function examplesSql(rel: DataRelation, hash: RowHashSpec): string {
  // The row text is computed only for rows that pass the filter (the subquery is flattened).
  return `SELECT z.h, octet_length(z.r)::text AS l, md5(z.r) AS m, CASE WHEN octet_length(z.r) <= ${MAX_SHOWN_BYTES} THEN z.r END AS r
    FROM (SELECT DISTINCT ON (y.h) y.h::text AS h, y.r
            FROM (SELECT ${rowHash(hash)} AS h, ${rowText(hash.columns)} AS r ${from(rel)}) y
           WHERE y.h = ANY($1::int8[])
           ORDER BY y.h) z`;
}

/**
 * Per column of one row found by key: length and md5 of its text, and the text itself only when short
 * (untyped parameters take the key columns' types: the index is used). OFFSET 0 keeps the subquery from
 * being flattened, so each value is converted to text once.
 */
export function columnDigestsSql(rel: DataRelation, columns: string[], key: string[]): string {
  const c = (i: number) => `s.c${i}`;
  const each = (f: (i: number) => string) => `ARRAY[${columns.map((_, i) => f(i)).join(', ')}]::text[]`;
  return `SELECT ${each((i) => `octet_length(${c(i)})::text`)} AS l, ${each((i) => `md5(${c(i)})`)} AS m,
         ${each((i) => `CASE WHEN octet_length(${c(i)}) <= ${MAX_SHOWN_BYTES} THEN ${c(i)} END`)} AS v
    FROM (SELECT ${columns.map((name, i) => `${col(name)}::text AS c${i}`).join(', ')}
            ${from(rel)}
           WHERE ${key.map((k, i) => `${col(k)} = $${i + 1}`).join(' AND ')}
          OFFSET 0) s`;
}
