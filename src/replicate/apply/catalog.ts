// What the applier must know about a target table to write it: column types (format_type, schema-qualified),
// generated and identity columns, and whether it is partitioned. Read from the TARGET: values are cast to the
// target's column types, and generated columns there are never written.
import type { Client } from '../../db/connect.js';
import { qualify } from '../../db/ident.js';
import { PgshiftError } from '../../errors.js';
import { tableLabel, type TableId } from '../change.js';

export interface TargetColumn {
  name: string;
  /** format_type() read with search_path = pg_catalog: every non-catalog type is schema-qualified. */
  type: string;
  typeOid: number;
  generated: boolean;
  identity: 'always' | 'by-default' | null;
}

export interface TargetTable {
  id: TableId;
  qualified: string;
  label: string;
  partitioned: boolean;
  columns: Map<string, TargetColumn>;
  /**
   * Columns of the target's unique indexes and exclusion constraints ('all' when one is on an expression).
   * An UPDATE run that writes none of them cannot hit a transient uniqueness conflict, so it may be applied
   * as one set-based statement (see writer.ts).
   */
  constrained: Set<string> | 'all';
  /** The target's replica-identity key (REPLICA IDENTITY USING INDEX, else the primary key), null for none. */
  identityKey: string[] | null;
}

/** The applier's session runs with search_path = pg_catalog (see APPLY_SETTINGS), so format_type qualifies user types. */
export async function loadTargetTable(client: Client, id: TableId): Promise<TargetTable> {
  const { rows } = await client.query(
    `SELECT c.relkind::text AS relkind, a.attname AS name,
            format_type(a.atttypid, a.atttypmod) AS type,
            a.atttypid::int8 AS type_oid, a.attgenerated <> '' AS generated, a.attidentity::text AS identity
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
      ORDER BY a.attnum`,
    [id.schema, id.name],
  );
  if (rows.length === 0) {
    throw new PgshiftError(`streaming: table ${tableLabel(id)} does not exist on the target`, {
      phase: 'streaming',
      object: tableLabel(id),
      hint: `create it on the target with the same definition as on the source (DDL is not replicated), then run the same command again`,
    });
  }
  const columns = new Map<string, TargetColumn>();
  for (const r of rows) {
    if (r.name === null) continue;
    columns.set(r.name, {
      name: r.name,
      type: r.type,
      typeOid: Number(r.type_oid),
      generated: r.generated,
      identity: r.identity === 'a' ? 'always' : r.identity === 'd' ? 'by-default' : null,
    });
  }
  return {
    id,
    qualified: qualify(id.schema, id.name),
    label: tableLabel(id),
    partitioned: rows[0].relkind === 'p',
    columns,
    constrained: await constrainedColumns(client, id),
    identityKey: await identityKey(client, id),
  };
}

async function identityKey(client: Client, id: TableId): Promise<string[] | null> {
  const { rows } = await client.query(
    `SELECT a.attname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_index i ON i.indrelid = c.oid AND (i.indisreplident OR (c.relreplident = 'd' AND i.indisprimary))
       CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos)
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relreplident IN ('d', 'i')
      ORDER BY k.pos`,
    [id.schema, id.name],
  );
  return rows.length ? rows.map((r) => r.name as string) : null;
}

async function constrainedColumns(client: Client, id: TableId): Promise<Set<string> | 'all'> {
  const { rows } = await client.query(
    `SELECT a.attname AS name, k.attnum = 0 AS expression
       FROM pg_index i
       JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN LATERAL unnest(i.indkey::int2[]) AS k(attnum)
       LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE n.nspname = $1 AND c.relname = $2 AND (i.indisunique OR i.indisexclusion)
     UNION ALL
     SELECT NULL, true FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND (i.indisunique OR i.indisexclusion) AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)`,
    [id.schema, id.name],
  );
  if (rows.some((r) => r.expression)) return 'all';
  return new Set(rows.map((r) => r.name as string));
}
