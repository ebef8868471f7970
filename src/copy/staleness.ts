// Did the source change between a copy and its resume? The statistics counters of inserted, updated and deleted
// rows per table tell (approximately: they are flushed about once a second) without reading any data.
import { tableKey, type TableId } from '../catalog/table-id.js';
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';

export type ChangeCounters = (TableId & { changes: number | null })[];

export async function sourceChangeCounters(snap: Client, tables: TableInfo[]): Promise<ChangeCounters> {
  if (tables.length === 0) return [];
  const { rows } = await snap.query<{ oid: string; n: string | null }>(
    `SELECT relid::int8 AS oid, (n_tup_ins + n_tup_upd + n_tup_del)::int8 AS n FROM pg_stat_all_tables WHERE relid = ANY($1::oid[])`,
    [tables.map((t) => t.oid)],
  );
  const byOid = new Map(rows.map((r) => [Number(r.oid), r.n === null ? null : Number(r.n)]));
  return tables.map((t) => ({ schema: t.schema, name: t.name, changes: byOid.get(t.oid) ?? null }));
}

/** tableKeys whose counter moved (or is unknown on either side). */
export function changedTables(before: Map<string, number | null>, now: ChangeCounters): string[] {
  return now
    .filter((c) => {
      const b = before.get(tableKey(c));
      return b === undefined || b === null || c.changes === null || b !== c.changes;
    })
    .map(tableKey);
}
