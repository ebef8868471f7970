// Can the connected role read all of a table? Shared by inventory (warnings) and copy's preflight (refusals).
import type { Client } from '../db/connect.js';

export interface ReadAccess {
  /** Tables the role has no SELECT on. */
  unreadable: Set<number>;
  /** Tables whose row-level security would hide rows: it applies to non-owners, and to owners under FORCE,
   * unless the role is superuser or BYPASSRLS. */
  hiddenByRls: Set<number>;
}

export async function readAccess(client: Client, oids: number[]): Promise<ReadAccess> {
  const { rows } = await client.query(
    `SELECT c.oid::int8 AS oid, NOT has_table_privilege(c.oid, 'SELECT') AS unreadable,
            c.relrowsecurity AND NOT r.rolsuper AND NOT r.rolbypassrls
              AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE')) AS hidden
       FROM pg_class c, pg_roles r
      WHERE c.oid = ANY($1::oid[]) AND r.rolname = current_user`,
    [oids],
  );
  const pick = (flag: string) => new Set(rows.filter((r) => r[flag]).map((r) => Number(r.oid)));
  return { unreadable: pick('unreadable'), hiddenByRls: pick('hidden') };
}
