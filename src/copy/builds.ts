// Post-data objects pgshift builds itself, in parallel with the remaining COPYs: indexes and primary/unique/
// exclusion keys of plain tables (as soon as the table's data is in) and foreign keys between plain tables (as
// soon as both tables are in and the referenced keys exist). Partitioned trees keep pg_restore's order
// (ATTACH needs it); everything else comes in the post-data restore after all data.
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { qualify, quoteIdent } from '../db/ident.js';
import { errorCode } from '../errors.js';
import { indexDone } from '../state/store.js';
import { runPipelined } from '../db/pipelined.js';
import { tableKey } from '../catalog/table-id.js';
import type { TocEntry } from '../schema/dump.js';
import { parseObjectTag } from '../schema/toc-tag.js';
import type { BuildJob } from './schedule.js';

export interface BuildPlan {
  jobs: BuildJob[];
  /** Catalog OIDs (index, key and foreign-key constraints) whose TOC entries pg_restore must then skip. */
  ownOids: Set<number>;
  /** COMMENT entries on those objects ("INDEX\0schema\0name", "CONSTRAINT\0schema\0table\0name"): each job
   * sets its own comments, so pg_restore must not (it would place them by TOC position, sometimes nowhere). */
  ownComments: Set<string>;
}

const commentKey = (...parts: string[]) => parts.join('\u0000');

/** True for a post-data TOC entry standing for something a build job makes (the object or its comment). */
export function builtByPgshift(plan: Pick<BuildPlan, 'ownOids' | 'ownComments'>, e: TocEntry): boolean {
  if (['INDEX', 'CONSTRAINT', 'FK CONSTRAINT'].includes(e.desc)) return plan.ownOids.has(e.oid);
  if (e.desc !== 'COMMENT') return false;
  const tag = parseObjectTag(e.rest);
  if (tag?.kind === 'INDEX' && tag.names.length === 1) return plan.ownComments.has(commentKey('INDEX', e.schema, tag.names[0]!));
  if (tag?.kind === 'CONSTRAINT' && tag.on !== undefined && tag.names.length === 1) {
    return plan.ownComments.has(commentKey('CONSTRAINT', e.schema, tag.on, tag.names[0]!));
  }
  return false;
}

/*
 * Everything pg_dump writes in an index's or key's own TOC entry is rebuilt here from the catalog:
 *  - CREATE INDEX from pg_get_indexdef (reloptions WITH (…), INCLUDE, NULLS NOT DISTINCT, predicate; never a
 *    tablespace — schema restores run --no-tablespaces too);
 *  - primary keys and unique constraints as that index + ADD CONSTRAINT … USING INDEX [DEFERRABLE [INITIALLY
 *    DEFERRED]]: pg_get_constraintdef() leaves their WITH (…) out;
 *  - exclusion constraints from pg_get_constraintdef (it keeps WITH (…) and WHERE);
 *  - ALTER INDEX … ALTER COLUMN n SET STATISTICS, CLUSTER ON, REPLICA IDENTITY USING INDEX;
 *  - and the COMMENT entries that hang off them (on the index and on the constraint).
 */
const INDEXES_SQL = `
SELECT n.nspname AS schema, t.relname AS table, ic.relname AS name, i.indexrelid::int8 AS index_oid,
       con.oid::int8 AS con_oid, con.conname, con.contype::text AS contype, con.condeferrable, con.condeferred,
       pg_get_indexdef(i.indexrelid) AS indexdef, pg_get_constraintdef(con.oid) AS condef,
       i.indisreplident AS replident, i.indisclustered AS clustered, i.indisunique AS is_unique,
       ARRAY(SELECT format('ALTER INDEX %I.%I ALTER COLUMN %s SET STATISTICS %s', n.nspname, ic.relname, a.attnum, a.attstattarget)
               FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0 ORDER BY a.attnum) AS stats,
       (SELECT format('COMMENT ON INDEX %I.%I IS %L', n.nspname, ic.relname, d.description) FROM pg_description d
         WHERE d.classoid = 'pg_class'::regclass AND d.objoid = i.indexrelid AND d.objsubid = 0) AS index_comment,
       (SELECT format('COMMENT ON CONSTRAINT %I ON %I.%I IS %L', con.conname, n.nspname, t.relname, d.description) FROM pg_description d
         WHERE d.classoid = 'pg_constraint'::regclass AND d.objoid = con.oid AND d.objsubid = 0) AS con_comment
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.oid AND con.contype IN ('p', 'u', 'x')
 -- An invalid index (a failed CREATE INDEX CONCURRENTLY) is not part of the schema: pg_dump leaves it out too,
 -- and building it could fail (a unique one over duplicates).
 WHERE t.oid = ANY($1::oid[]) AND i.indisvalid
 ORDER BY n.nspname, t.relname, con.contype NULLS LAST, ic.relname`;

