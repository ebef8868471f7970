// --include/--exclude checked against the source's dependencies before anything is written. A view over an
// excluded table, a foreign key or rule or policy pointing at it, a default using its sequence, a function whose
// body names it: restoring any of those without the table fails half-way (issue #8.3). Refuse up front instead,
// listing each dependent object and the flags that would work.
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { displayName } from '../db/ident.js';
import { UsageError } from '../errors.js';
import { excludedObjects, type Excluded } from './filter.js';

export interface ExclusionPlan {
  excluded: Excluded;
  /** Relations (tables, views, materialized views) the filter leaves out, as pg_class OIDs. */
  relations: Set<number>;
}

interface Dependent {
  /** pg_describe_object() of the dependent object, e.g. "view public.v_orders". */
  what: string;
  /** The same for the excluded object it depends on. */
  on: string;
  /** The relation that owns the dependent (itself for a view), when --exclude can leave it out. */
  relOid: number | null;
  rel: string | null;
}

// Dependencies (pg_depend) of objects that would be copied on objects that would not. The excluded side is the
// left-out relations, their row types and everything copy drops with them (sequences they own, their indexes,
// constraints, rules…); only normal dependencies count (internal and automatic ones go with their owner).
const DEPENDENTS_SQL = `
WITH x(oid) AS (SELECT unnest($1::oid[])),
     xtype(oid) AS (SELECT c.reltype FROM pg_class c JOIN x ON x.oid = c.oid WHERE c.reltype <> 0
                    UNION SELECT t.typarray FROM pg_class c JOIN x ON x.oid = c.oid JOIN pg_type t ON t.oid = c.reltype WHERE t.typarray <> 0),
     dep AS (
       SELECT DISTINCT d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.refobjsubid FROM pg_depend d
        WHERE d.deptype = 'n'
          AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid IN (SELECT oid FROM x))
            OR (d.refclassid = 'pg_type'::regclass AND d.refobjid IN (SELECT oid FROM xtype)))
          AND NOT (d.classid = 'pg_class'::regclass AND d.objid IN (SELECT oid FROM x))
          AND NOT (d.classid = 'pg_rewrite'::regclass AND d.objid IN (SELECT r.oid FROM pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM x)))
          AND NOT (d.classid = 'pg_type'::regclass AND d.objid IN (SELECT oid FROM xtype))
          AND NOT d.objid = ANY($2::oid[]))
SELECT pg_describe_object(dep.classid, dep.objid, dep.objsubid) AS what,
       -- A key's index stands for its table.
       pg_describe_object(dep.refclassid, COALESCE((SELECT indrelid FROM pg_index WHERE indexrelid = dep.refobjid AND dep.refclassid = 'pg_class'::regclass), dep.refobjid), 0) AS on,
       rel.oid::int8 AS rel_oid, rn.nspname AS rel_schema, rel.relname AS rel_name
  FROM dep
  LEFT JOIN LATERAL (
    SELECT CASE dep.classid
             WHEN 'pg_class'::regclass THEN (SELECT CASE WHEN c.relkind IN ('i', 'I') THEN (SELECT indrelid FROM pg_index WHERE indexrelid = c.oid)
                                                          WHEN c.relkind = 'S' THEN COALESCE((SELECT refobjid FROM pg_depend s WHERE s.classid = 'pg_class'::regclass AND s.objid = c.oid AND s.refclassid = 'pg_class'::regclass AND s.deptype IN ('a', 'i') LIMIT 1), c.oid)
                                                          ELSE c.oid END FROM pg_class c WHERE c.oid = dep.objid)
             WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = dep.objid)
             WHEN 'pg_constraint'::regclass THEN (SELECT NULLIF(conrelid, 0) FROM pg_constraint WHERE oid = dep.objid)
             WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = dep.objid)
             WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = dep.objid)
             WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = dep.objid)
             WHEN 'pg_statistic_ext'::regclass THEN (SELECT stxrelid FROM pg_statistic_ext WHERE oid = dep.objid)
           END AS oid) owner ON true
  LEFT JOIN pg_class rel ON rel.oid = owner.oid AND rel.relkind IN ('r', 'p', 'f', 'v', 'm')
  LEFT JOIN pg_namespace rn ON rn.oid = rel.relnamespace
 ORDER BY 1, dep.refclassid, 2`;

