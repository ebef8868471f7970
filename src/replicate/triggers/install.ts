// Change capture by triggers, for sources whose role has no REPLICATION (Heroku classic): what is installed on
// the source by its database owner, in the schema _pgshift, in ONE transaction (all or nothing, so an
// interrupted install never leaves a half-installed trigger that could make the application's writes fail).
//
// Per captured table: one plpgsql function and four statement-level AFTER triggers (INSERT, UPDATE, DELETE with
// transition tables — one INSERT … SELECT per statement, whatever its row count — and TRUNCATE). The log holds
// the writing transaction's id (xid8), the table, the operation and the row IDENTITY only: the primary-key
// values as text[] (old AND new key of an UPDATE, so a key change is seen), or, for a table without a key, the
// whole row's text (old and new image). The applier re-reads the current rows from the source (see apply.ts):
// measured cheaper on the write path than full row images (bench/capture-overhead.ts, docs/benchmarks.md).
//
// The log belongs to pgshift alone (issue 22): the functions are the only writers — SECURITY DEFINER, owned by the
// installing role, with search_path pinned to pg_catalog, pg_temp and every type and operator schema-qualified
// (a session's own `text` or `=` cannot change what is logged) — and nothing in _pgshift is granted to anyone
// (acl.ts revokes what PUBLIC or default privileges would give, and checks it before every run).
import { quoteIdent } from '../../db/ident.js';
import type { TableInfo } from '../../catalog/tables.js';
import { CAPTURE_SCHEMA } from '../../catalog/system.js';

export const LOG = `${quoteIdent(CAPTURE_SCHEMA)}.log`;
export const TRIGGER_PREFIX = '_pgshift_capture_';

/** What is captured for one source table; stored in the target state (pgshift.capture.tables). */
export interface CapturedTable {
  oid: number;
  schema: string;
  name: string;
  /** 'r' plain/leaf/inheritance table, 'p' partitioned (its rows live in its partitions). */
  relkind: 'r' | 'p';
  /** Primary-key columns; null → the table is a multiset, logged by whole-row images. */
  key: string[] | null;
  /** Source types of the key columns (format_type, qualified), for casting the logged text back. */
  keyTypes: string[];
  /** Inheritance (not partition) descendants: a statement on this table also changes their rows. */
  inheritanceChildren: number[];
}

// Output functions whose text does not depend on session settings (DateStyle, TimeZone, extra_float_digits,
// IntervalStyle, bytea_output). Any other type in the logged columns makes the function pin those settings, so
// the logged text compares equal to what the applier reads under its own fixed settings.
const SETTINGS_FREE_TYPES = new Set([16, 18, 19, 20, 21, 23, 25, 26, 114, 1042, 1043, 1700, 2950, 3802]);

/**
 * Pinned in every capture function (it runs in the application's sessions, as its owner) and in the applier's
 * sessions: names resolve to pg_catalog only, and reg* values (regclass, regtype, …) print the same,
 * schema-qualified, on both sides, whatever search_path the writing session has.
 */
export const CAPTURE_SEARCH_PATH = 'pg_catalog, pg_temp';

export const CAPTURE_SETTINGS: Record<string, string> = {
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  extra_float_digits: '1',
  bytea_output: 'hex',
};

export function planCapture(tables: TableInfo[]): CapturedTable[] {
  const byDisplay = new Map(tables.map((t) => [t.display, t]));
  const out: CapturedTable[] = [];
  for (const t of tables) {
    if (t.relkind !== 'r' && t.relkind !== 'p') continue;
    const key = t.primaryKey && t.primaryKey.length > 0 ? t.primaryKey : null;
    const types = new Map(t.columns.map((c) => [c.name, c.type]));
    const children: number[] = [];
    if (t.relkind === 'r' && t.hasInheritanceChildren) {
      // Every inheritance descendant (they name their parent in display form).
      const queue = [t.display];
      while (queue.length) {
        const p = queue.shift()!;
        for (const c of tables) {
          if (c.kind === 'inheritance-child' && c.parent === p) {
            children.push(c.oid);
            queue.push(c.display);
          }
        }
      }
    }
    void byDisplay;
    out.push({
      oid: t.oid,
      schema: t.schema,
      name: t.name,
      relkind: t.relkind,
      key,
      keyTypes: key ? key.map((k) => types.get(k)!) : [],
      inheritanceChildren: children,
    });
  }
  return out;
}

/** Does the logged text of this table depend on session settings (so the function must pin them)? */
export function needsPinnedSettings(t: TableInfo): boolean {
  const logged = t.primaryKey && t.primaryKey.length ? t.columns.filter((c) => t.primaryKey!.includes(c.name)) : t.columns;
  return logged.some((c) => !SETTINGS_FREE_TYPES.has(c.typeOid));
}

