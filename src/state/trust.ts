// The `pgshift` state schema on the target belongs to the role pgshift runs as, and to it alone (DESIGN §2.11):
// copy, replicate and cleanup act on what it holds (which keys to put back, which slot to drop on the source),
// so a state another role can write is a way to make the owner act for that role. Every privilege is revoked from
// PUBLIC and from every other role (also what ALTER DEFAULT PRIVILEGES granted) in the transaction that creates
// an object, and the owner and ACL of the schema and of everything in it are checked before the state is trusted.
import type { Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { UsageError } from '../errors.js';
import { STATE_SCHEMA } from '../catalog/system.js';

/** Something in the state schema another role owns or may write. */
export interface StateExposure {
  /** e.g. `schema pgshift`, `table pgshift.replication_switch`, `function pgshift.apply_rows(text,text[])`. */
  object: string;
  /** The other role (`PUBLIC` for everyone), or the owner when the object is not ours. */
  role: string;
  /** What that role may do, or `owner`. */
  privileges: string[];
}

// Privileges that let a role change what the state says (or run its code in pgshift's session: TRIGGER, CREATE).
const WRITE = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'CREATE'];

const EXPOSURE_SQL = `
WITH ns AS (SELECT oid, nspowner, nspacl FROM pg_catalog.pg_namespace WHERE nspname = $1),
objs AS (
  SELECT 'schema ' || pg_catalog.quote_ident(n.nspname) AS object, n.nspowner AS owner,
         COALESCE(n.nspacl, pg_catalog.acldefault('n'::"char", n.nspowner)) AS acl
    FROM pg_catalog.pg_namespace n JOIN ns ON ns.oid = n.oid
  UNION ALL
  SELECT CASE c.relkind WHEN 'S' THEN 'sequence ' WHEN 'i' THEN 'index ' WHEN 'I' THEN 'index ' WHEN 'v' THEN 'view ' ELSE 'table ' END
         || c.oid::pg_catalog.regclass::text, c.relowner,
         COALESCE(c.relacl, pg_catalog.acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))
    FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace
  UNION ALL
  SELECT 'function ' || p.oid::pg_catalog.regprocedure::text, p.proowner, COALESCE(p.proacl, pg_catalog.acldefault('f'::"char", p.proowner))
    FROM pg_catalog.pg_proc p JOIN ns ON ns.oid = p.pronamespace
)
SELECT object, owner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) AS ours,
       pg_catalog.pg_get_userbyid(owner) AS owner_name,
       COALESCE((SELECT pg_catalog.json_agg(json_build_object(
                   'role', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END,
                   'privilege', a.privilege_type))
                   FROM pg_catalog.aclexplode(acl) a WHERE a.grantee <> owner), '[]') AS grants
  FROM objs ORDER BY object`;

interface Grant {
  role: string;
  privilege: string;
}

/** A trusted state as found: `lockedDown` when no other role holds any privilege at all (as lockDownState leaves it). */
export interface StateInspection {
  lockedDown: boolean;
  /** Every object of the schema, as named in StateExposure (`table pgshift.schema_migrations`). */
  objects: Set<string>;
}

/** Every object of the state schema owned by another role, and every privilege held by another role. */
async function inspect(c: Client): Promise<{ present: boolean; foreign: StateExposure[]; grants: StateExposure[]; objects: Set<string> }> {
  const { rows } = await c.query<{ object: string; ours: boolean; owner_name: string; grants: Grant[] }>(EXPOSURE_SQL, [STATE_SCHEMA]);
  const foreign: StateExposure[] = [];
  const grants: StateExposure[] = [];
  for (const r of rows) {
    if (!r.ours) foreign.push({ object: r.object, role: r.owner_name, privileges: ['owner'] });
    const byRole = new Map<string, string[]>();
    for (const g of r.grants) byRole.set(g.role, [...(byRole.get(g.role) ?? []), g.privilege]);
    for (const [role, privileges] of byRole) grants.push({ object: r.object, role, privileges });
  }
  return { present: rows.length > 0, foreign, grants, objects: new Set(rows.map((r) => r.object)) };
}

/** What makes the state untrustworthy: objects not owned by the current role, write privileges of other roles. */
export async function stateExposures(c: Client): Promise<StateExposure[]> {
  const { foreign, grants } = await inspect(c);
  return [...foreign, ...grants.filter((g) => g.privileges.some((p) => WRITE.includes(p)))];
}

/**
 * Refuse to act on a state another role owns or can write: what it holds may have been forged. Nothing is
 * changed; the error names each object and role, and the statements that close it after a review.
 */
export async function assertStateTrusted(c: Client, where: string): Promise<StateInspection> {
  const seen = await inspect(c);
  const bad = [...seen.foreign, ...seen.grants.filter((g) => g.privileges.some((p) => WRITE.includes(p)))];
  if (bad.length === 0) return { lockedDown: seen.present && seen.grants.length === 0, objects: seen.objects };
  const list = bad.map((b) => (b.privileges[0] === 'owner' ? `${b.object} is owned by ${b.role}` : `${b.role} may ${b.privileges.join(', ')} on ${b.object}`));
  const roles = [...new Set(bad.filter((b) => b.privileges[0] !== 'owner').map((b) => b.role))];
  const revoke = roles.map((r) => revokeStatements(r === 'PUBLIC' ? 'PUBLIC' : quoteIdent(r)).join(' ')).join(' ');
  const owned = bad.some((b) => b.privileges[0] === 'owner');
  throw new UsageError(`the pgshift state on ${where} can be changed by another role (${list.join('; ')}): pgshift does not trust it and changed nothing`, {
    phase: 'state',
    object: `schema ${STATE_SCHEMA}`,
    hint: owned
      ? `the schema ${STATE_SCHEMA} or objects in it are not the current role's: run pgshift as their owner, or review them and drop schema ${STATE_SCHEMA} yourself`
      : `review what schema ${STATE_SCHEMA} holds (pgshift.replication_switch, pgshift.replication, pgshift.copy_fk), then as its owner run: ${revoke} and run pgshift again`,
  });
}

function revokeStatements(role: string): string[] {
  const s = quoteIdent(STATE_SCHEMA);
  return [
    `REVOKE ALL ON SCHEMA ${s} FROM ${role} CASCADE;`,
    `REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${role} CASCADE;`,
    `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${s} FROM ${role} CASCADE;`,
    `REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ${s} FROM ${role} CASCADE;`,
  ];
}

/**
 * Revoke every privilege of PUBLIC and of every other role on the state schema and everything in it (what
 * default privileges granted when pgshift created them). Run inside the transaction that created them.
 */
export async function lockDownState(c: Client): Promise<void> {
  const { present, grants } = await inspect(c);
  if (!present) return;
  const roles = new Set(['PUBLIC', ...grants.map((g) => g.role)]);
  for (const r of roles) {
    for (const sql of revokeStatements(r === 'PUBLIC' ? 'PUBLIC' : quoteIdent(r))) await c.query(sql);
  }
}
