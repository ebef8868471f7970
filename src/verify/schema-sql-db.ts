// Catalog queries for database-wide schema objects (not tied to one relation): schemas, functions, aggregates,
// types, operators and their classes/families, casts, collations, text search, foreign-data objects, event
// triggers, languages, access methods, conversions, transforms, extensions, and comments on every object.
// Objects without a schema (casts, event triggers…) get sch '' and are told apart from built-in ones by OID.
import { notExtensionMember, userNs, userSchema } from './schema-sql.js';

/** Objects created by initdb have OIDs below this (FirstNormalObjectId). */
const USER_OID = 16384;

const qualified = (ns: string, name: string) => `format('%s.%s', ${ns}.nspname, ${name})`;
const fn = (expr: string, label: string) => `CASE WHEN ${expr}::oid <> 0 THEN '${label} ' || ${expr}::regprocedure::text END`;
const typ = (expr: string) => `CASE WHEN ${expr} = 0 THEN 'NONE' ELSE format_type(${expr}, NULL) END`;
const opts = (expr: string) => `'options (' || array_to_string(${expr}, ', ') || ')'`;

export const DATABASE_QUERIES: Record<string, string> = {
  schema: `
    SELECT 'schema' AS kind, n.nspname AS sch, n.nspname AS rel, n.nspname AS object, 'schema' AS def
      FROM pg_namespace n WHERE ${userNs('n')} AND ${notExtensionMember('pg_namespace', 'n.oid')}`,

  function: `
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END AS kind, n.nspname AS sch, p.proname AS rel,
           format('%s.%s(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS object,
           pg_get_functiondef(p.oid) AS def
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prokind <> 'a' AND ${userNs('n')} AND ${notExtensionMember('pg_proc', 'p.oid')}`,

  aggregate: `
    SELECT 'aggregate' AS kind, n.nspname AS sch, p.proname AS rel,
           format('%s.%s(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS object,
           concat_ws(' ',
             CASE a.aggkind WHEN 'o' THEN 'ordered-set' WHEN 'h' THEN 'hypothetical-set' END,
             'returns ' || format_type(p.prorettype, NULL),
             ${fn('a.aggtransfn', 'sfunc')}, 'stype ' || format_type(a.aggtranstype, NULL),
             CASE WHEN a.aggtransspace <> 0 THEN 'sspace ' || a.aggtransspace END,
             ${fn('a.aggfinalfn', 'finalfunc')}, CASE WHEN a.aggfinalextra THEN 'finalfunc_extra' END,
             'finalfunc_modify ' || a.aggfinalmodify::text,
             ${fn('a.aggcombinefn', 'combinefunc')}, ${fn('a.aggserialfn', 'serialfunc')}, ${fn('a.aggdeserialfn', 'deserialfunc')},
             'initcond ' || quote_literal(a.agginitval),
             ${fn('a.aggmtransfn', 'msfunc')}, ${fn('a.aggminvtransfn', 'minvfunc')},
             CASE WHEN a.aggmtranstype <> 0 THEN 'mstype ' || format_type(a.aggmtranstype, NULL) END,
             ${fn('a.aggmfinalfn', 'mfinalfunc')}, 'minitcond ' || quote_literal(a.aggminitval),
             CASE WHEN a.aggsortop <> 0 THEN 'sortop ' || a.aggsortop::regoperator::text END,
             'parallel ' || p.proparallel::text, CASE WHEN p.proisstrict THEN 'strict' END) AS def
      FROM pg_proc p JOIN pg_aggregate a ON a.aggfnoid = p.oid JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE ${userNs('n')} AND ${notExtensionMember('pg_proc', 'p.oid')}`,

  type: `
    SELECT 'type' AS kind, n.nspname AS sch, t.typname AS rel, ${qualified('n', 't.typname')} AS object,
           CASE t.typtype
             WHEN 'e' THEN 'enum (' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                                  FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')'
             WHEN 'd' THEN concat_ws(' ', 'domain over ' || format_type(t.typbasetype, t.typtypmod),
                             (SELECT 'collate ' || format('%I.%I', cn.nspname, co.collname) FROM pg_collation co
                                JOIN pg_namespace cn ON cn.oid = co.collnamespace JOIN pg_type bt ON bt.oid = t.typbasetype
                               WHERE co.oid = t.typcollation AND t.typcollation <> bt.typcollation),
                             CASE WHEN t.typnotnull THEN 'not null' END, 'default ' || t.typdefault,
                             (SELECT string_agg(format('constraint %s %s%s', co.conname, pg_get_constraintdef(co.oid),
                                                       CASE WHEN co.convalidated THEN '' ELSE ' [not validated]' END), ', ' ORDER BY co.conname)
                                -- 17 also records a domain's NOT NULL as a constraint (printed above, as on 15).
                                FROM pg_constraint co WHERE co.contypid = t.oid AND co.contype <> 'n'))
             WHEN 'c' THEN 'composite (' || coalesce((SELECT string_agg(concat_ws(' ', quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
                                                       (SELECT 'collate ' || format('%I.%I', cn.nspname, co.collname) FROM pg_collation co
                                                          JOIN pg_namespace cn ON cn.oid = co.collnamespace JOIN pg_type at ON at.oid = a.atttypid
                                                         WHERE co.oid = a.attcollation AND a.attcollation <> at.typcollation)), ', ' ORDER BY a.attnum)
                                              FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '') || ')'
             WHEN 'r' THEN (SELECT concat_ws(' ', 'range over ' || format_type(r.rngsubtype, NULL),
                              (SELECT 'subtype_opclass ' || format('%s.%s', ocn.nspname, oc.opcname) FROM pg_opclass oc
                                 JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace WHERE oc.oid = r.rngsubopc),
                              (SELECT 'collate ' || format('%I.%I', cn.nspname, co.collname) FROM pg_collation co
                                 JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = r.rngcollation),
                              ${fn('r.rngcanonical', 'canonical')}, ${fn('r.rngsubdiff', 'subtype_diff')},
                              'multirange ' || format_type(r.rngmultitypid, NULL))
                              FROM pg_range r WHERE r.rngtypid = t.oid)
             ELSE concat_ws(' ', 'base type', 'input ' || t.typinput::regproc::text, 'output ' || t.typoutput::regproc::text,
                            ${fn('t.typreceive', 'receive')}, ${fn('t.typsend', 'send')}, ${fn('t.typmodin', 'typmod_in')},
                            ${fn('t.typmodout', 'typmod_out')}, ${fn('t.typanalyze', 'analyze')},
                            'length ' || t.typlen, CASE WHEN t.typbyval THEN 'passedbyvalue' END, 'alignment ' || t.typalign::text,
                            'storage ' || t.typstorage::text, 'category ' || t.typcategory::text, CASE WHEN t.typispreferred THEN 'preferred' END,
                            'default ' || quote_literal(t.typdefault), 'delimiter ' || quote_literal(t.typdelim::text),
                            CASE WHEN t.typcollation <> 0 THEN 'collatable' END)
           END AS def
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typtype IN ('e', 'd', 'c', 'r', 'b') AND t.typisdefined AND ${userNs('n')}
       AND NOT (t.typtype = 'b' AND t.typcategory = 'A')
       AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
       AND ${notExtensionMember('pg_type', 't.oid')}`,

  operator: `
    SELECT 'operator' AS kind, n.nspname AS sch, o.oprname AS rel,
           format('%s.%s(%s, %s)', n.nspname, o.oprname, ${typ('o.oprleft')}, ${typ('o.oprright')}) AS object,
           concat_ws(' ', ${fn('o.oprcode', 'function')}, 'returns ' || format_type(o.oprresult, NULL),
             CASE WHEN o.oprcom <> 0 THEN 'commutator ' || o.oprcom::regoperator::text END,
             CASE WHEN o.oprnegate <> 0 THEN 'negator ' || o.oprnegate::regoperator::text END,
             ${fn('o.oprrest', 'restrict')}, ${fn('o.oprjoin', 'join')},
             CASE WHEN o.oprcanhash THEN 'hashes' END, CASE WHEN o.oprcanmerge THEN 'merges' END) AS def
      FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
     WHERE ${userNs('n')} AND ${notExtensionMember('pg_operator', 'o.oid')}`,

  'operator family': `
    SELECT 'operator family' AS kind, n.nspname AS sch, f.opfname AS rel,
           format('%s.%s using %s', n.nspname, f.opfname, am.amname) AS object,
           concat_ws('; ',
             (SELECT string_agg(x.m, ', ' ORDER BY x.m) FROM (
                SELECT format('operator %s %s%s', o.amopstrategy, o.amopopr::regoperator,
                              CASE WHEN o.amoppurpose = 'o' THEN ' for order by ' || format('%s.%s', sfn.nspname, sf.opfname) ELSE '' END) AS m
                  FROM pg_amop o LEFT JOIN pg_opfamily sf ON sf.oid = o.amopsortfamily LEFT JOIN pg_namespace sfn ON sfn.oid = sf.opfnamespace
                 WHERE o.amopfamily = f.oid) x),
             (SELECT string_agg(x.m, ', ' ORDER BY x.m) FROM (
                SELECT format('function %s (%s, %s) %s', p.amprocnum, format_type(p.amproclefttype, NULL),
                              format_type(p.amprocrighttype, NULL), p.amproc::regprocedure) AS m
                  FROM pg_amproc p WHERE p.amprocfamily = f.oid) x)) AS def
      FROM pg_opfamily f JOIN pg_am am ON am.oid = f.opfmethod JOIN pg_namespace n ON n.oid = f.opfnamespace
     WHERE ${userNs('n')} AND ${notExtensionMember('pg_opfamily', 'f.oid')}`,

  'operator class': `
    SELECT 'operator class' AS kind, n.nspname AS sch, c.opcname AS rel,
           format('%s.%s using %s', n.nspname, c.opcname, am.amname) AS object,
           concat_ws(' ', CASE WHEN c.opcdefault THEN 'default' END, 'for type ' || format_type(c.opcintype, NULL),
             'family ' || format('%s.%s', fn.nspname, f.opfname),
             CASE WHEN c.opckeytype <> 0 THEN 'storage ' || format_type(c.opckeytype, NULL) END) AS def
      FROM pg_opclass c JOIN pg_am am ON am.oid = c.opcmethod JOIN pg_namespace n ON n.oid = c.opcnamespace
      JOIN pg_opfamily f ON f.oid = c.opcfamily JOIN pg_namespace fn ON fn.oid = f.opfnamespace
     WHERE ${userNs('n')} AND ${notExtensionMember('pg_opclass', 'c.oid')}`,

  cast: `
    SELECT 'cast' AS kind, '' AS sch, '' AS rel,
           format('(%s AS %s)', format_type(c.castsource, NULL), format_type(c.casttarget, NULL)) AS object,
           concat_ws(' ', CASE c.castmethod WHEN 'f' THEN 'with function ' || c.castfunc::regprocedure::text
                                           WHEN 'i' THEN 'with inout' ELSE 'without function' END,
                     CASE c.castcontext WHEN 'i' THEN 'as implicit' WHEN 'a' THEN 'as assignment' END) AS def
      FROM pg_cast c WHERE c.oid >= ${USER_OID} AND ${notExtensionMember('pg_cast', 'c.oid')}`,

  collation: `
    SELECT 'collation' AS kind, n.nspname AS sch, co.collname AS rel, ${qualified('n', 'co.collname')} AS object,
           -- The locale column was renamed in PostgreSQL 17 (colliculocale → colllocale): read it by name from the row.
           concat_ws(' ', 'provider ' || co.collprovider::text,
             'locale ' || coalesce(to_jsonb(co)->>'colllocale', to_jsonb(co)->>'colliculocale', co.collcollate),
             CASE WHEN co.collctype IS DISTINCT FROM co.collcollate AND co.collctype IS NOT NULL
                   AND co.collcollate IS NOT NULL THEN 'ctype ' || co.collctype END,
             'rules ' || quote_literal(to_jsonb(co)->>'collicurules'),
             CASE WHEN NOT co.collisdeterministic THEN 'nondeterministic' END,
             -- C and POSIX mean the same in every encoding: "CREATE COLLATION … FROM "C"" has none (-1), its dump
             -- (provider libc, locale C) gets the database's.
             CASE WHEN co.collencoding >= 0 AND NOT (co.collprovider = 'c' AND co.collcollate IN ('C', 'POSIX'))
                  THEN 'encoding ' || pg_encoding_to_char(co.collencoding) END) AS def
      FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
     WHERE ${userNs('n')} AND ${notExtensionMember('pg_collation', 'co.oid')}`,

  'text search configuration': `
    SELECT 'text search configuration' AS kind, n.nspname AS sch, c.cfgname AS rel, ${qualified('n', 'c.cfgname')} AS object,
           concat_ws(' ', (SELECT 'parser ' || format('%s.%s', pn.nspname, p.prsname) FROM pg_ts_parser p
                             JOIN pg_namespace pn ON pn.oid = p.prsnamespace WHERE p.oid = c.cfgparser),
             (SELECT 'mapping ' || string_agg(format('%s:%s', m.maptokentype, m.mapdict::regdictionary), ' ' ORDER BY m.maptokentype, m.mapseqno)
                FROM pg_ts_config_map m WHERE m.mapcfg = c.oid)) AS def
      FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace
     WHERE ${userNs('n')} AND ${notExtensionMember('pg_ts_config', 'c.oid')}`,

  'text search dictionary': `
    SELECT 'text search dictionary' AS kind, n.nspname AS sch, d.dictname AS rel, ${qualified('n', 'd.dictname')} AS object,
           concat_ws(' ', (SELECT 'template ' || format('%s.%s', tn.nspname, t.tmplname) FROM pg_ts_template t
                             JOIN pg_namespace tn ON tn.oid = t.tmplnamespace WHERE t.oid = d.dicttemplate),
                     '(' || d.dictinitoption || ')') AS def
      FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace
     WHERE ${userNs('n')} AND ${notExtensionMember('pg_ts_dict', 'd.oid')}`,

  'foreign data wrapper': `
    SELECT 'foreign data wrapper' AS kind, '' AS sch, w.fdwname AS rel, w.fdwname AS object,
           concat_ws(' ', ${fn('w.fdwhandler', 'handler')}, ${fn('w.fdwvalidator', 'validator')}, ${opts('w.fdwoptions')}) AS def
      FROM pg_foreign_data_wrapper w WHERE w.oid >= ${USER_OID} AND ${notExtensionMember('pg_foreign_data_wrapper', 'w.oid')}`,

  // Server options name hosts and databases; passwords belong in user mappings, compared by existence only.
  'foreign server': `
    SELECT 'foreign server' AS kind, '' AS sch, s.srvname AS rel, s.srvname AS object,
           concat_ws(' ', 'wrapper ' || w.fdwname, 'type ' || quote_literal(s.srvtype), 'version ' || quote_literal(s.srvversion),
                     ${opts('s.srvoptions')}) AS def
      FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
     WHERE ${notExtensionMember('pg_foreign_server', 's.oid')}`,

  'user mapping': `
    SELECT 'user mapping' AS kind, '' AS sch, m.srvname AS rel, format('for %s server %s', m.usename, m.srvname) AS object,
           'user mapping' AS def
      FROM pg_user_mappings m`,

  'event trigger': `
    SELECT 'event trigger' AS kind, '' AS sch, e.evtname AS rel, e.evtname AS object,
           concat_ws(' ', 'on ' || e.evtevent, 'execute ' || e.evtfoid::regprocedure::text,
                     'when tag in (' || array_to_string(e.evttags, ', ') || ')',
                     CASE e.evtenabled WHEN 'D' THEN '[disabled]' WHEN 'R' THEN '[enabled replica]' WHEN 'A' THEN '[enabled always]' END) AS def
      FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid JOIN pg_namespace n ON n.oid = p.pronamespace
     -- Heroku's own event triggers (functions in _heroku) are the provider's, not the application's.
     WHERE ${userNs('n')} AND ${notExtensionMember('pg_event_trigger', 'e.oid')}`,

  language: `
    SELECT 'language' AS kind, '' AS sch, l.lanname AS rel, l.lanname AS object,
           concat_ws(' ', CASE WHEN l.lanpltrusted THEN 'trusted' END, ${fn('l.lanplcallfoid', 'handler')},
                     ${fn('l.laninline', 'inline')}, ${fn('l.lanvalidator', 'validator')}) AS def
      FROM pg_language l WHERE l.oid >= ${USER_OID} AND ${notExtensionMember('pg_language', 'l.oid')}`,

  'access method': `
    SELECT 'access method' AS kind, '' AS sch, a.amname AS rel, a.amname AS object,
           concat_ws(' ', 'type ' || a.amtype::text, ${fn('a.amhandler', 'handler')}) AS def
      FROM pg_am a WHERE a.oid >= ${USER_OID} AND ${notExtensionMember('pg_am', 'a.oid')}`,

  conversion: `
    SELECT 'conversion' AS kind, n.nspname AS sch, c.conname AS rel, ${qualified('n', 'c.conname')} AS object,
           concat_ws(' ', CASE WHEN c.condefault THEN 'default' END, 'for ' || pg_encoding_to_char(c.conforencoding),
                     'to ' || pg_encoding_to_char(c.contoencoding), ${fn('c.conproc', 'from')}) AS def
      FROM pg_conversion c JOIN pg_namespace n ON n.oid = c.connamespace
     WHERE ${userNs('n')} AND ${notExtensionMember('pg_conversion', 'c.oid')}`,

  transform: `
    SELECT 'transform' AS kind, '' AS sch, '' AS rel,
           format('for %s language %s', format_type(t.trftype, NULL), l.lanname) AS object,
           concat_ws(' ', ${fn('t.trffromsql', 'from sql')}, ${fn('t.trftosql', 'to sql')}) AS def
      FROM pg_transform t JOIN pg_language l ON l.oid = t.trflang
     WHERE t.oid >= ${USER_OID} AND ${notExtensionMember('pg_transform', 't.oid')}`,

  extension: `
    SELECT 'extension' AS kind, '' AS sch, x.extname AS rel, x.extname AS object, x.extversion AS def
      FROM pg_extension x WHERE x.extname <> 'plpgsql'`,

  // COMMENT ON … for every object pg_dump would carry (database, role and tablespace comments excepted).
  // A comment follows its relation's --include/--exclude when it belongs to one (columns, indexes,
  // constraints, triggers, policies, rules, statistics); database-wide otherwise.
  comment: `
    SELECT 'comment' AS kind, coalesce(CASE WHEN d.classoid = 'pg_namespace'::regclass THEN io.identity ELSE io.schema END, '') AS sch,
           coalesce(r.relname, '') AS rel, format('on %s %s', io.type, io.identity) AS object, d.description AS def,
           r.relname IS NOT NULL AS scoped
      FROM pg_description d
      CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) io
      CROSS JOIN LATERAL (SELECT CASE d.classoid
             WHEN 'pg_class'::regclass THEN (SELECT coalesce(ti.relname, c.relname) FROM pg_class c
                                               LEFT JOIN pg_index ix ON ix.indexrelid = c.oid LEFT JOIN pg_class ti ON ti.oid = ix.indrelid
                                              WHERE c.oid = d.objoid)
             WHEN 'pg_constraint'::regclass THEN (SELECT c.relname FROM pg_constraint x JOIN pg_class c ON c.oid = x.conrelid WHERE x.oid = d.objoid)
             WHEN 'pg_trigger'::regclass THEN (SELECT c.relname FROM pg_trigger x JOIN pg_class c ON c.oid = x.tgrelid WHERE x.oid = d.objoid)
             WHEN 'pg_policy'::regclass THEN (SELECT c.relname FROM pg_policy x JOIN pg_class c ON c.oid = x.polrelid WHERE x.oid = d.objoid)
             WHEN 'pg_rewrite'::regclass THEN (SELECT c.relname FROM pg_rewrite x JOIN pg_class c ON c.oid = x.ev_class WHERE x.oid = d.objoid)
             WHEN 'pg_statistic_ext'::regclass THEN (SELECT c.relname FROM pg_statistic_ext x JOIN pg_class c ON c.oid = x.stxrelid WHERE x.oid = d.objoid)
           END::text AS relname) r
     WHERE (d.objoid >= ${USER_OID} OR d.classoid = 'pg_namespace'::regclass)
       AND ${userSchema(`coalesce(CASE WHEN d.classoid = 'pg_namespace'::regclass THEN io.identity ELSE io.schema END, '')`)}
       AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = d.classoid AND dep.objid = d.objoid AND dep.deptype = 'e')
       -- The comment of a column or index of an extension's table is the extension's too.
       AND NOT (d.classoid = 'pg_class'::regclass AND EXISTS (
             SELECT 1 FROM pg_depend dep LEFT JOIN pg_index ix ON ix.indexrelid = d.objoid
              WHERE dep.classid = 'pg_class'::regclass AND dep.objid = coalesce(ix.indrelid, d.objoid) AND dep.deptype = 'e'))`,
};
