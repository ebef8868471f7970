// A schema fingerprint read from the catalogs with the server's own deparsers, for the pairs pg_dump on this
// machine cannot dump both of (pg_dump 15 refuses a 17 server). It covers what pg_dump --schema-only would show
// differently and compare.ts does not: comments on every object, index and table options, statistics targets,
// policies and row-level security flags, rules, operators, casts, aggregates, collations, text search, types'
// definitions, extended statistics, trigger enabling, replica identity, clustering. Independent of src/.
import pg from 'pg';
import type { TestDatabase } from './fixtures.js';

const USER = `NOT IN ('pg_catalog', 'information_schema', 'pgshift') AND %s !~ '^pg_(toast|temp)'`;
const userNs = (col: string) => `${col} ${USER.replace('%s', col)}`;
const notExt = (cls: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '${cls}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;

const QUERIES: Record<string, string> = {
  comment: `SELECT (o).type || ' ' || (o).identity AS key, d.description AS value
    FROM (SELECT pg_identify_object(d.classoid, d.objoid, d.objsubid) AS o, d.* FROM pg_description d) d
   WHERE d.objoid >= 16384 AND coalesce((o).schema, 'public') ${USER.replace('%s', "coalesce((o).schema, 'public')")}
     AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e')
     AND NOT ((o).type = 'schema' AND (o).identity = 'pgshift')`,
  relation: `SELECT format('%I.%I', n.nspname, c.relname) AS key,
      concat_ws(' | ', c.relkind, c.relpersistence, c.reloptions::text, c.relrowsecurity, c.relforcerowsecurity, c.relreplident,
        c.relispartition, pg_get_expr(c.relpartbound, c.oid), CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
        (SELECT string_agg(format('%I.%I', pn.nspname, p.relname), ',' ORDER BY 1) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = c.oid),
        (SELECT reloptions::text FROM pg_class t WHERE t.oid = c.reltoastrelid),
        CASE WHEN c.relkind IN ('v', 'm') AND $VIEWDEFS THEN pg_get_viewdef(c.oid) END, CASE WHEN c.relkind = 'm' THEN c.relispopulated END) AS value
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND ${userNs('n.nspname')} AND ${notExt('pg_class', 'c.oid')}`,
  column: `SELECT format('%I.%I.%I', n.nspname, c.relname, a.attname) AS key,
      concat_ws(' | ', format_type(a.atttypid, a.atttypmod), a.attnotnull, nullif(a.attstattarget, -1), a.attstorage, a.attoptions::text,
        CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END, a.attidentity, a.attgenerated,
        pg_get_expr(ad.adbin, ad.adrelid), a.attislocal, a.attinhcount) AS value
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND ${userNs('n.nspname')} AND ${notExt('pg_class', 'c.oid')}`,
  index: `SELECT format('%I.%I', n.nspname, ic.relname) AS key,
      concat_ws(' | ', pg_get_indexdef(i.indexrelid), i.indisclustered, i.indisreplident, i.indimmediate, ic.reloptions::text,
        (SELECT string_agg(a.attnum || '=' || a.attstattarget, ',' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0),
        (SELECT format('%I.%I', pn.nspname, p.relname) FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE h.inhrelid = i.indexrelid)) AS value
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
   WHERE ${userNs('n.nspname')} AND ${notExt('pg_class', 'i.indrelid')}`,
  constraint: `SELECT concat_ws(' ', CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', n.nspname, c.relname) ELSE format('domain %s', co.contypid::regtype) END, format('%I', co.conname)) AS key,
      concat_ws(' | ', pg_get_constraintdef(co.oid), co.condeferrable, co.condeferred, co.convalidated, co.conislocal, CASE WHEN co.contype = 'c' THEN co.connoinherit END) AS value
    FROM pg_constraint co LEFT JOIN pg_class c ON c.oid = co.conrelid LEFT JOIN pg_namespace n ON n.oid = co.connamespace
   WHERE co.contype <> 'n' AND ${userNs('n.nspname')} AND ${notExt('pg_constraint', 'co.oid')}`,
  trigger: `SELECT format('%I.%I %I', n.nspname, c.relname, t.tgname) AS key, pg_get_triggerdef(t.oid) || ' | ' || t.tgenabled::text AS value
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE NOT t.tgisinternal AND ${userNs('n.nspname')}`,
  policy: `SELECT format('%I.%I %I', schemaname, tablename, policyname) AS key,
      concat_ws(' | ', permissive, roles::text, cmd, qual, with_check) AS value FROM pg_policies WHERE ${userNs('schemaname')}`,
  rule: `SELECT format('%I.%I %I', schemaname, tablename, rulename) AS key, definition AS value FROM pg_rules WHERE ${userNs('schemaname')}`,
  function: `SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS key,
      CASE WHEN p.prokind = 'a' THEN concat_ws(' | ', a.aggtransfn::regproc, a.aggtranstype::regtype, a.agginitval, a.aggfinalfn::regproc, a.aggcombinefn::regproc, p.proparallel)
           ELSE pg_get_functiondef(p.oid) END AS value
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
   WHERE ${userNs('n.nspname')} AND ${notExt('pg_proc', 'p.oid')}`,
  operator: `SELECT format('%I.%s(%s,%s)', n.nspname, o.oprname, o.oprleft::regtype, o.oprright::regtype) AS key,
      concat_ws(' | ', o.oprcode::regproc, o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest::regproc, o.oprjoin::regproc, o.oprcanhash, o.oprcanmerge) AS value
    FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE ${userNs('n.nspname')} AND ${notExt('pg_operator', 'o.oid')}`,
  opclass: `SELECT format('%I.%I %s', n.nspname, c.opcname, am.amname) AS key,
      concat_ws(' | ', c.opcintype::regtype, c.opcdefault, c.opckeytype::regtype,
        (SELECT string_agg(format('%s %s', ao.amopstrategy, ao.amopopr::regoperator), ',' ORDER BY 1) FROM pg_amop ao WHERE ao.amopfamily = c.opcfamily),
        (SELECT string_agg(format('%s %s', ap.amprocnum, ap.amproc::regprocedure), ',' ORDER BY 1) FROM pg_amproc ap WHERE ap.amprocfamily = c.opcfamily)) AS value
    FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace JOIN pg_am am ON am.oid = c.opcmethod
   WHERE ${userNs('n.nspname')} AND ${notExt('pg_opclass', 'c.oid')}`,
  cast: `SELECT format('%s -> %s', c.castsource::regtype, c.casttarget::regtype) AS key, concat_ws(' | ', c.castfunc::regprocedure, c.castcontext, c.castmethod) AS value
    FROM pg_cast c WHERE c.oid >= 16384 AND ${notExt('pg_cast', 'c.oid')}`,
  type: `SELECT format('%I.%I', n.nspname, t.typname) AS key,
      concat_ws(' | ', t.typtype, t.typnotnull, t.typbasetype::regtype, t.typtypmod, t.typdefault, t.typcollation::regcollation,
        (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
        (SELECT concat_ws(' ', r.rngsubtype::regtype, r.rngsubopc, r.rngcollation, r.rngcanonical::regproc, r.rngsubdiff::regproc) FROM pg_range r WHERE r.rngtypid = t.oid)) AS value
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE t.typtype IN ('e', 'd', 'r', 'c', 'b') AND ${userNs('n.nspname')} AND ${notExt('pg_type', 't.oid')}
     AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c') AND NOT (t.typelem <> 0 AND t.typlen = -1)`,
  collation: `SELECT format('%I.%I', n.nspname, c.collname) AS key, concat_ws(' | ', c.collprovider, c.collisdeterministic, c.collcollate, c.collctype) AS value
    FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace WHERE ${userNs('n.nspname')}`,
  statistics: `SELECT format('%I.%I', n.nspname, s.stxname) AS key, pg_get_statisticsobjdef(s.oid) || ' | ' || coalesce(nullif(s.stxstattarget, -1)::text, '') AS value
    FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE ${userNs('n.nspname')}`,
  textsearch: `SELECT format('%I.%I', n.nspname, c.cfgname) AS key,
      (SELECT string_agg(format('%s:%s', m.maptokentype, m.mapdict::regdictionary), ',' ORDER BY m.maptokentype, m.mapseqno) FROM pg_ts_config_map m WHERE m.mapcfg = c.oid) AS value
    FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace WHERE ${userNs('n.nspname')}`,
  sequence: `SELECT format('%I.%I', n.nspname, c.relname) AS key,
      concat_ws(' | ', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle,
        (SELECT format('%I.%I.%I', rn.nspname, r.relname, a.attname) || ' ' || d.deptype::text FROM pg_depend d JOIN pg_class r ON r.oid = d.refobjid JOIN pg_namespace rn ON rn.oid = r.relnamespace
           JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))) AS value
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${userNs('n.nspname')}`,
  extension: `SELECT e.extname AS key, n.nspname AS value FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace`,
  schema: `SELECT format('%I', n.nspname) AS key, '' AS value FROM pg_namespace n WHERE ${userNs('n.nspname')} AND ${notExt('pg_namespace', 'n.oid')}`,
};

export interface FingerprintOptions {
  /** Include views' deparsed queries: only comparable between servers of one major (16 stopped qualifying columns). */
  viewDefinitions?: boolean;
}

/** "kind key" → value, read as the superuser with search_path '' (every deparsed name schema-qualified). */
export async function schemaFingerprint(db: TestDatabase, opts: FingerprintOptions = {}): Promise<Map<string, string>> {
  const client = new pg.Client({ connectionString: db.adminUrl.replace(/[?&]sslmode=[^&]*/, '') });
  await client.connect();
  try {
    await client.query(`SET search_path = ''`);
    const out = new Map<string, string>();
    for (const [kind, sql] of Object.entries(QUERIES)) {
      const { rows } = await client.query(sql.replace('$VIEWDEFS', opts.viewDefinitions === false ? 'false' : 'true'));
      for (const r of rows) out.set(`${kind} ${r.key}`, String(r.value ?? ''));
    }
    return out;
  } finally {
    await client.end();
  }
}

/** Entries missing, extra or different on the target: "kind key: source → target". */
export function fingerprintDifferences(source: Map<string, string>, target: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of source) {
    if (!target.has(k)) out.push(`${k}: missing on target`);
    else if (target.get(k) !== v) out.push(`${k}: ${v} → ${target.get(k)}`);
  }
  for (const k of target.keys()) if (!source.has(k)) out.push(`${k}: extra on target`);
  return out.sort();
}
