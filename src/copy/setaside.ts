// What `copy --data-only` set aside on the target (pgshift.copy_fk, pgshift.copy_trigger), kept as facts: the
// table (regclass text, resolved in the catalog when used), the key's name and catalog definition, the trigger's
// name. The statements that put them back are built here from those facts, identifiers quoted by quoteIdent; a
// definition that does not parse as a foreign key is refused, never run.
import { addForeignKeySql, parseForeignKeyDef, resolveTable } from '../catalog/foreign-key.js';
import type { Client } from '../db/connect.js';
import { qualify, quoteIdent } from '../db/ident.js';
import { PgshiftError } from '../errors.js';

export interface SetAside {
  kind: 'foreign key' | 'trigger';
  tbl: string;
  name: string;
  /** The statement that puts it back. */
  sql: string;
  /** Removes its row from the state (run in the same transaction). */
  forget: { text: string; values: string[] };
}

function refused(kind: string, tbl: string, name: string, why: string, def?: string): PgshiftError {
  return new PgshiftError(`the ${kind} ${name} on ${tbl} that copy --data-only set aside cannot be put back: ${why}`, {
    phase: 'finish',
    object: tbl,
    hint: `compare it with the source${def ? ` (${def})` : ''}, restore it by hand, then delete its row from pgshift.copy_${kind === 'trigger' ? 'trigger' : 'fk'}`,
  });
}

/** Everything still set aside, keys first (as finishDataOnly restores them), each with its statement. */
export async function loadSetAside(c: Client): Promise<SetAside[]> {
  const { rows: present } = await c.query<{ ok: boolean }>(`SELECT to_regclass('pgshift.copy_fk') IS NOT NULL AS ok`);
  if (!present[0]!.ok) return [];
  const out: SetAside[] = [];
  const { rows: keys } = await c.query<{ tbl: string; name: string; def: string }>(`SELECT tbl, name, def FROM pgshift.copy_fk ORDER BY tbl, name`);
  for (const k of keys) {
    const t = await resolveTable(c, k.tbl);
    if (!t) throw refused('foreign key', k.tbl, k.name, 'its table no longer exists', k.def);
    let fk;
    try {
      fk = parseForeignKeyDef(k.def);
    } catch (err) {
      throw refused('foreign key', k.tbl, k.name, `its definition does not read as a foreign key (${(err as Error).message})`, k.def);
    }
    out.push({
      kind: 'foreign key',
      tbl: k.tbl,
      name: k.name,
      sql: addForeignKeySql(t, k.name, fk),
      forget: { text: `DELETE FROM pgshift.copy_fk WHERE tbl = $1 AND name = $2`, values: [k.tbl, k.name] },
    });
  }
  const { rows: triggers } = await c.query<{ tbl: string; name: string }>(`SELECT tbl, name FROM pgshift.copy_trigger ORDER BY tbl, name`);
  for (const tr of triggers) {
    const t = await resolveTable(c, tr.tbl);
    if (!t) throw refused('trigger', tr.tbl, tr.name, 'its table no longer exists');
    out.push({
      kind: 'trigger',
      tbl: tr.tbl,
      name: tr.name,
      sql: `ALTER TABLE ${qualify(t.schema, t.name)} ENABLE TRIGGER ${quoteIdent(tr.name)}`,
      forget: { text: `DELETE FROM pgshift.copy_trigger WHERE tbl = $1 AND name = $2`, values: [tr.tbl, tr.name] },
    });
  }
  return out;
}
