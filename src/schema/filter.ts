// --include/--exclude at the schema level: a table left out of the copy is left out whole — its definition,
// indexes, keys, triggers, policies, defaults, owned sequences, comments — not only its rows. pg_dump's own -t/-T
// would also drop the types and functions the kept tables need, so the dump stays whole and the TOC is filtered.
import type { Client } from '../db/connect.js';
import type { TocEntry } from './dump.js';
import { parseObjectTag } from './toc-tag.js';
import { tableKey } from '../catalog/table-id.js';
import { CAPTURE_SCHEMA } from '../catalog/system.js';

export interface Excluded {
  /** Catalog OIDs of excluded tables and everything that hangs off them. */
  oids: Set<number>;
  /** pg_class OIDs among them: relations, their partitions, indexes and owned sequences. */
  classOids?: Set<number>;
  /** "schema\0name" of excluded tables, their indexes and owned sequences (TOC entries without OIDs). */
  tables: Set<string>;
  indexes: Set<string>;
  sequences: Set<string>;
}

const key = (schema: string, name: string) => tableKey({ schema, name });

/** Expand excluded tables with their partitions, then collect every dependent object. */
export async function excludedObjects(snap: Client, tableOids: number[]): Promise<Excluded> {
  const ex: Excluded = { oids: new Set(), classOids: new Set(), tables: new Set(), indexes: new Set(), sequences: new Set() };
  // Trigger capture's own triggers (their functions live in the capture schema, which is never dumped).
  const { rows: capture } = await snap.query(
    `SELECT g.oid::int8 AS oid FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = $1`,
    [CAPTURE_SCHEMA],
  );
  for (const r of capture) ex.oids.add(Number(r.oid));
  if (tableOids.length === 0) return ex;
  const { rows } = await snap.query(
    `WITH RECURSIVE t(oid) AS (
       SELECT unnest($1::oid[])
       UNION SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.oid
                          JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relispartition)
     SELECT 'table' AS kind, c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name
       FROM t JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace
     UNION ALL
     SELECT 'index', i.indexrelid::int8, n.nspname, ic.relname FROM pg_index i JOIN t ON i.indrelid = t.oid
       JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
     UNION ALL
     SELECT 'sequence', s.oid::int8, n.nspname, s.relname FROM pg_depend d JOIN t ON d.refobjid = t.oid
       JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace n ON n.oid = s.relnamespace
      WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
     UNION ALL
     -- (Foreign keys of kept tables that point at a left-out one are refused in preflight: see dependencies.ts.)
     SELECT 'other', c.oid::int8, NULL, NULL FROM pg_constraint c WHERE c.conrelid IN (SELECT oid FROM t)
     UNION ALL SELECT 'other', g.oid::int8, NULL, NULL FROM pg_trigger g WHERE g.tgrelid IN (SELECT oid FROM t)
     UNION ALL SELECT 'other', r.oid::int8, NULL, NULL FROM pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM t)
     UNION ALL SELECT 'other', p.oid::int8, NULL, NULL FROM pg_policy p WHERE p.polrelid IN (SELECT oid FROM t)
     UNION ALL SELECT 'other', a.oid::int8, NULL, NULL FROM pg_attrdef a WHERE a.adrelid IN (SELECT oid FROM t)
     UNION ALL SELECT 'other', s.oid::int8, NULL, NULL FROM pg_statistic_ext s WHERE s.stxrelid IN (SELECT oid FROM t)`,
    [tableOids],
  );
  for (const r of rows) {
    ex.oids.add(Number(r.oid));
    if (r.kind !== 'other') ex.classOids!.add(Number(r.oid));
    if (r.kind === 'table') ex.tables.add(key(r.schema, r.name));
    if (r.kind === 'index') ex.indexes.add(key(r.schema, r.name));
    if (r.kind === 'sequence') ex.sequences.add(key(r.schema, r.name));
  }
  return ex;
}

/** A relation (table, view, materialized view) left out by the filter. */
export function isExcludedRelation(ex: Excluded, schema: string, name: string): boolean {
  return ex.tables.has(key(schema, name));
}

/** Table OIDs among the excluded objects (partitions of excluded parents included). */
export function excludedTableOids(ex: Excluded, all: { oid: number; schema: string; name: string }[]): Set<number> {
  return new Set(all.filter((t) => ex.tables.has(key(t.schema, t.name))).map((t) => t.oid));
}

/** Keep a TOC entry unless it belongs to an excluded table. */
export function keepEntry(ex: Excluded, e: TocEntry): boolean {
  if (e.oid !== 0 && ex.oids.has(e.oid)) return false;
  const tag = e.rest.slice(0, Math.max(0, e.rest.lastIndexOf(' '))); // drop the owner
  switch (e.desc) {
    case 'TABLE ATTACH':
    case 'ROW SECURITY':
      return !ex.tables.has(key(e.schema, tag));
    case 'INDEX ATTACH':
      return !ex.indexes.has(key(e.schema, tag));
    case 'SEQUENCE OWNED BY':
    case 'SEQUENCE SET':
      return !ex.sequences.has(key(e.schema, tag));
    case 'COMMENT':
    case 'ACL':
    case 'SECURITY LABEL': {
      // These tags name their object as SQL (quoted where needed), unlike the object entries themselves.
      const t = parseObjectTag(e.rest);
      if (!t) return true;
      const name = t.names[0]!;
      if (['TABLE', 'VIEW', 'MATERIALIZED VIEW', 'FOREIGN TABLE', 'COLUMN'].includes(t.kind)) return !ex.tables.has(key(e.schema, name));
      if (t.kind === 'INDEX') return !ex.indexes.has(key(e.schema, name));
      if (t.kind === 'SEQUENCE') return !ex.sequences.has(key(e.schema, name));
      if (t.on !== undefined) return !ex.tables.has(key(e.schema, t.on));
      return true;
    }
    default:
      return true;
  }
}
