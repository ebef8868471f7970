// Introspection of user tables into a typed model shared by inventory, copy and verify.
import type { Client } from '../db/connect.js';
import { displayName, qualify } from '../db/ident.js';
import { compileFilter, type TableFilter } from './filter.js';
import { userSchemaSql } from './system.js';

export type TableKind = 'table' | 'partitioned' | 'partition' | 'inheritance-child' | 'unlogged' | 'foreign';
export type ReplicaIdentity = 'default' | 'nothing' | 'full' | 'index';

export interface ColumnInfo {
  name: string;
  /** format_type() text, e.g. "numeric(10,2)", "public.mood[]". */
  type: string;
  typeOid: number;
  notNull: boolean;
  /** Stored generated column: never written by copy/replicate; it recomputes. */
  generated: boolean;
  identity: 'always' | 'by-default' | null;
  /** Binary COPY carries this type safely between two different servers. */
  binarySafe: boolean;
}

export interface TableInfo {
  oid: number;
  schema: string;
  name: string;
  /** Quoted "schema"."name" for SQL. */
  qualified: string;
  /** schema.name for people. */
  display: string;
  kind: TableKind;
  relkind: 'r' | 'p' | 'f';
  unlogged: boolean;
  /** Parent of a partition or inheritance child (display form). */
  parent: string | null;
  /** Has inheritance (not partition) children: read it with ONLY. */
  hasInheritanceChildren: boolean;
  /** reltuples; 0 when never analyzed. */
  rows: number;
  tableBytes: number;
  toastBytes: number;
  indexBytes: number;
  primaryKey: string[] | null;
  replicaIdentity: ReplicaIdentity;
  /** Columns of the replica identity (PK, chosen index, or all for FULL); null when UPDATE/DELETE can't replicate. */
  identityColumns: string[] | null;
  columns: ColumnInfo[];
}

