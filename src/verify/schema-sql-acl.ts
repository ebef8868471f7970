// Grants (--acl) and owners (--owners): compared only on request, because copy's default is --no-owner
// --no-acl (the target role owns everything it restored, with default privileges).
import { notExtensionMember, userSchema } from './schema-sql.js';

const USER_OID = 16384;

/**
 * Every object that has an owner (and maybe an ACL): class, oid, sub-object, owner, acl, the acldefault() kind,
 * its schema (NULL when it has none) and the relation it belongs to (NULL when database-wide).
 */
const OWNED_OBJECTS = `
  SELECT 'pg_class'::regclass AS cls, c.oid, 0 AS sub, c.relowner AS owner, c.relacl AS acl,
         (CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char" AS dk, c.relnamespace AS ns, c.relname::text AS rel
    FROM pg_class c WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
  UNION ALL
  SELECT 'pg_proc'::regclass, p.oid, 0, p.proowner, p.proacl, 'f', p.pronamespace, NULL FROM pg_proc p
  UNION ALL
  SELECT 'pg_namespace'::regclass, n.oid, 0, n.nspowner, n.nspacl, 'n', n.oid, NULL FROM pg_namespace n
  UNION ALL
  SELECT 'pg_type'::regclass, t.oid, 0, t.typowner, t.typacl, 'T', t.typnamespace, NULL FROM pg_type t
   WHERE t.typtype IN ('e', 'd', 'r', 'b', 'c') AND NOT (t.typtype = 'b' AND t.typcategory = 'A')
     AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  UNION ALL
  SELECT 'pg_largeobject'::regclass, l.oid, 0, l.lomowner, l.lomacl, 'L', NULL, NULL FROM pg_largeobject_metadata l
  UNION ALL
  SELECT 'pg_foreign_data_wrapper'::regclass, w.oid, 0, w.fdwowner, w.fdwacl, 'F', NULL, NULL FROM pg_foreign_data_wrapper w
  UNION ALL
  SELECT 'pg_foreign_server'::regclass, s.oid, 0, s.srvowner, s.srvacl, 'S', NULL, NULL FROM pg_foreign_server s
  UNION ALL
  SELECT 'pg_language'::regclass, l.oid, 0, l.lanowner, l.lanacl, 'l', NULL, NULL FROM pg_language l`;

/** Objects that have an owner but no ACL. */
const OWNED_ONLY = `
  SELECT 'pg_collation'::regclass AS cls, x.oid, x.collowner AS owner, x.collnamespace AS ns FROM pg_collation x
  UNION ALL SELECT 'pg_operator'::regclass, x.oid, x.oprowner, x.oprnamespace FROM pg_operator x
  UNION ALL SELECT 'pg_opclass'::regclass, x.oid, x.opcowner, x.opcnamespace FROM pg_opclass x
  UNION ALL SELECT 'pg_opfamily'::regclass, x.oid, x.opfowner, x.opfnamespace FROM pg_opfamily x
  UNION ALL SELECT 'pg_ts_config'::regclass, x.oid, x.cfgowner, x.cfgnamespace FROM pg_ts_config x
  UNION ALL SELECT 'pg_ts_dict'::regclass, x.oid, x.dictowner, x.dictnamespace FROM pg_ts_dict x
  UNION ALL SELECT 'pg_conversion'::regclass, x.oid, x.conowner, x.connamespace FROM pg_conversion x
  UNION ALL SELECT 'pg_statistic_ext'::regclass, x.oid, x.stxowner, x.stxnamespace FROM pg_statistic_ext x
  UNION ALL SELECT 'pg_event_trigger'::regclass, x.oid, x.evtowner, NULL FROM pg_event_trigger x`;

const inScope = (o: string) => `
  (${o}.ns IS NULL AND ${o}.oid >= ${USER_OID} OR ${userSchema(`(SELECT nspname FROM pg_namespace WHERE oid = ${o}.ns)`)})
  AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = ${o}.cls AND dep.objid = ${o}.oid AND dep.deptype = 'e')`;

/** What GRANT ALL gave on a table before PostgreSQL 17 (17 adds MAINTAIN). */
const ALL_BEFORE_17 = `'INSERT', 'SELECT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'`;

