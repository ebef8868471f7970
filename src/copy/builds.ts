// Post-data objects pgshift builds itself, in parallel with the remaining COPYs: indexes and primary/unique/
// exclusion keys of plain tables (as soon as the table's data is in) and foreign keys between plain tables (as
// soon as both tables are in and the referenced keys exist). Partitioned trees keep pg_restore's order
// (ATTACH needs it); everything else comes in the post-data restore after all data.
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { withTransaction } from '../db/connect.js';
import { qualify, quoteIdent } from '../db/ident.js';
import { errorCode } from '../errors.js';
import { markIndexDone } from '../state/store.js';
import { tableKey } from '../catalog/table-id.js';
import type { BuildJob } from './schedule.js';

export interface BuildPlan {
  jobs: BuildJob[];
  /** Catalog OIDs (index, key and foreign-key constraints) whose TOC entries pg_restore must then skip. */
  ownOids: Set<number>;
}

export async function listBuildJobs(snapshotClient: Client, tables: TableInfo[]): Promise<BuildPlan> {
  const own = tables.filter((t) => t.relkind === 'r' && t.kind !== 'partition');
  const plan: BuildPlan = { jobs: [], ownOids: new Set() };
  if (own.length === 0) return plan;
  const oids = own.map((t) => t.oid);
  const { rows: indexes } = await snapshotClient.query(
    `SELECT n.nspname AS schema, t.relname AS table, ic.relname AS name, i.indexrelid::int8 AS index_oid,
            con.oid::int8 AS con_oid, con.conname, pg_get_indexdef(i.indexrelid) AS indexdef,
            pg_get_constraintdef(con.oid) AS condef, i.indisreplident AS replident, i.indisclustered AS clustered,
            i.indisunique AS is_unique
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.oid AND con.contype IN ('p', 'u', 'x')
      WHERE t.oid = ANY($1::oid[])
      ORDER BY n.nspname, t.relname, con.contype NULLS LAST, ic.relname`,
    [oids],
  );
  for (const r of indexes) {
    const table = qualify(r.schema, r.table);
    const statements = [r.con_oid ? `ALTER TABLE ONLY ${table} ADD CONSTRAINT ${quoteIdent(r.conname)} ${r.condef}` : r.indexdef];
    // pg_dump emits these inside the index's own TOC entry, which is skipped: keep them.
    if (r.replident) statements.push(`ALTER TABLE ONLY ${table} REPLICA IDENTITY USING INDEX ${quoteIdent(r.name)}`);
    if (r.clustered) statements.push(`ALTER TABLE ${table} CLUSTER ON ${quoteIdent(r.name)}`);
    const key = tableKey({ schema: r.schema, name: r.table });
    plan.jobs.push({ kind: 'index', schema: r.schema, table: r.table, name: r.name, stateName: r.name, statements, needsData: [key], needsKeys: [], isKey: r.is_unique });
    plan.ownOids.add(Number(r.index_oid));
    if (r.con_oid) plan.ownOids.add(Number(r.con_oid));
  }
  const { rows: fks } = await snapshotClient.query(
    `SELECT c.oid::int8 AS con_oid, c.conname, n.nspname AS schema, t.relname AS table,
            fn.nspname AS ref_schema, ft.relname AS ref_table, pg_get_constraintdef(c.oid) AS def
       FROM pg_constraint c
       JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_class ft ON ft.oid = c.confrelid JOIN pg_namespace fn ON fn.oid = ft.relnamespace
      WHERE c.contype = 'f' AND c.conparentid = 0 AND c.conrelid = ANY($1::oid[]) AND c.confrelid = ANY($1::oid[])
      ORDER BY 3, 4, 2`,
    [oids],
  );
  for (const r of fks) {
    const ref = tableKey({ schema: r.ref_schema, name: r.ref_table });
    plan.jobs.push({
      kind: 'foreign key',
      schema: r.schema,
      table: r.table,
      name: r.conname,
      stateName: `FK ${r.table}.${r.conname}`,
      // pg_get_constraintdef keeps NOT VALID for a key that was never validated.
      statements: [`ALTER TABLE ONLY ${qualify(r.schema, r.table)} ADD CONSTRAINT ${quoteIdent(r.conname)} ${r.def}`],
      needsData: [tableKey({ schema: r.schema, name: r.table }), ref],
      needsKeys: [ref],
    });
    plan.ownOids.add(Number(r.con_oid));
  }
  return plan;
}

/** Build one object and record it, in one transaction. Two foreign keys locking the same pair of tables in
 * opposite order can deadlock: PostgreSQL aborts one, which is simply retried. */
export async function runBuildJob(tgt: Client, job: BuildJob): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await withTransaction(tgt, async () => {
        for (const sql of job.statements) await tgt.query(sql);
        await markIndexDone(tgt, job.schema, job.table, job.stateName);
      });
      return;
    } catch (err) {
      if (errorCode(err) !== '40P01' || attempt >= 5) throw err;
    }
  }
}