/** The user tables (pg_class c, pg_namespace n): ordinary, partitioned and foreign, not an extension's. */
const TABLE_WHERE = `c.relkind IN ('r', 'p', 'f')
   AND ${userSchemaSql('n.nspname')}
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

/** Their oids, for the column and type reads that go in the same round trip (no oid list sent back first). */
const TABLE_OIDS = `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${TABLE_WHERE}`;

const TABLES_SQL = /* sql */ `
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
       c.relpersistence = 'u' AS unlogged, c.relispartition AS is_partition,
       (SELECT format('%s.%s', pn.nspname, p.relname) FROM pg_inherits i
          JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
         WHERE i.inhrelid = c.oid ORDER BY i.inhseqno LIMIT 1) AS parent,
       c.relkind = 'r' AND EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid
                                    WHERE i.inhparent = c.oid AND NOT ch.relispartition) AS has_inh_children,
       GREATEST(c.reltuples, 0)::int8 AS rows,
       CASE WHEN c.relkind = 'f' THEN 0 ELSE pg_relation_size(c.oid) END AS table_bytes,
       COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) AS toast_bytes,
       CASE WHEN c.relkind = 'f' THEN 0 ELSE pg_indexes_size(c.oid) END AS index_bytes,
       c.relreplident::text AS replident,
       (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
       (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = c.oid AND i.indisreplident) AS ri_index
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ${TABLE_WHERE}
 ORDER BY n.nspname, c.relname`;

const COLUMNS_SQL = `
SELECT a.attrelid::int8 AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.atttypid::int8 AS type_oid, a.attnotnull AS not_null, a.attgenerated <> '' AS generated,
       a.attidentity::text AS identity
  FROM pg_attribute a
 WHERE a.attrelid IN (${TABLE_OIDS}) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum`;

const TYPES_SQL = `
SELECT t.oid::int8 AS oid, t.typtype::text AS typtype, t.typbasetype::int8 AS base, t.typelem::int8 AS elem,
       t.typcategory::text AS category, t.typreceive <> 0 AND t.typsend <> 0 AS has_binary
  FROM pg_type t
 WHERE t.oid < 16384
    OR t.oid IN (SELECT a.atttypid FROM pg_attribute a WHERE a.attrelid IN (${TABLE_OIDS}) AND a.attnum > 0 AND NOT a.attisdropped)`;

/** Objects created by initdb have OIDs below this (FirstNormalObjectId). */
const FIRST_USER_OID = 16384;

interface TableRow {
  oid: string;
  schema: string;
  name: string;
  relkind: 'r' | 'p' | 'f';
  unlogged: boolean;
  is_partition: boolean;
  parent: string | null;
  has_inh_children: boolean;
  rows: string;
  table_bytes: string;
  toast_bytes: string;
  index_bytes: string;
  replident: 'd' | 'n' | 'f' | 'i';
  pk: string[] | null;
  ri_index: string[] | null;
}

interface ColumnRow {
  oid: string;
  name: string;
  type: string;
  type_oid: string;
  not_null: boolean;
  generated: boolean;
  identity: string;
}

interface TypeRow {
  oid: string;
  typtype: string;
  base: string;
  elem: string;
  category: string;
  has_binary: boolean;
}

/**
 * The reg* types (regclass, regtype, regproc, …): their binary form is the raw OID of the object on the source,
 * which names another object (or none) on the target; their text form is the name.
 */
const OID_ALIAS_TYPES = new Set([24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191]);

/**
 * Binary COPY embeds element/column type OIDs inside arrays and composites, and the receiving server rejects
 * OIDs it does not know ("wrong element type"). User-defined types get different OIDs on the target, so only
 * built-in types (and enums and domains over safe types, whose binary form carries no OID) are safe.
 */
export function binarySafety(types: Map<number, TypeRow>): (oid: number) => boolean {
  const safe = (oid: number, depth = 0): boolean => {
    const t = types.get(oid);
    if (!t || depth > 10 || OID_ALIAS_TYPES.has(oid)) return false;
    if (t.typtype === 'd') return safe(Number(t.base), depth + 1);
    if (t.typtype === 'e') return true;
    if (oid >= FIRST_USER_OID) return false;
    if (!t.has_binary) return false;
    if (t.category === 'A' && Number(t.elem) !== 0) return Number(t.elem) < FIRST_USER_OID && safe(Number(t.elem), depth + 1);
    return t.typtype === 'b' || t.typtype === 'r' || t.typtype === 'm' || t.typtype === 'p';
  };
  return (oid) => safe(oid);
}

function kindOf(relkind: string, unlogged: boolean, isPartition: boolean, parent: string | null): TableKind {
  if (relkind === 'f') return 'foreign';
  if (relkind === 'p') return 'partitioned';
  if (isPartition) return 'partition';
  if (parent) return 'inheritance-child';
  return unlogged ? 'unlogged' : 'table';
}

/** Rows of one catalog query, as pg parsed them. */
export interface CatalogRows {
  rows: Record<string, unknown>[];
}

export async function listTables(client: Client, filter?: Partial<TableFilter>): Promise<TableInfo[]> {
  return (await listTablesWith(client, filter, [])).tables;
}

/**
 * listTables, and the results of `extra` catalog queries (no bind parameters) read in the same round trip: the
 * tables, their columns and their types are one multi-statement query (one snapshot), whatever the table count.
 */
export async function listTablesWith(
  client: Client,
  filter: Partial<TableFilter> | undefined,
  extra: string[],
): Promise<{ tables: TableInfo[]; extra: CatalogRows[] }> {
  const keep = compileFilter(filter);
  const results = (await client.query([TABLES_SQL, COLUMNS_SQL, TYPES_SQL, ...extra].join(';\n'))) as unknown as CatalogRows[];
  const [tablesResult, colsResult, typesResult] = results as unknown as [{ rows: TableRow[] }, { rows: ColumnRow[] }, { rows: TypeRow[] }];
  const rest = results.slice(3);
  const selected = tablesResult.rows.filter((r) => keep(r.schema, r.name));
  if (selected.length === 0) return { tables: [], extra: rest };
  const wanted = new Set(selected.map((r) => r.oid));
  const cols = { rows: colsResult.rows.filter((c) => wanted.has(c.oid)) };
  const typeRows = typesResult;
  const isSafe = binarySafety(new Map(typeRows.rows.map((t) => [Number(t.oid), t])));
  const byTable = new Map<string, ColumnInfo[]>();
  for (const c of cols.rows) {
    const list = byTable.get(c.oid) ?? [];
    list.push({
      name: c.name,
      type: c.type,
      typeOid: Number(c.type_oid),
      notNull: c.not_null,
      generated: c.generated,
      identity: c.identity === 'a' ? 'always' : c.identity === 'd' ? 'by-default' : null,
      binarySafe: isSafe(Number(c.type_oid)),
    });
    byTable.set(c.oid, list);
  }
  const tables = selected.map((r): TableInfo => {
    const columns = byTable.get(r.oid) ?? [];
    const replicaIdentity = ({ d: 'default', n: 'nothing', f: 'full', i: 'index' } as const)[r.replident];
    const pk = r.pk ?? null;
    const identityColumns =
      replicaIdentity === 'full' ? columns.map((c) => c.name) : replicaIdentity === 'index' ? (r.ri_index ?? null) : replicaIdentity === 'default' ? pk : null;
    return {
      oid: Number(r.oid),
      schema: r.schema,
      name: r.name,
      qualified: qualify(r.schema, r.name),
      display: displayName(r.schema, r.name),
      kind: kindOf(r.relkind, r.unlogged, r.is_partition, r.parent),
      relkind: r.relkind,
      unlogged: r.unlogged,
      parent: r.parent,
      hasInheritanceChildren: r.has_inh_children,
      rows: Number(r.rows),
      tableBytes: Number(r.table_bytes),
      toastBytes: Number(r.toast_bytes),
      indexBytes: Number(r.index_bytes),
      primaryKey: pk,
      replicaIdentity,
      identityColumns,
      columns,
    };
  });
  return { tables, extra: rest };
}

/** Tables that hold rows themselves: leaves of partition trees, and every plain/inheritance table (read with ONLY). */
export function dataTables(tables: TableInfo[]): TableInfo[] {
  return tables.filter((t) => t.relkind === 'r');
}

export interface SequenceInfo {
  schema: string;
  name: string;
  qualified: string;
  display: string;
  /** Owned by an identity/serial column of this table (display form, as TableInfo.display), if any. */
  ownedBy: string | null;
}

/** The user sequences with the table owning each (serial/identity), for listSequences or a batch of catalog reads. */
export const SEQUENCES_SQL = `
    SELECT n.nspname AS schema, c.relname AS name,
           (SELECT ARRAY[tn.nspname::text, t.relname::text] FROM pg_depend d
              JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
               AND d.deptype IN ('a', 'i') LIMIT 1) AS owned_by
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'S' AND ${userSchemaSql('n.nspname')}
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY 1, 2`;

/** SEQUENCES_SQL's rows, filtered. */
export function sequencesFromRows(rows: CatalogRows['rows'], filter?: Partial<TableFilter>): SequenceInfo[] {
  const keep = compileFilter(filter);
  return (rows as { schema: string; name: string; owned_by: [string, string] | null }[])
    .filter((r) => keep(r.schema, r.name))
    .map((r) => ({
      schema: r.schema,
      name: r.name,
      qualified: qualify(r.schema, r.name),
      display: displayName(r.schema, r.name),
      ownedBy: r.owned_by ? displayName(r.owned_by[0], r.owned_by[1]) : null,
    }));
}

export async function listSequences(client: Client, filter?: Partial<TableFilter>): Promise<SequenceInfo[]> {
  return sequencesFromRows((await client.query(SEQUENCES_SQL)).rows, filter);
}
