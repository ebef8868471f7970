// Views defined in terms of themselves (issue #23.6). `CREATE OR REPLACE VIEW v AS … FROM v` (or
// `CREATE OR REPLACE RULE "_RETURN" AS ON SELECT TO v DO INSTEAD SELECT … FROM v`) is accepted by the server; the
// view cannot be queried ("infinite recursion detected in rules"), and pg_dump writes `CREATE VIEW v AS … FROM v`,
// which no server can restore ("relation v does not exist"), nor any view built on it. (Views that refer to each
// other in a loop are different: pg_dump breaks the loop with a placeholder view and restores them.)
import type { Client } from '../db/connect.js';
import { userSchemaSql } from './system.js';

export interface SelfReferencingView {
  schema: string;
  name: string;
  /** schema.name, quoted where SQL needs it. */
  qualified: string;
  /** Views built on it (directly or not): they fail to restore with it. */
  dependents: string[];
}

/**
 * A view's stored query lists each relation it reads as a range-table entry ("… :rtekind 0 :relid <oid> …").
 * Up to PostgreSQL 15 every view's query also holds two entries for the view itself (OLD and NEW); pg_depend cannot
 * tell them apart from a real self-reference there, so the entries are counted.
 */
export async function selfReferencingViews(c: Client): Promise<SelfReferencingView[]> {
  const { rows } = await c.query<{ schema: string; name: string; qualified: string; dependents: string[] | null }>(
    `WITH RECURSIVE views AS MATERIALIZED (
       -- User views first: the catalog's own rules hold megabytes of node text not worth scanning.
       SELECT r.ev_class AS oid, r.ev_action::text AS action, ':rtekind 0 :relid ' || r.ev_class::int8 || ' ' AS needle
         FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE r.rulename = '_RETURN' AND c.relkind = 'v' AND ${userSchemaSql('n.nspname')}
     ), selfref AS (
       SELECT v.oid FROM views v
        WHERE (length(v.action) - length(replace(v.action, v.needle, ''))) / length(v.needle)
              > CASE WHEN current_setting('server_version_num')::int < 160000 THEN 2 ELSE 0 END
     ), dependent(root, oid) AS (
       SELECT s.oid, s.oid FROM selfref s
       UNION
       SELECT d0.root, r.ev_class
         FROM dependent d0
         JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = d0.oid AND d.classid = 'pg_rewrite'::regclass
         JOIN pg_rewrite r ON r.oid = d.objid AND r.ev_class <> d0.oid
     )
     SELECT n.nspname AS schema, c.relname AS name, format('%I.%I', n.nspname, c.relname) AS qualified,
            (SELECT array_agg(format('%I.%I', dn.nspname, dc.relname) ORDER BY dn.nspname, dc.relname)
               FROM dependent x JOIN pg_class dc ON dc.oid = x.oid JOIN pg_namespace dn ON dn.oid = dc.relnamespace
              WHERE x.root = s.oid AND x.oid <> s.oid) AS dependents
       FROM selfref s JOIN pg_class c ON c.oid = s.oid JOIN pg_namespace n ON n.oid = c.relnamespace
      ORDER BY 1, 2`,
  );
  return rows.map((r) => ({ schema: r.schema, name: r.name, qualified: r.qualified, dependents: r.dependents ?? [] }));
}

/** What inventory and copy say about one: the object, why, and what to do on the source. */
export function selfReferencingViewAdvice(v: SelfReferencingView): { object: string; message: string; remedy: string } {
  const object = v.qualified;
  const built = v.dependents.length ? ` (and the views built on it: ${v.dependents.join(', ')})` : '';
  return {
    object,
    message:
      `view ${object} is defined in terms of itself (its query reads ${object}): it cannot be queried on the source ("infinite recursion"), ` +
      `and pg_dump writes it as CREATE VIEW ${object} AS … FROM ${object}, which no server can restore${built}`,
    remedy:
      `on the source, DROP VIEW ${object}${v.dependents.length ? ' CASCADE (it drops the views built on it too)' : ''} if nothing uses it, ` +
      `or give it a definition that does not read itself (CREATE OR REPLACE VIEW ${object} AS …); then run the command again`,
  };
}
