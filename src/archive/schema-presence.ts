// verify --source FILE when no pg_dump can dump the target (a target newer than the client tools here): each
// schema object of the archive looked up in the target's catalog by its kind and name — relations, indexes,
// keys and constraints, triggers, policies, rules, defaults, functions, types, schemas, extensions, and
// comments with their text. Presence only; definitions are compared when a pg_dump can dump the target.
import type { Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { parseObjectTag } from '../schema/toc-tag.js';
import { commentText } from './extensions.js';
import type { ArchiveEntry } from './format.js';

interface Lookup {
  sql: string;
  params: unknown[];
  /** A comment's text as the archive sets it (compared with the target's). */
  text?: string | null;
}

const RELKINDS: Record<string, string[]> = {
  TABLE: ['r', 'p'],
  'FOREIGN TABLE': ['f'],
  VIEW: ['v'],
  'MATERIALIZED VIEW': ['m'],
  SEQUENCE: ['S'],
  INDEX: ['i', 'I'],
};
const OWNED_BY: Record<string, string> = {
  CONSTRAINT: `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = pg_catalog.to_regclass($1) AND conname = $2) AS found`,
  'FK CONSTRAINT': `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = pg_catalog.to_regclass($1) AND conname = $2) AS found`,
  'CHECK CONSTRAINT': `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE (conrelid = pg_catalog.to_regclass($1) OR contypid = pg_catalog.to_regtype($1)) AND conname = $2) AS found`,
  TRIGGER: `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = pg_catalog.to_regclass($1) AND tgname = $2 AND NOT tgisinternal) AS found`,
  POLICY: `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = pg_catalog.to_regclass($1) AND polname = $2) AS found`,
  RULE: `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite WHERE ev_class = pg_catalog.to_regclass($1) AND rulename = $2) AS found`,
  DEFAULT: `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                          WHERE d.adrelid = pg_catalog.to_regclass($1) AND a.attname = $2) AS found`,
};
const PARENTS = new Set(['TABLE', 'FOREIGN TABLE', 'VIEW', 'MATERIALIZED VIEW', 'DOMAIN', 'TYPE']);

const qualified = (ns: string | null, name: string) => (ns ? `${quoteIdent(ns)}.${quoteIdent(name)}` : quoteIdent(name));

/** How to find one archive entry on the target, or null when its kind is not looked up. */
export function lookupFor(e: ArchiveEntry, byId: Map<number, ArchiveEntry>): Lookup | null {
  const ns = e.namespace || null;
  if (RELKINDS[e.desc])
    return {
      sql: `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = pg_catalog.to_regclass($1) AND relkind = ANY($2)) AS found`,
      params: [qualified(ns, e.tag), RELKINDS[e.desc]],
    };
  if (e.desc === 'SCHEMA') return { sql: `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1) AS found`, params: [e.tag] };
  if (e.desc === 'EXTENSION') return { sql: `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1) AS found`, params: [e.tag] };
  if (e.desc === 'TYPE' || e.desc === 'DOMAIN') return { sql: `SELECT pg_catalog.to_regtype($1) IS NOT NULL AS found`, params: [qualified(ns, e.tag)] };
  if (e.desc === 'FUNCTION' || e.desc === 'PROCEDURE' || e.desc === 'AGGREGATE') {
    const open = e.tag.indexOf('(');
    if (open <= 0) return null;
    return {
      sql: `SELECT pg_catalog.to_regprocedure($1) IS NOT NULL AS found`,
      params: [`${qualified(ns, e.tag.slice(0, open))}${e.tag.slice(open)}`],
    };
  }
  if (OWNED_BY[e.desc]) {
    // The tag is "<parent> <name>"; the parent is the entry it depends on.
    const parent = e.dependencies.map((d) => byId.get(d)).find((d) => d && PARENTS.has(d.desc) && e.tag.startsWith(`${d.tag} `));
    if (!parent) return null;
    return { sql: OWNED_BY[e.desc]!, params: [qualified(parent.namespace || null, parent.tag), e.tag.slice(parent.tag.length + 1)] };
  }
  if (e.desc === 'COMMENT') return commentLookup(e);
  return null;
}

/** A comment: the object's description on the target, and the text the archive gives it. */
function commentLookup(e: ArchiveEntry): Lookup | null {
  const t = parseObjectTag(e.tag);
  if (!t) return null;
  const ns = e.namespace || null;
  const text = commentText(e.defn);
  const [a, b] = t.names;
  const rel = (cat: string) => ({ sql: `SELECT pg_catalog.obj_description(pg_catalog.to_regclass($1), '${cat}') AS text`, params: [qualified(ns, a!)], text });
  switch (t.kind) {
    case 'TABLE':
    case 'VIEW':
    case 'MATERIALIZED VIEW':
    case 'FOREIGN TABLE':
    case 'SEQUENCE':
    case 'INDEX':
      return rel('pg_class');
    case 'COLUMN':
      return {
        sql: `SELECT pg_catalog.col_description(c.oid, a.attnum) AS text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
               WHERE c.oid = pg_catalog.to_regclass($1) AND a.attname = $2`,
        params: [qualified(ns, a!), b],
        text,
      };
    case 'TYPE':
    case 'DOMAIN':
      return { sql: `SELECT pg_catalog.obj_description(pg_catalog.to_regtype($1), 'pg_type') AS text`, params: [qualified(ns, a!)], text };
    case 'SCHEMA':
      return { sql: `SELECT pg_catalog.obj_description(oid, 'pg_namespace') AS text FROM pg_catalog.pg_namespace WHERE nspname = $1`, params: [a], text };
    case 'EXTENSION':
      return { sql: `SELECT pg_catalog.obj_description(oid, 'pg_extension') AS text FROM pg_catalog.pg_extension WHERE extname = $1`, params: [a], text };
    case 'CONSTRAINT':
      if (!t.on) return null;
      return {
        sql: `SELECT pg_catalog.obj_description(oid, 'pg_constraint') AS text FROM pg_catalog.pg_constraint WHERE conrelid = pg_catalog.to_regclass($1) AND conname = $2`,
        params: [qualified(ns, t.on), a],
        text,
      };
    case 'TRIGGER':
      if (!t.on) return null;
      return {
        sql: `SELECT pg_catalog.obj_description(oid, 'pg_trigger') AS text FROM pg_catalog.pg_trigger WHERE tgrelid = pg_catalog.to_regclass($1) AND tgname = $2`,
        params: [qualified(ns, t.on), a],
        text,
      };
    default:
      return null;
  }
}

export interface Presence {
  /** Entries looked up, and those whose kind is not. */
  looked: number;
  /** Missing on the target, or (comments) with another text there. */
  missing: ArchiveEntry[];
  different: Array<{ entry: ArchiveEntry; archive: string | null; target: string | null }>;
}

export async function presenceOnTarget(c: Client, entries: ArchiveEntry[], byId: Map<number, ArchiveEntry>): Promise<Presence> {
  const out: Presence = { looked: 0, missing: [], different: [] };
  for (const e of entries) {
    const l = lookupFor(e, byId);
    if (!l) continue;
    out.looked++;
    const row = (await c.query<{ found?: boolean; text?: string | null }>(l.sql, l.params)).rows[0];
    if (e.desc === 'COMMENT') {
      const got = row?.text ?? null;
      if (got === null) out.missing.push(e);
      else if (l.text !== undefined && l.text !== null && got !== l.text) out.different.push({ entry: e, archive: l.text, target: got });
    } else if (!row?.found) out.missing.push(e);
  }
  return out;
}
