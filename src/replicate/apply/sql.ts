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

/** UPDATE/DELETE touch this table's own rows only: not an inheritance child's (those arrive as their own relation). */
function only(t: TargetTable): string {
  return t.partitioned ? t.qualified : `ONLY ${t.qualified}`;
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
 * ctid (and tableoid for a partitioned table, where ctids repeat across partitions). An identical row that no
 * other session holds locked is preferred: a large transaction still open on the target (streamed, see
 * streamed.ts) may hold one, and on the source a transaction that committed before it changed another of the
 * identical rows — waiting for that lock would wait for a commit that waits for this batch. Only when every
 * identical row is locked does it wait, as before. (A partitioned table without a key still waits: the pair
 * (tableoid, ctid) has no such coalesce that keeps the TID scan.)
 */
function locate(t: TargetTable, identity: Identity, keyCols: string[], first: number, p: Param): string {
  if (identity === 'key') {
    return keyCols.map((c, i) => `${quoteIdent(c)} = ${p(first + i)}::${typeOf(t, c)}`).join(' AND ');
  }
  const match = keyCols.length
    ? keyCols.map((c, i) => `${quoteIdent(c)}::text IS NOT DISTINCT FROM ${p(first + i)}::${typeOf(t, c)}::text`).join(' AND ')
    : 'true';
  const tid = t.partitioned ? 'tableoid, ctid' : 'ctid';
  if (t.partitioned) return `(${tid}) = (SELECT ${tid} FROM ${only(t)} WHERE ${match} LIMIT 1)`;
  // ctid = … keeps the TID scan; the second pick (which waits) runs only when every identical row is locked.
  const pick = (lock: string) => `(SELECT ctid FROM ${only(t)} WHERE ${match} LIMIT 1${lock})`;
  return `ctid = coalesce(${pick(' FOR UPDATE SKIP LOCKED')}, ${pick('')})`;
}

/** How parameter n is written: `$n`, or `($1)[n]` for a statement run once per row of a text[][] (applyRowsSql). */
export type Param = (n: number) => string;
export const dollar: Param = (n) => `$${n}`;
export const element: Param = (n) => `($1)[${n}]`;

/** UPDATE of the carried columns only (absent = unchanged TOAST); the row found by `locate`. */
export function updateSql(t: TargetTable, setCols: string[], identity: Identity, keyCols: string[], p: Param = dollar): Statement {
  const sets = setCols.map((c, i) => `${quoteIdent(c)} = ${p(i + 1)}::${typeOf(t, c)}`).join(', ');
  return {
    text: `UPDATE ${only(t)} SET ${sets} WHERE ${locate(t, identity, keyCols, setCols.length + 1, p)}`,
    params: [...setCols, ...keyCols],
  };
}

/**
 * Set-based UPDATE of many rows by replica-identity key: one text[] per SET column, then one per key column.
 * The caller guarantees one entry per key (a run's later changes to a row replace its earlier ones) and that
 * no SET column belongs to a unique index or exclusion constraint, so the order rows are visited in cannot
 * matter. Both relations are aliased so no column name can be ambiguous.
 */
export function updateByKeysSql(t: TargetTable, setCols: string[], keyCols: string[]): Statement {
  const n = setCols.length;
  const sets = setCols.map((c, i) => `${quoteIdent(c)} = pgshift_u.v${i + 1}::${typeOf(t, c)}`).join(', ');
  const match = keyCols.map((c, i) => `pgshift_t.${quoteIdent(c)} = pgshift_u.v${n + i + 1}::${typeOf(t, c)}`).join(' AND ');
  const all = [...setCols, ...keyCols];
  const arrays = all.map((_, i) => `$${i + 1}::text[]`).join(', ');
  const alias = all.map((_, i) => `v${i + 1}`).join(', ');
  return {
    text: `UPDATE ${only(t)} AS pgshift_t SET ${sets} FROM unnest(${arrays}) AS pgshift_u(${alias}) WHERE ${match}`,
    params: all,
  };
}

/** Multi-row DELETE by replica-identity key (one text[] per key column): deletes never conflict with each other. */
export function deleteByKeysSql(t: TargetTable, keyCols: string[]): Statement {
  const cols = keyCols.map(quoteIdent).join(', ');
  const casts = keyCols.map((c, i) => `u.v${i + 1}::${typeOf(t, c)}`).join(', ');
  const arrays = keyCols.map((_, i) => `$${i + 1}::text[]`).join(', ');
  const alias = keyCols.map((_, i) => `v${i + 1}`).join(', ');
  return { text: `DELETE FROM ${only(t)} WHERE (${cols}) IN (SELECT ${casts} FROM unnest(${arrays}) AS u(${alias}))`, params: keyCols };
}

export function deleteSql(t: TargetTable, identity: Identity, keyCols: string[], p: Param = dollar): Statement {
  return { text: `DELETE FROM ${only(t)} WHERE ${locate(t, identity, keyCols, 1, p)}`, params: keyCols };
}

/**
 * One round trip for a run of UPDATEs/DELETEs of one shape, applied IN ORDER by pgshift.apply_rows (each row
 * its own statement: no reordering, so unique constraints see the same sequence as on the source). $1 is the
 * statement (written with `element` parameters), $2 a text[][] of its values, one row per change. Returns the
 * number of rows that matched nothing.
 */
export const APPLY_ROWS_SQL = `SELECT pgshift.apply_rows($1, $2::text[]) AS missing`;

/** The function's body (pg_proc.prosrc): a rerun replaces the function only when it differs. */
export const APPLY_ROWS_BODY = `
DECLARE r text[]; n integer; missing integer := 0;
BEGIN
  FOREACH r SLICE 1 IN ARRAY rows LOOP
    EXECUTE stmt USING r;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN missing := missing + 1; END IF;
  END LOOP;
  RETURN missing;
END `;

export const APPLY_ROWS_FUNCTION = `
CREATE OR REPLACE FUNCTION pgshift.apply_rows(stmt text, rows text[]) RETURNS integer LANGUAGE plpgsql AS $fn$${APPLY_ROWS_BODY}$fn$;`;

/** ONLY for plain tables (an inheritance parent's children arrive as their own relations); not allowed on partitioned ones. */
export function truncateSql(tables: TargetTable[], restartIdentity: boolean): string {
  const list = tables.map(only).join(', ');
  return `TRUNCATE ${list}${restartIdentity ? ' RESTART IDENTITY' : ''}`;
}
