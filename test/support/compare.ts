// Independent source-vs-target comparison for copy tests. Plain SQL written here, on purpose using no
// pgshift src/ module: a bug in pgshift's catalog or verify code must not be able to hide a bug in copy.
// Both sides are read as the superuser (admin URL) with identical session settings, so every value's
// text form is produced by the same rules, and rows are fingerprinted server-side as an order-independent
// multiset (count + sums of two 64-bit halves of md5(row text)) over an explicit column list sorted by name
// (physical column order may legitimately differ: dropped columns, attached partitions).
import { createHash } from 'node:crypto';
import pg from 'pg';
import { expect } from 'vitest';

export interface Difference {
  kind: 'schema' | 'relation' | 'column' | 'rows' | 'sequence' | 'large-object' | 'constraint' | 'trigger' | 'index' | 'type' | 'function' | 'extension';
  object: string;
  detail: string;
  source?: string;
  target?: string;
}

export type Side = string | { adminUrl: string };

export interface CompareOptions {
  /** Differences to tolerate (say why at the call site). */
  ignore?: (d: Difference) => boolean;
  /** Tables up to this many rows get a row-level diff when their fingerprints differ. */
  rowDiffLimit?: number;
}

// Identical on both sides; search_path '' makes every catalog deparse schema-qualify its names.
const SESSION_SQL = `SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres';
  SET extra_float_digits = 1; SET bytea_output = 'hex'; SET lc_monetary = 'C'; SET search_path = '';
  SET xmloption = content; SET statement_timeout = 0; SET lock_timeout = '60s'`;

