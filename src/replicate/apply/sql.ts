// Pure SQL builders for the applier (unit-tested). Values are never in the SQL: each is a text bind parameter
// cast to the target column's type, so the server parses exactly the text the source produced.
import { quoteIdent } from '../../db/ident.js';
import type { Identity } from '../change.js';
import type { TargetTable } from './catalog.js';

export interface Statement {
  text: string;
  /** Column names in parameter order (for a multi-row INSERT: one text[] parameter per column). */
  params: string[];
}

function typeOf(t: TargetTable, col: string): string {
  const c = t.columns.get(col);
  if (!c) throw new Error(`column ${col} is not in ${t.label}`);
  return c.type;
}

/**
 * Multi-row INSERT of rows sharing one column list: one text[] per column, unnest()ed and cast. Identity ALWAYS
 * columns take the source's values (OVERRIDING SYSTEM VALUE); generated columns must not be in `cols`.
 */
export function insertSql(t: TargetTable, cols: string[]): Statement {
  if (cols.length === 0) return { text: `INSERT INTO ${t.qualified} DEFAULT VALUES`, params: [] };
  const names = cols.map(quoteIdent).join(', ');
  const casts = cols.map((c, i) => `u.v${i + 1}::${typeOf(t, c)}`).join(', ');
  const arrays = cols.map((_, i) => `$${i + 1}::text[]`).join(', ');
  const alias = cols.map((_, i) => `v${i + 1}`).join(', ');
  return {
    text: `INSERT INTO ${t.qualified} (${names}) OVERRIDING SYSTEM VALUE SELECT ${casts} FROM unnest(${arrays}) AS u(${alias})`,
    params: cols,
  };
}

/**
 * The predicate that finds the old row. 'key': equality on the replica-identity columns (at most one row).
 * 'full': the whole old row, compared through the target's text form (works for types without an equality
 * operator such as json or point; NULLs match NULLs), and only ONE of several identical rows is chosen: by
 * ctid (and tableoid for a partitioned table, where ctids repeat across partitions).
 */
function locate(t: TargetTable, identity: Identity, keyCols: string[], first: number): string {
  if (identity === 'key') {
    return keyCols.map((c, i) => `${quoteIdent(c)} = $${first + i}::${typeOf(t, c)}`).join(' AND ');
  }
  const match = keyCols.length
    ? keyCols.map((c, i) => `${quoteIdent(c)}::text IS NOT DISTINCT FROM $${first + i}::${typeOf(t, c)}::text`).join(' AND ')
    : 'true';
  const tid = t.partitioned ? '(tableoid, ctid)' : 'ctid';
  return `${tid} = (SELECT ${tid} FROM ${t.qualified} WHERE ${match} LIMIT 1)`;
}

/** UPDATE of the carried columns only (absent = unchanged TOAST); the row found by `locate`. */
export function updateSql(t: TargetTable, setCols: string[], identity: Identity, keyCols: string[]): Statement {
  const sets = setCols.map((c, i) => `${quoteIdent(c)} = $${i + 1}::${typeOf(t, c)}`).join(', ');
  return {
    text: `UPDATE ${t.qualified} SET ${sets} WHERE ${locate(t, identity, keyCols, setCols.length + 1)}`,
    params: [...setCols, ...keyCols],
  };
}

export function deleteSql(t: TargetTable, identity: Identity, keyCols: string[]): Statement {
  return { text: `DELETE FROM ${t.qualified} WHERE ${locate(t, identity, keyCols, 1)}`, params: keyCols };
}

/** ONLY for plain tables (an inheritance parent's children arrive as their own relations); not allowed on partitioned ones. */
export function truncateSql(tables: TargetTable[], restartIdentity: boolean): string {
  const list = tables.map((t) => (t.partitioned ? t.qualified : `ONLY ${t.qualified}`)).join(', ');
  return `TRUNCATE ${list}${restartIdentity ? ' RESTART IDENTITY' : ''}`;
}
