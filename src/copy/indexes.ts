// Indexes and primary/unique/exclusion keys of plain tables, built by pgshift itself as soon as the table's data
// is in (in parallel with other tables' COPY). Partitioned trees keep pg_restore's order (ATTACH needs it).
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { qualify, quoteIdent } from '../db/ident.js';
import { markIndexDone } from '../state/store.js';

export interface IndexJob {
  schema: string;
  table: string;
  name: string;
  /** pg_class oid of the index and pg_constraint oid of its key: TOC entries pg_restore must then skip. */
  indexOid: number;
  constraintOid: number | null;
  statements: string[];
}

export async function listIndexJobs(snapshotClient: Client, tables: TableInfo[]): Promise<IndexJob[]> {
  const own = tables.filter((t) => t.relkind === 'r' && t.kind !== 'partition');
  if (own.length === 0) return [];
  const { rows } = await snapshotClient.query(
    `SELECT n.nspname AS schema, t.relname AS table, ic.relname AS name, i.indexrelid::int8 AS index_oid,
            con.oid::int8 AS con_oid, con.conname, pg_get_indexdef(i.indexrelid) AS indexdef,
            pg_get_constraintdef(con.oid) AS condef, i.indisreplident AS replident, i.indisclustered AS clustered
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = t.oid AND con.contype IN ('p', 'u', 'x')
      WHERE t.oid = ANY($1::oid[])
      ORDER BY n.nspname, t.relname, con.contype NULLS LAST, ic.relname`,
    [own.map((t) => t.oid)],
  );
  return rows.map((r) => {
    const table = qualify(r.schema, r.table);
    const statements = [r.con_oid ? `ALTER TABLE ONLY ${table} ADD CONSTRAINT ${quoteIdent(r.conname)} ${r.condef}` : r.indexdef];
    // pg_dump emits these inside the index's own TOC entry, which is skipped: keep them.
    if (r.replident) statements.push(`ALTER TABLE ONLY ${table} REPLICA IDENTITY USING INDEX ${quoteIdent(r.name)}`);
    if (r.clustered) statements.push(`ALTER TABLE ${table} CLUSTER ON ${quoteIdent(r.name)}`);
    return {
      schema: r.schema,
      table: r.table,
      name: r.name,
      indexOid: Number(r.index_oid),
      constraintOid: r.con_oid ? Number(r.con_oid) : null,
      statements,
    };
  });
}

export async function buildIndex(tgt: Client, job: IndexJob): Promise<void> {
  await tgt.query('BEGIN');
  try {
    for (const sql of job.statements) await tgt.query(sql);
    await markIndexDone(tgt, job.schema, job.table, job.name);
    await tgt.query('COMMIT');
  } catch (err) {
    await tgt.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