const USER_NS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgshift')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;
const NOT_EXTENSION = (cls: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep WHERE dep.classid = '${cls}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`;

type Row = Record<string, string | null>;

async function open(side: Side): Promise<pg.Client> {
  const url = typeof side === 'string' ? side : side.adminUrl;
  const client = new pg.Client({
    connectionString: url.replace(/[?&]sslmode=[^&]*/, ''),
    ssl: /sslmode=(require|prefer)/.test(url) ? { rejectUnauthorized: false } : false,
    // Every value as the server's text: no JavaScript Date/Number between the server and the comparison.
    types: { getTypeParser: () => (v: string) => v } as never,
  });
  await client.connect();
  await client.query(SESSION_SQL);
  return client;
}

async function rowsOf(client: pg.Client, sql: string, params: unknown[] = []): Promise<Row[]> {
  return (await client.query(sql, params)).rows as Row[];
}

const CATALOG: Record<string, string> = {
  schemas: `SELECT format('%I', n.nspname) AS key FROM pg_catalog.pg_namespace n WHERE ${USER_NS}
    AND ${NOT_EXTENSION('pg_namespace', 'n.oid')}`,
  extensions: `SELECT format('%I', extname) AS key FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'`,
  relations: `SELECT format('%I.%I', n.nspname, c.relname) AS key, c.oid::text AS oid, c.relkind::text AS relkind,
      c.relpersistence::text AS persistence, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS partition_bound,
      pg_catalog.pg_get_partkeydef(c.oid) AS partition_key,
      (SELECT string_agg(format('%I.%I', pn.nspname, pc.relname), ', ' ORDER BY i.inhseqno)
         FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
         JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid) AS parents,
      CASE WHEN c.relkind = 'm' THEN c.relispopulated::text END AS populated,
      CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.md5(pg_catalog.pg_get_viewdef(c.oid)) END AS view_definition,
      pg_catalog.obj_description(c.oid, 'pg_class') AS comment
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm', 'v', 'S', 'f', 'c') AND ${USER_NS} AND ${NOT_EXTENSION('pg_class', 'c.oid')}
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_type'::regclass
               AND dep.objid = t.oid AND dep.deptype = 'e' WHERE t.typrelid = c.oid)`,
  columns: `SELECT format('%I.%I.%I', n.nspname, c.relname, a.attname) AS key, format('%I.%I', n.nspname, c.relname) AS rel,
      format('%I', a.attname) AS quoted, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
      a.attnotnull::text AS not_null, a.attgenerated::text AS generated, a.attidentity::text AS identity,
      pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default_expr, pg_catalog.col_description(c.oid, a.attnum) AS comment
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm', 'v', 'f', 'c') AND ${USER_NS}
      AND ${NOT_EXTENSION('pg_class', 'c.oid')}`,
  sequences: `SELECT format('%I.%I', n.nspname, c.relname) AS key, pg_catalog.format_type(s.seqtypid, NULL) AS type,
      s.seqstart::text AS start, s.seqincrement::text AS increment, s.seqmin::text AS min, s.seqmax::text AS max,
      s.seqcache::text AS cache, s.seqcycle::text AS cycle
    FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_NS} AND ${NOT_EXTENSION('pg_class', 'c.oid')}`,
  largeObjects: `SELECT oid::text AS key, pg_catalog.md5(pg_catalog.lo_get(oid)) AS content_md5,
      pg_catalog.length(pg_catalog.lo_get(oid))::text AS bytes, pg_catalog.obj_description(oid, 'pg_largeobject') AS comment
    FROM pg_catalog.pg_largeobject_metadata`,
  constraints: `SELECT CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', n.nspname, c.relname)
                   ELSE 'domain ' || format('%I.%I', tn.nspname, t.typname) END || ' ' || format('%I', co.conname) AS key,
      co.contype::text AS type, co.convalidated::text AS validated, co.condeferrable::text AS deferrable,
      co.condeferred::text AS deferred, pg_catalog.pg_get_constraintdef(co.oid) AS definition
    FROM pg_catalog.pg_constraint co
    LEFT JOIN pg_catalog.pg_class c ON c.oid = co.conrelid LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_type t ON t.oid = co.contypid LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
    WHERE co.contype <> 'n' AND coalesce(n.nspname, tn.nspname) NOT IN ('pg_catalog', 'information_schema', 'pgshift')
      AND coalesce(n.nspname, tn.nspname) NOT LIKE 'pg\\_toast%'`,
  triggers: `SELECT format('%I.%I', n.nspname, c.relname) || ' ' || format('%I', t.tgname) AS key,
      t.tgenabled::text AS enabled, pg_catalog.pg_get_triggerdef(t.oid) AS definition
    FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND ${USER_NS}`,
  indexes: `SELECT format('%I.%I', n.nspname, ic.relname) AS key, pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
      i.indisvalid::text AS valid, i.indisready::text AS ready, i.indisprimary::text AS primary_key,
      i.indisclustered::text AS clustered
    FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace WHERE ${USER_NS} AND ${NOT_EXTENSION('pg_class', 'i.indrelid')}`,
  types: `SELECT format('%I.%I', n.nspname, t.typname) AS key, t.typtype::text AS typtype,
      CASE t.typtype WHEN 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) || coalesce(' default ' || t.typdefault, '')
                                   || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                     WHEN 'r' THEN (SELECT pg_catalog.format_type(r.rngsubtype, NULL) FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid)
                     WHEN 'e' THEN (SELECT pg_catalog.json_agg(e.enumlabel ORDER BY e.enumsortorder)::text
                                      FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) END AS definition
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typtype IN ('d', 'e', 'r', 'm') AND ${USER_NS} AND ${NOT_EXTENSION('pg_type', 't.oid')}`,
  functions: `SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) AS key,
      pg_catalog.pg_get_functiondef(p.oid) AS definition_md5
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prokind IN ('f', 'p') AND ${USER_NS} AND ${NOT_EXTENSION('pg_proc', 'p.oid')}`,
};

/** Text as both majors print it (identity between equal majors). */
type Neutral = (text: string) => string;
const SAME: Neutral = (text) => text;

/**
 * Between majors: a word that became a keyword is quoted by the newer one (test."json" from 16 on), and 16 prints
 * pg_catalog.json as json. Rewritten outside string literals and dollar-quoted bodies, which are left as they are.
 */
async function acrossMajors(a: pg.Client, b: pg.Client, majors: [number, number]): Promise<Neutral> {
  const sql = `SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode <> 'U'`;
  const [wa, wb] = (await Promise.all([rowsOf(a, sql), rowsOf(b, sql)])).map((rows) => new Set(rows.map((r) => r.word as string)));
  const changed = [...wa!].filter((w) => !wb!.has(w)).concat([...wb!].filter((w) => !wa!.has(w)));
  const quoted = new RegExp(`"(${changed.join('|') || '(?!)'})"`, 'g');
  const json = majors[0] < 16 !== majors[1] < 16;
  const literal = /(\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$\2\$|'(?:[^']|'')*')/;
  // split() with the literal's two groups gives: outside, literal, dollar tag, outside, literal, tag, …
  const outside = (part: string) => (json ? part.replace(/\bpg_catalog\.json\b/g, 'json') : part).replace(quoted, '$1');
  return (text) =>
    text
      .split(literal)
      .map((part, i) => (i % 3 === 0 ? outside(part) : i % 3 === 1 ? part : ''))
      .join('');
}

