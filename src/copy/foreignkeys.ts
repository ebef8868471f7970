// --data-only into an existing schema: a non-superuser cannot switch foreign-key triggers off, and parallel
// chunks arrive in any order. So the target's foreign keys touching the loaded tables are dropped for the load
// and re-added after it — their definitions saved in target state first, so a crash never loses one.
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';

export async function parkForeignKeys(ctl: Client, tables: TableInfo[]): Promise<number> {
  await ctl.query(`CREATE TABLE IF NOT EXISTS pgshift.copy_fk (tbl text NOT NULL, name text NOT NULL, def text NOT NULL, PRIMARY KEY (tbl, name))`);
  await ctl.query('BEGIN');
  try {
    await ctl.query(`SET LOCAL search_path = pg_catalog`); // fully qualified definitions
    const { rows } = await ctl.query(
      `SELECT c.conrelid::regclass::text AS tbl, c.conname AS name, pg_get_constraintdef(c.oid) AS def
         FROM pg_constraint c
        WHERE c.contype = 'f' AND (c.conrelid = ANY($1::regclass[]) OR c.confrelid = ANY($1::regclass[]))`,
      [tables.map((t) => t.qualified)],
    );
    for (const r of rows) {
      await ctl.query(`INSERT INTO pgshift.copy_fk (tbl, name, def) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [r.tbl, r.name, r.def]);
      // r.tbl is regclass output: already quoted and qualified as needed.
      await ctl.query(`ALTER TABLE ${r.tbl} DROP CONSTRAINT ${quoteIdent(r.name)}`);
    }
    await ctl.query('COMMIT');
    return rows.length;
  } catch (err) {
    await ctl.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Re-add every parked key (validating it, unless it was NOT VALID); also finishes the job after a crash. */
export async function restoreForeignKeys(ctl: Client): Promise<number> {
  const { rows: exists } = await ctl.query(`SELECT to_regclass('pgshift.copy_fk') IS NOT NULL AS ok`);
  if (!exists[0].ok) return 0;
  const { rows } = await ctl.query(`SELECT tbl, name, def FROM pgshift.copy_fk ORDER BY tbl, name`);
  for (const r of rows) {
    await ctl.query('BEGIN');
    try {
      await ctl.query(`ALTER TABLE ${r.tbl} ADD CONSTRAINT ${quoteIdent(r.name)} ${r.def}`);
      await ctl.query(`DELETE FROM pgshift.copy_fk WHERE tbl = $1 AND name = $2`, [r.tbl, r.name]);
      await ctl.query('COMMIT');
    } catch (err) {
      await ctl.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
  return rows.length;
}
