// The cutover's baseline: the last online verify that passed (pgshift.verify_point.passed_at) and, per table, the
// changes the applier committed on the target after that point (pgshift.verify_changed: added in the same target
// transaction as the changes, under the epoch of the last point reached, so the sum over the baseline's point and
// every later one is exactly what changed since). A freeze then needs to verify only those tables.
import type { Client } from '../db/connect.js';
import { displayName } from '../db/ident.js';
import { assertStateTrusted } from '../state/trust.js';

export interface Baseline {
  /** Where the verify found source and target equal (an LSN, or the source pg_snapshot of trigger capture). */
  position: string;
  /** When the applier reached that point. */
  at: Date;
  /** schema.table (quoted only when needed) → changes applied since, for every table changed since. */
  tables: Map<string, number>;
}

/** The baseline and what changed since it, or null when no online verify has passed on this target. */
export async function changedSinceBaseline(client: Client): Promise<Baseline | null> {
  const { rows: t } = await client.query(`SELECT to_regclass('pgshift.verify_point') IS NOT NULL AS ok`);
  if (!t[0].ok) return null;
  await assertStateTrusted(client, 'the target');
  const { rows } = await client.query(
    `SELECT id, position, reached_at FROM pgshift.verify_point WHERE passed_at IS NOT NULL AND reached_at IS NOT NULL ORDER BY id DESC LIMIT 1`,
  );
  const b = rows[0];
  if (!b) return null;
  const { rows: changed } = await client.query(
    `SELECT table_schema, table_name, sum(changes)::int8::text AS n FROM pgshift.verify_changed WHERE point >= $1
      GROUP BY table_schema, table_name ORDER BY table_schema, table_name`,
    [b.id],
  );
  return {
    position: b.position,
    at: b.reached_at,
    tables: new Map(changed.map((r) => [displayName(r.table_schema, r.table_name), Number(r.n)])),
  };
}
