// Sizes the estimate needs that a CopyPlan does not carry, read under the same snapshot as the plan.
import { userSchemaSql } from '../catalog/system.js';
import type { Client } from '../db/connect.js';
import type { CopyPlan } from '../copy/plan.js';
import type { PlanSizes } from './model.js';
import { indexKey } from './simulate.js';
import { secondHalf } from '../copy/schedule.js';

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
    ? await snap.query<{ bytes: string }>(
        `SELECT pg_relation_size(format('%I.%I', s, n)::regclass) AS bytes FROM unnest($1::text[], $2::text[]) AS u(s, n)`,
        [plan.matviews.map((m) => m.schema), plan.matviews.map((m) => m.name)],
      )
    : { rows: [] };
  return {
    indexBytes,
    schemaObjects: Number(c.rels) + Number(c.funcs) + Number(c.types),
    postDataObjects: Math.max(0, Number(c.indexes) + Number(c.constraints) - own) + Number(c.triggers),
    largeObjectBytes: Number(c.lo),
    matviewBytes: mv.map((r) => Number(r.bytes)),
  };
}