/**
 * Rows keyed by their neutral key, every field but comments neutral; raw_key keeps the side's own spelling (for
 * SQL on that side; not compared). A function's definition is compared by the md5 of its neutral text.
 */
function byKey(rows: Row[], n: Neutral = SAME): Map<string, Row> {
  return new Map(
    rows.map((r) => {
      const out: Row = { raw_key: r.key ?? null };
      for (const [f, v] of Object.entries(r)) out[f] = v === null || f === 'comment' ? v : n(v);
      if (typeof out.definition_md5 === 'string') out.definition_md5 = createHash('md5').update(out.definition_md5).digest('hex');
      return [out.key as string, out];
    }),
  );
}

/** Missing, extra and changed entries of one catalog, field by field. */
function diffCatalog(kind: Difference['kind'], src: Map<string, Row>, tgt: Map<string, Row>, skip: string[] = []): Difference[] {
  const out: Difference[] = [];
  for (const [key, s] of src) {
    const t = tgt.get(key);
    if (!t) {
      out.push({ kind, object: key, detail: 'missing on target' });
      continue;
    }
    for (const field of Object.keys(s)) {
      if (field === 'key' || field === 'raw_key' || skip.includes(field)) continue;
      if (s[field] !== t[field]) out.push({ kind, object: key, detail: `${field} differs`, source: s[field] ?? 'NULL', target: t[field] ?? 'NULL' });
    }
  }
  for (const key of tgt.keys()) if (!src.has(key)) out.push({ kind, object: key, detail: 'extra on target' });
  return out;
}

interface Fingerprint {
  rows: string;
  s1: string;
  s2: string;
}

async function fingerprint(client: pg.Client, rel: string, only: boolean, cols: string[]): Promise<Fingerprint> {
  const [r] = await rowsOf(
    client,
    `SELECT count(*)::text AS rows,
       coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text AS s1,
       coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text AS s2
     FROM (SELECT pg_catalog.md5(ROW(${cols.join(', ')})::text) AS h FROM ${only ? 'ONLY ' : ''}${rel}) x`,
  );
  return r as unknown as Fingerprint;
}

