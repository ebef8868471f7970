// Installing and removing the capture on the source, each in one transaction retried on lock timeouts (locks.ts).
import type { Client } from '../../db/connect.js';
import { PgshiftError } from '../../errors.js';
import { withLockRetries } from './locks.js';
import type { Logger } from '../../log.js';
import type { TableInfo } from '../../catalog/tables.js';
import { CAPTURE_SCHEMA } from '../../catalog/system.js';
import { quoteIdent } from '../../db/ident.js';
import { captureSql, logSql, TRIGGER_PREFIX } from './install.js';
import { lockDownCapture } from './acl.js';

export async function captureInstalled(src: Client): Promise<{ schema: boolean; comment: string | null }> {
  const { rows } = await src.query(`SELECT obj_description(n.oid, 'pg_namespace') AS comment FROM pg_namespace n WHERE n.nspname = $1`, [CAPTURE_SCHEMA]);
  return { schema: rows.length > 0, comment: rows[0]?.comment ?? null };
}

/** All of it in one transaction: the log, then per table its function and four triggers. */
export async function installCapture(src: Client, tables: TableInfo[], comment: string, logger: Logger): Promise<void> {
  await withLockRetries(
    src,
    'capture install',
    logger,
    tables.map((t) => t.qualified),
    async () => {
      // Names in the DDL resolve in pg_catalog only (not in a schema another role could put first).
      await src.query(`SET LOCAL search_path = pg_catalog, pg_temp`);
      for (const sql of logSql(comment)) await src.query(sql);
      for (const t of tables) {
        for (const sql of captureSql(t)) {
          try {
            await src.query(sql);
          } catch (err) {
            if (err instanceof Error && !(err instanceof PgshiftError)) err.message = `${t.display}: ${err.message}`;
            throw err;
          }
        }
      }
      // Nothing of it for PUBLIC or the owner's default privileges; checked again before every run.
      await lockDownCapture(src);
    },
  );
}

/**
 * Drops every capture trigger, function and the schema; true when something was there. Idempotent. `unapplied`:
 * log rows dropped that the target had not applied (not visible in `applied`; every row when it is null),
 * counted under a lock that no writer of the log holds any more; null when there was no log.
 */
export async function removeCapture(
  src: Client,
  logger: Logger,
  applied: string | null = null,
): Promise<{ triggers: number; functions: number; schema: boolean; unapplied: number | null }> {
  const before = await captureObjects(src);
  const relations = [...before.triggers.map((t) => t.table), `${quoteIdent(CAPTURE_SCHEMA)}.log`];
  return withLockRetries(src, 'capture cleanup', logger, relations, async () => {
    const objects = await captureObjects(src);
    // Triggers first, each by name (DROP SCHEMA … CASCADE would drop them too, but naming them is explicit).
    for (const t of objects.triggers) await src.query(`DROP TRIGGER IF EXISTS ${quoteIdent(t.trigger)} ON ${t.table}`);
    let unapplied: number | null = null;
    const log = `${quoteIdent(CAPTURE_SCHEMA)}.log`;
    if (objects.schema && (await src.query(`SELECT pg_catalog.to_regclass($1) IS NOT NULL AS ok`, [log])).rows[0].ok) {
      await src.query(`LOCK TABLE ${log} IN ACCESS EXCLUSIVE MODE`);
      const { rows } = await src.query(
        `SELECT count(*)::int8::text AS n FROM ${log} l WHERE $1::pg_catalog.pg_snapshot IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(l.xid, $1::pg_catalog.pg_snapshot)`,
        [applied],
      );
      unapplied = Number(rows[0].n);
    }
    if (objects.schema) await src.query(`DROP SCHEMA IF EXISTS ${quoteIdent(CAPTURE_SCHEMA)} CASCADE`);
    return { triggers: objects.triggers.length, functions: objects.functions, schema: objects.schema, unapplied };
  });
}

export interface CaptureObjects {
  schema: boolean;
  functions: number;
  triggers: { table: string; trigger: string }[];
  pendingChanges: number | null;
}

/** What capture left on a database (inventory, cleanup). search_path-independent. */
export async function captureObjects(c: Client): Promise<CaptureObjects> {
  const { rows: ns } = await c.query(`SELECT oid FROM pg_namespace WHERE nspname = $1`, [CAPTURE_SCHEMA]);
  const { rows: trig } = await c.query(
    `SELECT format('%I.%I', n.nspname, r.relname) AS tbl, t.tgname FROM pg_trigger t
       JOIN pg_class r ON r.oid = t.tgrelid JOIN pg_namespace n ON n.oid = r.relnamespace
       JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
      WHERE NOT t.tgisinternal AND (pn.nspname = $1 OR pg_catalog.starts_with(t.tgname, $2))
      ORDER BY 1, 2`,
    [CAPTURE_SCHEMA, TRIGGER_PREFIX],
  );
  const { rows: fns } = await c.query(`SELECT count(*)::int AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1`, [
    CAPTURE_SCHEMA,
  ]);
  let pending: number | null = null;
  if (ns.length) {
    const { rows } = await c.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${quoteIdent(CAPTURE_SCHEMA)}.log`]);
    if (rows[0].ok) {
      const r = await c.query(`SELECT count(*)::int8::text AS n FROM ${quoteIdent(CAPTURE_SCHEMA)}.log`).catch(() => null);
      pending = r ? Number(r.rows[0].n) : null;
    }
  }
  return { schema: ns.length > 0, functions: fns[0].n, triggers: trig.map((r) => ({ table: r.tbl, trigger: r.tgname })), pendingChanges: pending };
}
