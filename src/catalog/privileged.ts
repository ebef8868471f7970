// Objects of the source schema that only a superuser may create on the target: pg_restore (and so copy's
// pre-data step) fails on them mid-way when the target role is not one. Extension members are left out (their
// extension creates them), and so are Heroku's own objects (pgshift skips them). Event triggers are apart: copy
// skips them when the target role is not a superuser (src/copy/execute.ts), so they are said to be skipped.
import type { Client } from '../db/connect.js';
import { userSchemaSql } from './system.js';

export interface PrivilegedObjects {
  /** Objects the schema step fails on without a superuser (event triggers not counted). */
  count: number;
  /** Up to ten, e.g. "function public.f(integer) (language c)". */
  examples: string[];
  /** Event triggers (names): copy skips them when the target role is not a superuser. */
  eventTriggers: string[];
  /** SECURITY DEFINER functions (signatures): without --keep-owner they run with the target role's rights. */
  securityDefiner: string[];
}

const notExtension = (cls: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${cls}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

/** A catalog's objects in user schemas, not made by an extension, as "<label> schema.name" (alias o). */
const inUserSchema = (label: string, catalog: string, name: string, namespace: string) =>
  `SELECT format('${label} %I.%I', n.nspname, o.${name}) FROM ${catalog} o JOIN pg_namespace n ON n.oid = o.${namespace}
    WHERE ${userSchemaSql('n.nspname')} AND ${notExtension(catalog, 'o.oid')}`;

const PRIVILEGED_SQL = `
WITH objs AS (
  -- C, internal and untrusted procedural languages (plpython3u, plperlu…). Not aggregates (language internal,
  -- created by CREATE AGGREGATE as their owner) nor what an object makes for itself (a range type's
  -- constructors, internal too: its CREATE TYPE makes them).
  SELECT format('function %s (language %s)', p.oid::regprocedure, l.lanname) AS what
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE NOT l.lanpltrusted AND p.prokind <> 'a' AND ${userSchemaSql('n.nspname')} AND ${notExtension('pg_proc', 'p.oid')}
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'i')
  UNION ALL
  ${inUserSchema('operator class', 'pg_opclass', 'opcname', 'opcnamespace')}
  UNION ALL
  ${inUserSchema('operator family', 'pg_opfamily', 'opfname', 'opfnamespace')}
     -- CREATE OPERATOR CLASS makes its family of the same name: named once, as the class.
     AND NOT EXISTS (SELECT 1 FROM pg_opclass c WHERE c.opcfamily = o.oid AND c.opcname = o.opfname AND c.opcnamespace = o.opfnamespace)

  UNION ALL
  ${inUserSchema('text search parser', 'pg_ts_parser', 'prsname', 'prsnamespace')}
  UNION ALL
  ${inUserSchema('text search template', 'pg_ts_template', 'tmplname', 'tmplnamespace')}
  UNION ALL
  SELECT format('foreign-data wrapper %I', w.fdwname)
    FROM pg_foreign_data_wrapper w WHERE ${notExtension('pg_foreign_data_wrapper', 'w.oid')}
  UNION ALL
  SELECT format('language %I', l.lanname)
    FROM pg_language l WHERE l.oid >= 16384 AND ${notExtension('pg_language', 'l.oid')}
)
SELECT count(*) OVER () AS n, what FROM objs ORDER BY what LIMIT 10`;

// Heroku's own event triggers (functions in _heroku) are not the application's: not listed, as verify does.
const EVENT_TRIGGERS_SQL = `
  SELECT e.evtname AS name
    FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE ${userSchemaSql('n.nspname')} AND ${notExtension('pg_event_trigger', 'e.oid')}
   ORDER BY e.evtname`;

const SECURITY_DEFINER_SQL = `
  SELECT format('%s (owner %I)', p.oid::regprocedure, pg_get_userbyid(p.proowner)) AS what
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE p.prosecdef AND ${userSchemaSql('n.nspname')} AND ${notExtension('pg_proc', 'p.oid')}
   ORDER BY 1`;

/** Objects of the source's schema that need a superuser to be created on the target, and SECURITY DEFINER functions. */
export async function privilegedObjects(source: Client): Promise<PrivilegedObjects> {
  const { rows } = await source.query<{ n: string; what: string }>(PRIVILEGED_SQL);
  const { rows: events } = await source.query<{ name: string }>(EVENT_TRIGGERS_SQL);
  const { rows: definers } = await source.query<{ what: string }>(SECURITY_DEFINER_SQL);
  return {
    count: rows.length ? Number(rows[0]!.n) : 0,
    examples: rows.map((r) => r.what),
    eventTriggers: events.map((e) => e.name),
    securityDefiner: definers.map((d) => d.what),
  };
}

/**
 * SECURITY DEFINER functions run with their owner's rights. Without --keep-owner the target role owns every
 * restored object, so such a function runs with the target owner's rights — often far more than the role that
 * owned it on the source had (a function meant to read one table can then read them all).
 */
export function securityDefinerWarning(p: PrivilegedObjects): { message: string; remedy: string } | undefined {
  const f = p.securityDefiner;
  if (f.length === 0) return undefined;
  const shown = f.slice(0, 10).join(', ') + (f.length > 10 ? ', …' : '');
  return {
    message: `${f.length} SECURITY DEFINER function${f.length === 1 ? '' : 's'} (${shown}): copied without --keep-owner, ${f.length === 1 ? 'it is' : 'they are'} owned by the target role and run${f.length === 1 ? 's' : ''} with its rights, not those of ${f.length === 1 ? 'its' : 'their'} owner on the source`,
    remedy:
      'copy with --keep-owner (the owner roles must exist on the target), or after the copy ALTER FUNCTION … OWNER TO a role with only the rights the function needs',
  };
}

/** What to say when they exist and the target role is not a superuser (or is not known yet). */
export function privilegedWarning(p: PrivilegedObjects, target: { user: string; superuser: boolean } | null): { message: string; remedy: string } | undefined {
  if (p.count === 0 || target?.superuser) return undefined;
  const who = target ? `the target role ${target.user} is not a superuser` : 'unless the target role is a superuser';
  return {
    message: `${p.count} object${p.count === 1 ? '' : 's'} of the schema can only be created by a superuser (${p.examples.join(', ')}${p.count > p.examples.length ? ', …' : ''}); ${who}, so the schema step of copy will fail on ${p.count === 1 ? 'it' : 'them'}`,
    remedy:
      'copy with a superuser as the target role; or drop them on the source if the application does not use them, or --exclude the schema that holds them; a managed target (RDS, Cloud SQL) may not allow them at all',
  };
}

/** Event triggers copy leaves out when the target role is not a superuser (or is not known yet). */
export function eventTriggerWarning(
  p: PrivilegedObjects,
  target: { user: string; superuser: boolean } | null,
): { message: string; remedy: string } | undefined {
  const names = p.eventTriggers;
  if (names.length === 0 || target?.superuser) return undefined;
  const [them, are] = names.length === 1 ? ['it', 'it is'] : ['them', 'they are'];
  const who = target ? `the target role ${target.user} is not a superuser, so` : 'unless the target role is a superuser,';
  return {
    message: `${names.length} event trigger${names.length === 1 ? '' : 's'} (${names.join(', ')}) can only be created by a superuser; ${who} copy skips ${them} with a warning and the target will not have ${them} (pgshift verify reports ${them} missing until ${are} created there)`,
    remedy:
      'after the copy, have a superuser of the target run the same CREATE EVENT TRIGGER (pg_dump --schema-only of the source shows it); or copy with a superuser as the target role; a managed target (RDS, Cloud SQL) may not allow event triggers at all',
  };
}
