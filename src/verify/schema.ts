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

const KEYWORDS_SQL = `SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'`;

/**
 * One side's catalog reads: the words its quote_ident() quotes (every keyword but the unreserved ones) and every
 * object class's definitions, all in one round trip (a multi-statement simple query inside a savepoint). Should
 * it fail, the savepoint is rolled back and the reads run one at a time, so the error names the class it failed in.
 */
async function readSide(client: Client, side: string, queries: Record<string, string>): Promise<{ words: string[]; objects: Map<string, ObjectRow[]> }> {
  const named: [string, string][] = [
    ['the keyword list', KEYWORDS_SQL],
    ...Object.entries(queries).map(([name, sql]): [string, string] => [`${name} definitions`, sql]),
  ];
  const statements = named.map(([, sql]) => sql.trim().replace(/;$/, ''));
  const results = await client
    .query(['SAVEPOINT pgshift_verify_schema', ...statements, 'RELEASE SAVEPOINT pgshift_verify_schema'].join(';\n'))
    .then((r) => (r as unknown as { rows: unknown[] }[]).slice(1, -1).map((x) => x.rows))
    .catch(async (err: unknown) => {
      await client.query('ROLLBACK TO SAVEPOINT pgshift_verify_schema').catch(() => undefined);
      for (const [name, sql] of named) {
        await client.query(sql).catch((e: unknown) => {
          throw classifyError(e, `${side}: reading ${name}`, { phase: 'verify schema' });
        });
      }
      // Each alone succeeded: the batch's own error, then.
      throw classifyError(err, `${side}: reading the schema definitions`, { phase: 'verify schema' });
    });
  const words = (results[0] as { word: string }[]).map((r) => r.word);
  const objects = new Map(named.slice(1).map(([name], i) => [name, results[i + 1] as ObjectRow[]]));
  return { words, objects };
}

function describeSide(objects: Map<string, ObjectRow[]>, filter: Partial<TableFilter>, d: Dialects): Map<string, ObjectRow> {
  const keep = compileFilter(filter);
  const narrowed = (filter.include ?? []).length > 0;
  const out = new Map<string, ObjectRow>();
  for (const rows of objects.values()) {
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
  const queries = queriesFor(scope, majors);
  const [sr, tr] = await Promise.all([readSide(source, 'source', queries), readSide(target, 'target', queries)]);
  const d = dialects(sr.words, tr.words, majors);
  const [s, t] = [describeSide(sr.objects, filter, d), describeSide(tr.objects, filter, d)];
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
