// Sizes the estimate needs that a CopyPlan does not carry, read under the same snapshot as the plan.
import { userSchemaSql } from '../catalog/system.js';
import type { Client } from '../db/connect.js';
import type { CopyPlan } from '../copy/plan.js';
import type { PlanSizes } from './model.js';
import { indexKey } from './simulate.js';
import { secondHalf } from '../copy/schedule.js';

/**
 * Per materialized view (in the order given): its heap, its indexes, and the tables its query reads — found
 * through the dependencies of its rewrite rule, through plain views; a partitioned table counts its leaves, another
 * materialized view its own heap (a refresh reads it as it is).
 */
const MATVIEW_SIZES_SQL = `
WITH RECURSIVE mv AS (
  SELECT i, format('%I.%I', s, n)::regclass::oid AS oid FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(s, n, i)
), reads(i, rel) AS (
  SELECT mv.i, d.refobjid FROM mv JOIN pg_rewrite r ON r.ev_class = mv.oid
    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> mv.oid
  UNION
  SELECT reads.i, d.refobjid FROM reads JOIN pg_class v ON v.oid = reads.rel AND v.relkind = 'v'
    JOIN pg_rewrite r ON r.ev_class = v.oid
    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid
)
SELECT pg_relation_size(mv.oid) AS bytes,
       (SELECT COALESCE(sum(pg_relation_size(x.indexrelid)), 0) FROM pg_index x WHERE x.indrelid = mv.oid) AS index,
       (SELECT COALESCE(sum(CASE WHEN c.relkind = 'p'
                                 THEN (SELECT COALESCE(sum(pg_table_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t WHERE t.isleaf)
                                 ELSE pg_table_size(c.oid) END), 0)
          FROM (SELECT DISTINCT rel FROM reads WHERE reads.i = mv.i) d JOIN pg_class c ON c.oid = d.rel AND c.relkind IN ('r', 'm', 'p')) AS input
  FROM mv ORDER BY mv.i`;

export async function planSizes(snap: Client, plan: CopyPlan): Promise<PlanSizes> {
  const oids = plan.data.map((t) => t.oid);
  const { rows: idx } = await snap.query<{ schema: string; name: string; bytes: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_relation_size(c.oid) AS bytes
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE i.indrelid = ANY($1::oid[])`,
    [oids],
  );
  const indexBytes: Record<string, number> = {};
  for (const r of idx) indexBytes[indexKey(r.schema, r.name)] = Number(r.bytes);
  const { rows: counts } = await snap.query<{ rels: string; funcs: string; types: string; indexes: string; constraints: string; triggers: string; lo: string }>(
    `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND ${userSchemaSql('n.nspname')}) AS rels,
            (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${userSchemaSql('n.nspname')}) AS funcs,
            (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE t.typtype IN ('e', 'd', 'r', 'm') AND ${userSchemaSql('n.nspname')}) AS types,
            (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE ${userSchemaSql('n.nspname')}) AS indexes,
            (SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
              WHERE k.contype = 'f' AND ${userSchemaSql('n.nspname')}) AS constraints,
            (SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT g.tgisinternal AND ${userSchemaSql('n.nspname')}) AS triggers,
            (SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_largeobject_metadata) THEN pg_total_relation_size('pg_catalog.pg_largeobject') ELSE 0 END) AS lo`,
  );
  const c = counts[0]!;
  const own = plan.builds.jobs.filter((j) => !secondHalf(j)).length;
  const { rows: mv } = plan.matviews.length
    ? await snap.query<{ bytes: string; input: string; index: string }>(MATVIEW_SIZES_SQL, [
        plan.matviews.map((m) => m.schema),
        plan.matviews.map((m) => m.name),
      ])
    : { rows: [] };
  return {
    indexBytes,
    schemaObjects: Number(c.rels) + Number(c.funcs) + Number(c.types),
    postDataObjects: Math.max(0, Number(c.indexes) + Number(c.constraints) - own) + Number(c.triggers),
    largeObjectBytes: Number(c.lo),
    matviewBytes: mv.map((r) => Number(r.bytes)),
    matviewInputBytes: mv.map((r) => Number(r.input)),
    matviewIndexBytes: mv.map((r) => Number(r.index)),
  };
}