/**
 * An ACL as sorted grantee=privilege/grantor items; the object's owner is written OWNER (owners are --owners'
 * business). `foldMaintain` (between a major before 17 and 17 or later): a MAINTAIN that comes with all of
 * ALL_BEFORE_17 from the same grantor, equally grantable, is part of GRANT ALL and left out — the owner's default
 * privileges included. A MAINTAIN granted on its own is still compared (and reported).
 */
const aclText = (acl: string, owner: string, foldMaintain: boolean) => `
  (SELECT string_agg(y.item, ' ' ORDER BY y.item) FROM (
     SELECT format('%s=%s%s/%s',
                   CASE WHEN e.grantee = 0 THEN 'PUBLIC' WHEN e.grantee = ${owner} THEN 'OWNER' ELSE quote_ident(pg_get_userbyid(e.grantee)) END,
                   e.privilege_type, CASE WHEN e.is_grantable THEN '*' ELSE '' END,
                   CASE WHEN e.grantor = ${owner} THEN 'OWNER' ELSE quote_ident(pg_get_userbyid(e.grantor)) END) AS item
       FROM aclexplode(${acl}) e
      WHERE NOT (${foldMaintain} AND e.privilege_type = 'MAINTAIN' AND (
              SELECT count(DISTINCT x.privilege_type) FROM aclexplode(${acl}) x
               WHERE x.grantee = e.grantee AND x.grantor = e.grantor AND x.is_grantable = e.is_grantable
                 AND x.privilege_type IN (${ALL_BEFORE_17})) = 7)) y)`;

/** Grants, column grants and default privileges; `foldMaintain`: see aclText. */
export function aclQueries(foldMaintain: boolean): Record<string, string> {
  return {
    privileges: `
    SELECT 'privileges' AS kind, coalesce((SELECT nspname FROM pg_namespace WHERE oid = o.ns), '') AS sch,
           coalesce(o.rel, '') AS rel, format('on %s %s', io.type, io.identity) AS object,
           coalesce(${aclText('coalesce(o.acl, acldefault(o.dk, o.owner))', 'o.owner', foldMaintain)}, 'none') AS def,
           o.rel IS NOT NULL AS scoped
      FROM (${OWNED_OBJECTS}) o CROSS JOIN LATERAL pg_identify_object(o.cls, o.oid, o.sub) io
     WHERE ${inScope('o')}`,

    'column privileges': `
    SELECT 'privileges' AS kind, n.nspname AS sch, c.relname AS rel, format('on %s %s', io.type, io.identity) AS object,
           coalesce(${aclText('a.attacl', 'c.relowner', foldMaintain)}, 'none') AS def, true AS scoped
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL pg_identify_object('pg_class'::regclass, a.attrelid, a.attnum) io
     WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
       AND ${userSchema('n.nspname')} AND ${notExtensionMember('pg_class', 'c.oid')}`,

    'default privileges': `
    SELECT 'default privileges' AS kind, coalesce(n.nspname, '') AS sch, '' AS rel,
           format('for role %s%s on %s', quote_ident(pg_get_userbyid(d.defaclrole)), ' in schema ' || quote_ident(n.nspname),
                  CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                                       WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END) AS object,
           coalesce(${aclText('d.defaclacl', 'd.defaclrole', foldMaintain)}, 'none') AS def, false AS scoped
      FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace`,
  };
}

export const OWNER_QUERIES: Record<string, string> = {
  owner: `
    SELECT 'owner' AS kind, coalesce((SELECT nspname FROM pg_namespace WHERE oid = o.ns), '') AS sch,
           coalesce(o.rel, '') AS rel, format('of %s %s', io.type, io.identity) AS object,
           pg_get_userbyid(o.owner)::text AS def, o.rel IS NOT NULL AS scoped
      FROM (SELECT cls, oid, owner, ns, rel FROM (${OWNED_OBJECTS}) x
            UNION ALL SELECT cls, oid, owner, ns, NULL FROM (${OWNED_ONLY}) y) o
      CROSS JOIN LATERAL pg_identify_object(o.cls, o.oid, 0) io
     WHERE ${inScope('o')}`,
};
