// Schema objects compared by definition text: every object class `pg_dump --schema-only` prints (see
// schema-sql*.ts), grants and owners only on request. pgshift's own schema and the system schemas are ignored.
// Between majors, what each prints differently for the same object reads the same (neutral.ts, sameMeaning).
import { compileFilter, type TableFilter } from '../catalog/filter.js';
import type { Client } from '../db/connect.js';
import { classifyError } from '../errors.js';
import { RELATION_KINDS, RELATION_QUERIES } from './schema-sql.js';
import { aclQueries, OWNER_QUERIES } from './schema-sql-acl.js';
import { DATABASE_QUERIES } from './schema-sql-db.js';
import { dialects, equalButQualifiers, joinTokens, neutral, neutralTokens, type Dialects } from './neutral.js';
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

interface Majors {
  source: number;
  target: number;
}

function queriesFor(scope: SchemaScope, majors: Majors): Record<string, string> {
  // PostgreSQL 17 added MAINTAIN to what GRANT ALL gives (tables, views, default privileges): between a major
  // without it and one with it, a grantee's MAINTAIN that comes with every other table privilege is GRANT ALL.
  const foldMaintain = majors.source < 17 !== majors.target < 17;
  return { ...RELATION_QUERIES, ...DATABASE_QUERIES, ...(scope.acl ? aclQueries(foldMaintain) : {}), ...(scope.owners ? OWNER_QUERIES : {}) };
}

/** The words this server's quote_ident() quotes (every keyword but the unreserved ones). */
async function quotedWords(client: Client, side: string): Promise<string[]> {
  const { rows } = await client.query<{ word: string }>(`SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'`).catch((err) => {
    throw classifyError(err, `${side}: reading the keyword list`, { phase: 'verify schema' });
  });
  return rows.map((r) => r.word);
}

async function describeSide(
  client: Client,
  side: string,
  filter: Partial<TableFilter>,
  scope: SchemaScope,
  majors: Majors,
  d: Dialects,
): Promise<Map<string, ObjectRow>> {
  const keep = compileFilter(filter);
  const narrowed = (filter.include ?? []).length > 0;
  const out = new Map<string, ObjectRow>();
  for (const [name, sql] of Object.entries(queriesFor(scope, majors))) {
    const { rows } = await client.query<ObjectRow>(sql).catch((err) => {
      throw classifyError(err, `${side}: reading ${name} definitions`, { phase: 'verify schema' });
    });
    for (const r of rows) {
      // Objects of a relation follow the relation's --include/--exclude; database-wide objects (functions,
      // types, extensions, schemas) are compared only when the whole database is (no --include).
      const scoped = r.scoped ?? RELATION_KINDS.has(r.kind);
      if (scoped ? !keep(r.sch, r.rel) : narrowed || !keep(r.sch, r.rel)) continue;
      // Keyed by the name both majors agree on (test."json" on 17 is test.json on 15); reported as the source prints it.
      out.set(`${r.kind}\u0000${neutral(r.object, d)}`, { kind: r.kind, sch: r.sch, rel: r.rel, object: r.object, def: normalize(r.def) });
    }
  }
  return out;
}

/** Only trailing whitespace is normalized: any other textual difference is reported as it is. */
function normalize(def: string | null): string | null {
  return def === null ? null : def.replace(/[ \t]+$/gm, '').trimEnd();
}

/** Free text (comments, option lists, versions), compared as it is: never read as SQL. */
const FREE_TEXT = new Set(['comment', 'extension', 'foreign data wrapper', 'foreign server', 'user mapping', 'text search dictionary']);

const VIEW_KINDS = new Set(['view', 'materialized view']);

/** Two definitions of the same object that differ as text but mean the same across these majors. */
export function sameMeaning(kind: string, a: string, b: string, d: Dialects, majors: Majors): boolean {
  // Between servers of one major, text is meaning: compared exactly.
  if (FREE_TEXT.has(kind) || majors.source === majors.target) return false;
  const [ta, tb] = [neutralTokens(a, d), neutralTokens(b, d)];
  if (joinTokens(ta) === joinTokens(tb)) return true;
  // PostgreSQL 16 stopped qualifying the columns of single-relation views ("t.id" on 15, "id" on 16+).
  if (!VIEW_KINDS.has(kind) || majors.source < 16 === majors.target < 16) return false;
  return majors.source < 16 ? equalButQualifiers(ta, tb) : equalButQualifiers(tb, ta);
}

export async function compareSchema(
  source: Client,
  target: Client,
  filter: Partial<TableFilter>,
  majors: Majors,
  scope: SchemaScope = {},
): Promise<SchemaDifference[]> {
  const d = dialects(await quotedWords(source, 'source'), await quotedWords(target, 'target'), majors);
  const [s, t] = await Promise.all([describeSide(source, 'source', filter, scope, majors, d), describeSide(target, 'target', filter, scope, majors, d)]);
  const out: SchemaDifference[] = [];
  for (const key of [...new Set([...s.keys(), ...t.keys()])].sort()) {
    const a = s.get(key);
    const b = t.get(key);
    const row = (a ?? b)!;
    if (a && b && a.def === b.def) continue;
    if (a && b && a.def !== null && b.def !== null && sameMeaning(row.kind, a.def, b.def, d, majors)) continue;
    const difference = !b ? 'missing' : !a ? 'extra' : 'different';
    // Another extension version on the target is worth knowing but does not make the data unequal.
    const severity = row.kind === 'extension' && difference === 'different' ? 'note' : 'difference';
    out.push({ kind: row.kind, object: row.object, difference, severity, source: a?.def ?? null, target: b?.def ?? null });
  }
  return out;
}
