// --data-only into an existing schema. The target's user triggers must not fire for copied rows, and a
// non-superuser can neither switch foreign-key triggers off nor order parallel chunks by reference. So user
// triggers are disabled and foreign keys touching the loaded tables are dropped for the load, then restored.
// Both are recorded in target state first, so a crash never leaves a trigger off or a key lost: the next
// run (--resume) restores them. Their state tables (copy_fk, copy_trigger) are defined in state/migrations.ts.
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { withTransaction } from '../db/connect.js';
import { loadSetAside } from './setaside.js';

export async function prepareDataOnly(ctl: Client, tables: TableInfo[]): Promise<void> {
  const rels = tables.map((t) => t.qualified);
  await withTransaction(ctl, async () => {
    await ctl.query(`SET LOCAL search_path = pg_catalog`); // fully qualified definitions and names
    const { rows: triggers } = await ctl.query<{ tbl: string; name: string }>(
      `SELECT tgrelid::regclass::text AS tbl, tgname AS name FROM pg_trigger
        WHERE NOT tgisinternal AND tgenabled <> 'D' AND tgrelid = ANY($1::regclass[])`,
      [rels],
    );
    for (const t of triggers) {
      await ctl.query(`INSERT INTO pgshift.copy_trigger (tbl, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [t.tbl, t.name]);
      // t.tbl is regclass output: already quoted and qualified as needed.
      await ctl.query(`ALTER TABLE ${t.tbl} DISABLE TRIGGER ${quoteIdent(t.name)}`);
    }
    const { rows: keys } = await ctl.query<{ tbl: string; name: string; def: string }>(
      `SELECT c.conrelid::regclass::text AS tbl, c.conname AS name, pg_get_constraintdef(c.oid) AS def
         FROM pg_constraint c
        WHERE c.contype = 'f' AND (c.conrelid = ANY($1::regclass[]) OR c.confrelid = ANY($1::regclass[]))`,
      [rels],
    );
    for (const k of keys) {
      await ctl.query(`INSERT INTO pgshift.copy_fk (tbl, name, def) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [k.tbl, k.name, k.def]);
      await ctl.query(`ALTER TABLE ${k.tbl} DROP CONSTRAINT ${quoteIdent(k.name)}`);
    }
  });
}

/** Re-add the recorded keys (validated, unless they were NOT VALID), then re-enable the recorded triggers. */
export async function finishDataOnly(ctl: Client): Promise<{ triggers: number; foreignKeys: number }> {
  const out = { triggers: 0, foreignKeys: 0 };
  // Statements built from the recorded facts (setaside.ts), never read from the state as SQL.
  for (const s of await loadSetAside(ctl)) {
    await withTransaction(ctl, async () => {
      await ctl.query(s.sql);
      await ctl.query(s.forget.text, s.forget.values);
    });
    if (s.kind === 'trigger') out.triggers++;
    else out.foreignKeys++;
  }
  return out;
}