async function dependents(snap: Client, excluded: Excluded): Promise<Dependent[]> {
  const { rows } = await snap.query(DEPENDENTS_SQL, [[...(excluded.classOids ?? [])], [...excluded.oids]]);
  // One line per dependent: a foreign key depends on the table and on its key's index, say both at once.
  const byWhat = new Map<string, Dependent>();
  for (const r of rows) {
    const seen = byWhat.get(r.what);
    if (seen && !seen.on.split(', ').includes(r.on)) seen.on += `, ${r.on}`;
    else
      byWhat.set(r.what, {
        what: r.what,
        on: r.on,
        relOid: r.rel_oid === null ? null : Number(r.rel_oid),
        rel: r.rel_oid === null ? null : displayName(r.rel_schema, r.rel_name),
      });
  }
  return [...byWhat.values()];
}

/**
 * The objects a filter leaves out, checked for dependents that would be copied. Throws a UsageError (exit 2)
 * naming each dependent and the flags that would work; nothing has been written when it does.
 */
export async function planExclusion(
  snap: Client,
  tables: TableInfo[],
  keep: (schema: string, name: string) => boolean,
  /** Off for --data-only: no schema is restored, so nothing can fail for want of a left-out object. */
  checkDependencies = true,
): Promise<ExclusionPlan> {
  const relations = new Set(tables.filter((t) => !keep(t.schema, t.name)).map((t) => t.oid));
  // Views and materialized views follow the same patterns as tables.
  const { rows: views } = await snap.query(
    `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgshift') AND n.nspname !~ '^pg_(toast|temp)'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`,
  );
  for (const v of views) if (!keep(v.schema, v.name)) relations.add(Number(v.oid));
  const excluded = await excludedObjects(snap, [...relations]);
  if (relations.size === 0 || !checkDependencies) return { excluded, relations };

  const found = await dependents(snap, excluded);
  if (found.length === 0) return { excluded, relations };

  // What leaving the dependents out too would take: follow the chain (a view over that view…) to the end.
  const wider = new Set(relations);
  const extra = new Map<number, string>();
  const stuck: Dependent[] = [];
  let round = found;
  for (let i = 0; i < 20 && round.length > 0; i++) {
    let grew = false;
    for (const d of round) {
      if (d.relOid === null) stuck.push(d);
      else if (!wider.has(d.relOid)) {
        wider.add(d.relOid);
        extra.set(d.relOid, d.rel!);
        grew = true;
      }
    }
    if (!grew) break;
    round = await dependents(snap, await excludedObjects(snap, [...wider]));
  }
  const lines = found.map((d) => `  ${d.what} depends on ${d.on}`);
  const leftOut = [...new Set(found.flatMap((d) => d.on.split(', ')))];
  const flags = [...extra.values()].map((r) => `--exclude ${r}`).join(' ');
  const keepThem = `stop leaving out ${leftOut.join(', ')} (widen --include / narrow --exclude)`;
  const hint =
    stuck.length > 0 || !flags
      ? `${[...new Set(stuck.map((d) => d.what))].join(', ')} cannot be left out with --exclude: ${keepThem}, or change them on the source`
      : `leave the dependents out too: ${flags}; or ${keepThem}`;
  throw new UsageError(`preflight: --include/--exclude leave out objects that copied objects depend on; nothing was changed:\n${lines.join('\n')}`, {
    phase: 'preflight',
    object: found[0]!.what,
    hint,
  });
}