/** Rows present more often on one side than the other (for small tables, so a failure shows the rows). */
async function rowDiff(
  a: pg.Client,
  b: pg.Client,
  rels: [string, string],
  only: boolean,
  cols: [string[], string[]],
): Promise<{ onlySource: string[]; onlyTarget: string[] }> {
  const sql = (i: 0 | 1) => `SELECT ROW(${cols[i].join(', ')})::text AS r FROM ${only ? 'ONLY ' : ''}${rels[i]}`;
  const [sa, sb] = await Promise.all([rowsOf(a, sql(0)), rowsOf(b, sql(1))]);
  const counts = new Map<string, number>();
  for (const r of sa) counts.set(r.r as string, (counts.get(r.r as string) ?? 0) + 1);
  for (const r of sb) counts.set(r.r as string, (counts.get(r.r as string) ?? 0) - 1);
  const clip = (s: string) => (s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s);
  const onlySource: string[] = [];
  const onlyTarget: string[] = [];
  for (const [row, n] of counts) {
    for (let i = 0; i < Math.abs(n); i++) (n > 0 ? onlySource : onlyTarget).push(clip(row));
  }
  return { onlySource: onlySource.slice(0, 5), onlyTarget: onlyTarget.slice(0, 5) };
}

async function compareRows(
  a: pg.Client,
  b: pg.Client,
  srcRels: Map<string, Row>,
  tgtRels: Map<string, Row>,
  srcCols: Row[],
  tgtCols: Row[],
  limit: number,
  n: Neutral,
): Promise<Difference[]> {
  const out: Difference[] = [];
  // Each side's own column names (for its SQL), in the order of their neutral names (the same on both sides).
  const colsOf = (cols: Row[], rel: string) =>
    cols
      .filter((c) => c.rel === rel)
      .map((c) => c.quoted as string)
      .sort((x, y) => (n(x) < n(y) ? -1 : n(x) > n(y) ? 1 : 0));
  for (const [key, s] of srcRels) {
    const t = tgtRels.get(key);
    if (!t || !['r', 'm'].includes(s.relkind as string) || s.relkind !== t.relkind) continue;
    if (s.relkind === 'm' && (s.populated !== 'true' || t.populated !== 'true')) continue; // reported as a relation difference
    const [rs, rt] = [s.raw_key as string, t.raw_key as string];
    const [cols, tcols] = [colsOf(srcCols, rs), colsOf(tgtCols, rt)];
    if (cols.map(n).join() !== tcols.map(n).join()) continue; // reported as column differences
    const only = s.relkind === 'r';
    const [fs, ft] = await Promise.all([fingerprint(a, rs, only, cols), fingerprint(b, rt, only, tcols)]);
    if (fs.rows === ft.rows && fs.s1 === ft.s1 && fs.s2 === ft.s2) continue;
    const d: Difference = {
      kind: 'rows',
      object: key,
      detail: fs.rows === ft.rows ? `same row count (${fs.rows}), different contents` : 'row count differs',
      source: fs.rows,
      target: ft.rows,
    };
    if (Number(fs.rows) <= limit && Number(ft.rows) <= limit) {
      const { onlySource, onlyTarget } = await rowDiff(a, b, [rs, rt], only, [cols, tcols]);
      d.detail += `; only in source: ${JSON.stringify(onlySource)}; only in target: ${JSON.stringify(onlyTarget)}`;
    }
    out.push(d);
  }
  return out;
}

async function compareSequenceValues(a: pg.Client, b: pg.Client, srcSeq: Map<string, Row>, tgtSeq: Map<string, Row>): Promise<Difference[]> {
  const out: Difference[] = [];
  for (const [key, seq] of srcSeq) {
    const other = tgtSeq.get(key);
    if (!other) continue;
    const sql = (rel: unknown) => `SELECT last_value::text AS last_value, is_called::text AS is_called FROM ${rel as string}`;
    const [[s], [t]] = await Promise.all([rowsOf(a, sql(seq.raw_key)), rowsOf(b, sql(other.raw_key))]);
    for (const f of ['last_value', 'is_called'] as const) {
      if (s?.[f] !== t?.[f]) out.push({ kind: 'sequence', object: key, detail: `${f} differs`, source: s?.[f] ?? 'NULL', target: t?.[f] ?? 'NULL' });
    }
  }
  return out;
}

