// Checks before anything is written: the target is empty (or resumable), the source is readable.
import { readAccess } from '../catalog/access.js';
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { PermissionError, UsageError } from '../errors.js';
import { userSchemaSql } from '../catalog/system.js';

/** User objects already in the target, large objects included (pgshift's own state and extension members excluded). */
export async function targetObjects(tgt: Client): Promise<{ count: number; examples: string[] }> {
  const { rows } = await tgt.query<{ n: string; what: string }>(`
    WITH objs AS (
      SELECT format('%s %I.%I', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                     WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' END,
                    n.nspname, c.relname) AS what, c.oid, 'pg_class'::regclass AS cls
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
         AND ${userSchemaSql('n.nspname')}
      UNION ALL
      SELECT format('function %I.%I', n.nspname, p.proname), p.oid, 'pg_proc'::regclass
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE ${userSchemaSql('n.nspname')}
      UNION ALL
      SELECT format('type %I.%I', n.nspname, t.typname), t.oid, 'pg_type'::regclass
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE t.typtype IN ('e', 'd', 'r', 'm') AND ${userSchemaSql('n.nspname')}
      UNION ALL
      -- Copy writes large objects with their source OIDs: one already on the target would be overwritten.
      SELECT format('large object %s', l.oid), l.oid, 'pg_largeobject'::regclass FROM pg_largeobject_metadata l
    )
    SELECT count(*) OVER () AS n, what FROM objs o
     WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.cls AND d.objid = o.oid AND d.deptype = 'e')
     LIMIT 5`);
  return { count: rows.length ? Number(rows[0]!.n) : 0, examples: rows.map((r) => r.what) };
}

export async function requireEmptyTarget(tgt: Client, targetDisplay: string): Promise<void> {
  const { count, examples } = await targetObjects(tgt);
  if (count === 0) return;
  throw new UsageError(
    `target ${targetDisplay} is not empty: ${count} user objects (${examples.join(', ')}${count > examples.length ? ', …' : ''}); nothing was changed`,
    {
      phase: 'preflight',
      hint: 'copy into an empty database (createdb), or use --data-only to load data into an existing schema, or --resume to finish an interrupted copy',
    },
  );
}

/** Every table must be readable — all of its rows — before anything is written. */
export async function requireReadable(src: Client, tables: TableInfo[], role: string): Promise<void> {
  const access = await readAccess(
    src,
    tables.map((t) => t.oid),
  );
  const names = (set: Set<number>) => tables.filter((t) => set.has(t.oid)).map((t) => t.display);
  const hidden = names(access.hiddenByRls);
  if (hidden.length) {
    throw new PermissionError(`preflight: row-level security would hide rows of ${hidden.join(', ')} from the source role ${role}; nothing was copied`, {
      phase: 'preflight',
      object: hidden[0],
      hint: 'connect as a role with BYPASSRLS, or ALTER TABLE … NO FORCE ROW LEVEL SECURITY while copying as the owner, or --exclude them',
    });
  }
  const bad = names(access.unreadable);
  if (bad.length === 0) return;
  throw new PermissionError(`preflight: the source role ${role} cannot read ${bad.join(', ')}; nothing was copied`, {
    phase: 'preflight',
    object: bad[0],
    hint: `GRANT SELECT ON ${bad.join(', ')} TO ${role} on the source (or connect as the owner), or --exclude them, then re-run`,
  });
}

/** Tables the data-only mode loads must exist on the target and be empty. */
export async function requireEmptyTables(tgt: Client, tables: TableInfo[]): Promise<void> {
  for (const t of tables) {
    const { rows } = await tgt.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [t.qualified]);
    if (!rows[0]!.present) {
      throw new UsageError(`--data-only: table ${t.display} does not exist on the target`, {
        phase: 'preflight',
        object: t.display,
        hint: 'create the schema first (pgshift copy --schema-only), then re-run',
      });
    }
    const { rows: has } = await tgt.query<{ has: boolean }>(`SELECT EXISTS (SELECT 1 FROM ONLY ${t.qualified}) AS has`);
    if (has[0]!.has) {
      throw new UsageError(`--data-only: table ${t.display} on the target already has rows; nothing was changed`, {
        phase: 'preflight',
        object: t.display,
        hint: `empty it (TRUNCATE ${t.display}) or --exclude it, then re-run`,
      });
    }
  }
}

/**
 * Managed plans cap connections (Heroku Essential: 20). Check before starting that the server, the role and
 * the database each leave room for the extra connections this run opens, instead of failing half-way.
 */
export async function requireConnections(c: Client, side: 'source' | 'target', extra: number, flag: string, display: string): Promise<void> {
  const { rows } = await c.query<{ server_free: number; role_free: number | null; db_free: number | null }>(
    `SELECT current_setting('max_connections')::int - CASE WHEN r.rolsuper THEN 0 ELSE current_setting('superuser_reserved_connections')::int END
              - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS server_free,
            CASE WHEN r.rolconnlimit < 0 THEN NULL
                 ELSE r.rolconnlimit - (SELECT count(*) FROM pg_stat_activity WHERE usesysid = r.oid AND backend_type = 'client backend')::int END AS role_free,
            CASE WHEN d.datconnlimit < 0 THEN NULL
                 ELSE d.datconnlimit - (SELECT count(*) FROM pg_stat_activity WHERE datid = d.oid AND backend_type = 'client backend')::int END AS db_free
       FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
  );
  const r = rows[0]!;
  const limits: [number, string][] = [[r.server_free, 'the server (max_connections)']];
  if (r.role_free !== null) limits.push([r.role_free, `the role's CONNECTION LIMIT`]);
  if (r.db_free !== null) limits.push([r.db_free, `the database's CONNECTION LIMIT`]);
  const [free, by] = limits.reduce((a, b) => (b[0] < a[0] ? b : a));
  if (free >= extra) return;
  throw new UsageError(
    `preflight: the ${side} ${display} has room for ${Math.max(0, free)} more connection(s) (limited by ${by}), and this copy needs ${extra}; nothing was changed`,
    {
      phase: 'preflight',
      hint: `lower ${flag} (or close other clients of the ${side}), then re-run`,
    },
  );
}