export function functionName(oid: number): string {
  return `${quoteIdent(CAPTURE_SCHEMA)}.${quoteIdent(`capture_${oid}`)}`;
}

/**
 * The identity expression logged for a row `alias` of the table (transition-table row). The whole row is
 * `(alias.*)`, never the bare alias: a column named like the alias (n, o) would be taken instead of the row.
 */
function identityExpr(key: string[] | null, alias: string): string {
  if (!key) return `ARRAY[(${alias}.*)::pg_catalog.text]`;
  return `ARRAY[${key.map((k) => `${alias}.${quoteIdent(k)}::pg_catalog.text`).join(', ')}]`;
}

function dollarQuote(body: string): string {
  let tag = '$pgshift$';
  for (let i = 0; body.includes(tag); i++) tag = `$pgshift${i}$`;
  return `${tag}${body}${tag}`;
}

/** CREATE FUNCTION + triggers for one table (run inside the install transaction). */
export function captureSql(t: TableInfo): string[] {
  const key = t.primaryKey && t.primaryKey.length ? t.primaryKey : null;
  const ins = `INSERT INTO ${LOG} (tbl, op, key)`;
  const tbl = `${t.oid}::pg_catalog.oid`;
  const op = (o: string) => `'${o}'::pg_catalog."char"`;
  const is = (o: string) => `TG_OP OPERATOR(pg_catalog.=) '${o}'::pg_catalog.text`;
  // Old and new identity of every updated row (a changed key must be seen). UNION ALL, not UNION: deduplicating
  // here cost more per statement than the extra log row (bench/capture-overhead.ts); the applier reads DISTINCT.
  const updated = `SELECT ${tbl}, ${op('U')}, ${identityExpr(key, 'n')} FROM _pgshift_new n UNION ALL SELECT ${tbl}, ${op('U')}, ${identityExpr(key, 'o')} FROM _pgshift_old o`;
  const body = `
BEGIN
  IF ${is('INSERT')} THEN
    ${ins} SELECT ${tbl}, ${op('I')}, ${identityExpr(key, 'n')} FROM _pgshift_new n;
  ELSIF ${is('UPDATE')} THEN
    ${ins} ${updated};
  ELSIF ${is('DELETE')} THEN
    ${ins} SELECT ${tbl}, ${op('D')}, ${identityExpr(key, 'o')} FROM _pgshift_old o;
  ELSIF ${is('TRUNCATE')} THEN
    ${ins} VALUES (${tbl}, ${op('T')}, NULL);
  END IF;
  RETURN NULL;
END`;
  const settings =
    ` SET search_path TO ${CAPTURE_SEARCH_PATH}` +
    (needsPinnedSettings(t)
      ? Object.entries(CAPTURE_SETTINGS)
          .map(([k, v]) => ` SET ${k} TO '${v.replace(/'/g, "''")}'`)
          .join('')
      : '');
  const fn = functionName(t.oid);
  const trig = (op: string) => quoteIdent(`${TRIGGER_PREFIX}${op}`);
  const on = t.qualified;
  return [
    `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER${settings} AS ${dollarQuote(body)}`,
    `CREATE TRIGGER ${trig('insert')} AFTER INSERT ON ${on} REFERENCING NEW TABLE AS _pgshift_new FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
    `CREATE TRIGGER ${trig('update')} AFTER UPDATE ON ${on} REFERENCING OLD TABLE AS _pgshift_old NEW TABLE AS _pgshift_new FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
    `CREATE TRIGGER ${trig('delete')} AFTER DELETE ON ${on} REFERENCING OLD TABLE AS _pgshift_old FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
    `CREATE TRIGGER ${trig('truncate')} AFTER TRUNCATE ON ${on} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
  ];
}

/**
 * The log: a queue scanned whole (no index to maintain on the write path). `xid` decides what the initial copy
 * already holds and what a batch consumes (pg_visible_in_snapshot); `id` and `at` are for order and lag.
 * Nothing is granted: the capture functions (SECURITY DEFINER) write it as its owner, whoever writes the table.
 */
export function logSql(comment: string): string[] {
  const schema = quoteIdent(CAPTURE_SCHEMA);
  return [
    `CREATE SCHEMA ${schema}`,
    `COMMENT ON SCHEMA ${schema} IS ${literal(comment)}`,
    `CREATE TABLE ${LOG} (
       id   pg_catalog.int8 GENERATED ALWAYS AS IDENTITY,
       xid  pg_catalog.xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
       tbl  pg_catalog.oid NOT NULL,
       op   pg_catalog."char" NOT NULL,
       key  pg_catalog.text[],
       at   pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
     ) WITH (autovacuum_vacuum_scale_factor = 0.02)`,
  ];
}

/** Only for the schema comment (DDL takes no bind parameters); the text is pgshift's own. */
function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