/** Every difference between two databases, as a list a failing test can print. */
export async function compareDatabases(source: Side, target: Side, opts: CompareOptions = {}): Promise<Difference[]> {
  const [a, b] = await Promise.all([open(source), open(target)]);
  try {
    const major = "SELECT current_setting('server_version_num')::int / 10000 AS v";
    const [[ma], [mb]] = await Promise.all([rowsOf(a, major), rowsOf(b, major)]);
    const n = ma?.v === mb?.v ? SAME : await acrossMajors(a, b, [Number(ma?.v), Number(mb?.v)]);
    const cat: Record<string, [Row[], Row[]]> = {};
    for (const [name, sql] of Object.entries(CATALOG)) cat[name] = await Promise.all([rowsOf(a, sql), rowsOf(b, sql)]);
    const m = (name: string) => [byKey(cat[name]![0], n), byKey(cat[name]![1], n)] as const;
    const [srcRels, tgtRels] = m('relations');
    const [srcSeq, tgtSeq] = m('sequences');
    // PostgreSQL 16 stopped qualifying column names in deparsed views ("SELECT id" not "SELECT t.id"), so
    // across majors a view's definition text differs for the same view: compare it only between equal majors
    // (its output columns and a materialized view's rows are still compared).
    const relSkip = ma?.v === mb?.v ? ['oid'] : ['oid', 'view_definition'];
    const diffs: Difference[] = [
      ...diffCatalog('schema', ...m('schemas')),
      ...diffCatalog('extension', ...m('extensions')),
      ...diffCatalog('relation', srcRels, tgtRels, relSkip),
      ...diffCatalog('column', ...m('columns')),
      ...diffCatalog('type', ...m('types')),
      ...diffCatalog('function', ...m('functions')),
      ...diffCatalog('sequence', srcSeq, tgtSeq),
      ...diffCatalog('constraint', ...m('constraints')),
      ...diffCatalog('trigger', ...m('triggers')),
      ...diffCatalog('index', ...m('indexes')),
      ...diffCatalog('large-object', ...m('largeObjects')),
      ...(await compareSequenceValues(a, b, srcSeq, tgtSeq)),
      ...(await compareRows(a, b, srcRels, tgtRels, cat.columns![0], cat.columns![1], opts.rowDiffLimit ?? 2000, n)),
    ];
    return opts.ignore ? diffs.filter((d) => !opts.ignore!(d)) : diffs;
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
}

export function formatDifference(d: Difference): string {
  const values = d.source !== undefined || d.target !== undefined ? ` (source: ${d.source ?? '—'}; target: ${d.target ?? '—'})` : '';
  return `${d.kind} ${d.object}: ${d.detail}${values}`;
}

/** Fail with the exact list of differences when source and target are not the same database. */
export async function expectSameDatabase(source: Side, target: Side, opts: CompareOptions = {}): Promise<void> {
  const diffs = await compareDatabases(source, target, opts);
  expect(diffs.map(formatDifference), 'source and target databases differ').toEqual([]);
}

/** Rows of every user table (ONLY: each inheritance parent's own rows), keyed by quoted qualified name. */
export async function tableRowCounts(side: Side): Promise<Map<string, number>> {
  const c = await open(side);
  try {
    const rels = await rowsOf(
      c,
      `SELECT format('%I.%I', n.nspname, c.relname) AS key FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND ${USER_NS} ORDER BY 1`,
    );
    const out = new Map<string, number>();
    for (const r of rels) {
      const [n] = await rowsOf(c, `SELECT count(*)::text AS n FROM ONLY ${r.key}`);
      out.set(r.key as string, Number(n?.n));
    }
    return out;
  } finally {
    await c.end();
  }
}

export function sumRows(counts: Map<string, number>): number {
  return [...counts.values()].reduce((a, b) => a + b, 0);
}
