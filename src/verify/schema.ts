// Schema objects compared by definition text: every object class `pg_dump --schema-only` prints (see
// schema-sql*.ts), grants and owners only on request. pgshift's own schema and the system schemas are ignored.
import { compileFilter, type TableFilter } from '../catalog/filter.js';
import type { Client } from '../db/connect.js';
import { classifyError } from '../errors.js';
import { RELATION_KINDS, RELATION_QUERIES } from './schema-sql.js';
import { ACL_QUERIES, OWNER_QUERIES } from './schema-sql-acl.js';
import { DATABASE_QUERIES } from './schema-sql-db.js';
import type { SchemaDifference, SchemaObjectKind } from './types.js';

interface ObjectRow {
  kind: SchemaObjectKind;
  sch: string;
  rel: string;
  object: string;
  def: string | null;
  /** Belongs to one relation (follows its --include/--exclude); absent: decided by kind. */
  scoped?: boolean;
}

export interface SchemaScope {
  /** Compare grants (GRANT/REVOKE, default privileges). */
  acl?: boolean;
  /** Compare owners. */
  owners?: boolean;
}

/** What verify leaves out, said in every report so that "equal" is never read as more than it is. */
export function notCompared(scope: SchemaScope): string[] {
  const out: string[] = [];
  if (!scope.acl) out.push('grants (copy defaults to --no-acl; compare them with --acl)');
  if (!scope.owners) out.push('owners (copy defaults to --no-owner; compare them with --owners)');
  out.push('publications and subscriptions (out of scope: they belong to the replication setup, not to the application)');
  out.push('roles, tablespaces, database-level settings and comments, security labels (not part of a database dump)');
  return out;
}

function queriesFor(scope: SchemaScope): Record<string, string> {
  return { ...RELATION_QUERIES, ...DATABASE_QUERIES, ...(scope.acl ? ACL_QUERIES : {}), ...(scope.owners ? OWNER_QUERIES : {}) };
}

async function describeSide(client: Client, side: string, filter: Partial<TableFilter>, scope: SchemaScope): Promise<Map<string, ObjectRow>> {
  const keep = compileFilter(filter);
  const narrowed = (filter.include ?? []).length > 0;
  const out = new Map<string, ObjectRow>();
  for (const [name, sql] of Object.entries(queriesFor(scope))) {
    const { rows } = await client.query<ObjectRow>(sql).catch((err) => {
      throw classifyError(err, `${side}: reading ${name} definitions`, { phase: 'verify schema' });
    });
    for (const r of rows) {
      // Objects of a relation follow the relation's --include/--exclude; database-wide objects (functions,
      // types, extensions, schemas) are compared only when the whole database is (no --include).
      const scoped = r.scoped ?? RELATION_KINDS.has(r.kind);
      if (scoped ? !keep(r.sch, r.rel) : narrowed || !keep(r.sch, r.rel)) continue;
      out.set(`${r.kind}\u0000${r.object}`, { kind: r.kind, sch: r.sch, rel: r.rel, object: r.object, def: normalize(r.def) });
    }
  }
  return out;
}

/** Only trailing whitespace is normalized: any other textual difference is reported as it is. */
function normalize(def: string | null): string | null {
  return def === null ? null : def.replace(/[ \t]+$/gm, '').trimEnd();
}

const IDENT = String.raw`(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")+")`;
const QUALIFIED = new RegExp(String.raw`(?<![\w$."])(${IDENT})\.(?=[a-z_"*])`, 'g');

/**
 * PostgreSQL 16 stopped prefixing columns with their relation name in single-relation view definitions
 * ("items.id" on 15, "id" on 16+). Between majors on either side of that change, relation qualifiers are
 * dropped from both view texts before comparing; schema qualifiers are kept.
 */
export function stripRelationQualifiers(def: string, schemas: Set<string>): string {
  return def.replace(QUALIFIED, (whole, ident: string) => {
    const name = ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident;
    return schemas.has(name) ? whole : '';
  });
}

const VIEW_KINDS = new Set(['view', 'materialized view']);

export async function compareSchema(
  source: Client,
  target: Client,
  filter: Partial<TableFilter>,
  majors: { source: number; target: number },
  scope: SchemaScope = {},
): Promise<SchemaDifference[]> {
  const [s, t] = await Promise.all([describeSide(source, 'source', filter, scope), describeSide(target, 'target', filter, scope)]);
  const crossesViewChange = majors.source < 16 !== majors.target < 16;
  const schemas = new Set(['pg_catalog', ...[...s.values(), ...t.values()].map((r) => r.sch)]);
  const out: SchemaDifference[] = [];
  for (const key of [...new Set([...s.keys(), ...t.keys()])].sort()) {
    const a = s.get(key);
    const b = t.get(key);
    const row = (a ?? b)!;
    if (a && b && a.def === b.def) continue;
    if (a && b && crossesViewChange && VIEW_KINDS.has(row.kind) && a.def !== null && b.def !== null) {
      if (stripRelationQualifiers(a.def, schemas) === stripRelationQualifiers(b.def, schemas)) continue;
    }
    const difference = !b ? 'missing' : !a ? 'extra' : 'different';
    // Another extension version on the target is worth knowing but does not make the data unequal.
    const severity = row.kind === 'extension' && difference === 'different' ? 'note' : 'difference';
    out.push({ kind: row.kind, object: row.object, difference, severity, source: a?.def ?? null, target: b?.def ?? null });
  }
  return out;
}