const FKS_SQL = `
SELECT c.oid::int8 AS con_oid, c.conname, n.nspname AS schema, t.relname AS table,
       fn.nspname AS ref_schema, ft.relname AS ref_table, pg_get_constraintdef(c.oid) AS def,
       (SELECT format('COMMENT ON CONSTRAINT %I ON %I.%I IS %L', c.conname, n.nspname, t.relname, d.description) FROM pg_description d
         WHERE d.classoid = 'pg_constraint'::regclass AND d.objoid = c.oid AND d.objsubid = 0) AS comment
  FROM pg_constraint c
  JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_class ft ON ft.oid = c.confrelid JOIN pg_namespace fn ON fn.oid = ft.relnamespace
 WHERE c.contype = 'f' AND c.conparentid = 0 AND c.conrelid = ANY($1::oid[]) AND c.confrelid = ANY($1::oid[])
 ORDER BY 3, 4, 2`;

export async function listBuildJobs(snapshotClient: Client, tables: TableInfo[]): Promise<BuildPlan> {
  const own = tables.filter((t) => t.relkind === 'r' && t.kind !== 'partition');
  const plan: BuildPlan = { jobs: [], ownOids: new Set(), ownComments: new Set() };
  if (own.length === 0) return plan;
  const oids = own.map((t) => t.oid);
  const { rows: indexes } = await snapshotClient.query(INDEXES_SQL, [oids]);
  for (const r of indexes) {
    const table = qualify(r.schema, r.table);
    const key = tableKey({ schema: r.schema, name: r.table });
    plan.ownOids.add(Number(r.index_oid));
    plan.ownComments.add(commentKey('INDEX', r.schema, r.name));
    if (r.con_oid) {
      plan.ownOids.add(Number(r.con_oid));
      plan.ownComments.add(commentKey('CONSTRAINT', r.schema, r.table, r.conname));
    }
    const job = { kind: 'index' as const, schema: r.schema, table: r.table, name: r.name, needsData: [key], needsKeys: [] };
    if (r.contype === 'x') {
      // One ALTER TABLE builds the index and the constraint: nothing to split.
      const statements = [`ALTER TABLE ONLY ${table} ADD CONSTRAINT ${quoteIdent(r.conname)} ${r.condef}`, ...(r.stats as string[])];
      if (r.clustered) statements.push(`ALTER TABLE ${table} CLUSTER ON ${quoteIdent(r.name)}`);
      if (r.index_comment) statements.push(r.index_comment);
      if (r.con_comment) statements.push(r.con_comment);
      plan.jobs.push({ ...job, stateName: r.name, statements, isKey: r.is_unique });
      continue;
    }
    const build = [r.indexdef as string, ...(r.stats as string[])];
    if (r.index_comment) build.push(r.index_comment);
    const attach: string[] = [];
    if (r.con_oid) {
      const deferral = `${r.condeferrable ? ' DEFERRABLE' : ''}${r.condeferred ? ' INITIALLY DEFERRED' : ''}`;
      const what = r.contype === 'p' ? 'PRIMARY KEY' : 'UNIQUE';
      attach.push(`ALTER TABLE ONLY ${table} ADD CONSTRAINT ${quoteIdent(r.conname)} ${what} USING INDEX ${quoteIdent(r.name)}${deferral}`);
    }
    if (r.replident) attach.push(`ALTER TABLE ONLY ${table} REPLICA IDENTITY USING INDEX ${quoteIdent(r.name)}`);
    if (r.clustered) attach.push(`ALTER TABLE ${table} CLUSTER ON ${quoteIdent(r.name)}`);
    if (r.con_comment) attach.push(r.con_comment);
    if (attach.length === 0) {
      plan.jobs.push({ ...job, stateName: r.name, statements: build, isKey: r.is_unique });
      continue;
    }
    // ALTER TABLE needs a lock that conflicts with the SHARE lock of every CREATE INDEX on the table: run in the
    // same job, it would hold its builder idle until the table's other builds commit (and two keys of one table
    // would deadlock). So the index is built on its own, and the ALTER TABLEs come as a second job once every
    // build on the table is done. The second job records the index's own name, which older states wrote for
    // the whole key: a resumed older state skips both.
    plan.jobs.push({ ...job, stateName: `index ${r.name}`, doneWith: r.name, statements: build });
    plan.jobs.push({ ...job, stateName: r.name, statements: attach, isKey: r.is_unique, attach: true });
  }
  const { rows: fks } = await snapshotClient.query(FKS_SQL, [oids]);
  for (const r of fks) {
    const child = qualify(r.schema, r.table);
    const ref = tableKey({ schema: r.ref_schema, name: r.ref_table });
    const stateName = `FK ${r.table}.${r.conname}`;
    const job = {
      kind: 'foreign key' as const,
      schema: r.schema,
      table: r.table,
      name: r.conname,
      needsData: [tableKey({ schema: r.schema, name: r.table }), ref],
      needsKeys: [ref],
    };
    plan.ownOids.add(Number(r.con_oid));
    plan.ownComments.add(commentKey('CONSTRAINT', r.schema, r.table, r.conname));
    // pg_get_constraintdef keeps NOT VALID, DEFERRABLE and INITIALLY DEFERRED.
    const notValid = / NOT VALID$/.test(r.def);
    const add = [`ALTER TABLE ONLY ${child} ADD CONSTRAINT ${quoteIdent(r.conname)} ${r.def}${notValid ? '' : ' NOT VALID'}`];
    if (r.comment) add.push(r.comment);
    if (notValid) {
      plan.jobs.push({ ...job, stateName, statements: add });
      continue;
    }
    // ADD FOREIGN KEY holds SHARE ROW EXCLUSIVE on both tables while it checks every row, so checks of keys that
    // reference the same table (every table pointing at users) would run one at a time. Added NOT VALID (no
    // check, a moment's lock), then VALIDATE CONSTRAINT (SHARE UPDATE EXCLUSIVE on the referencing table, ROW
    // SHARE on the referenced one), they run side by side. The same check, the same catalog in the end. The
    // VALIDATE job records the name older states wrote for the whole key: a resumed older state skips both.
    plan.jobs.push({ ...job, stateName: `${stateName} NOT VALID`, doneWith: stateName, statements: add });
    plan.jobs.push({
      ...job,
      stateName,
      statements: [`ALTER TABLE ONLY ${child} VALIDATE CONSTRAINT ${quoteIdent(r.conname)}`],
      validate: true,
      after: `${stateName} NOT VALID`,
    });
  }
  return plan;
}

/** Build one object and record it, in one transaction and one round trip. Two foreign keys locking the same pair
 * of tables in opposite order can deadlock: PostgreSQL aborts one, which is simply retried. */
export async function runBuildJob(tgt: Client, job: BuildJob): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await runPipelined(tgt, [
        { text: 'BEGIN' },
        ...job.statements.map((text) => ({ text })),
        indexDone(job.schema, job.table, job.stateName),
        { text: 'COMMIT' },
      ]);
      return;
    } catch (err) {
      await tgt.query('ROLLBACK').catch(() => undefined);
      if (errorCode(err) !== '40P01' || attempt >= 5) throw err;
    }
  }
}
