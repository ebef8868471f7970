// The capture's objects on the source (schema _pgshift, its log, the log's sequence, the capture functions) are
// reachable by their owner only (DESIGN §2.11, issue 22). A role that could write the log could make the target
// silently diverge (forged or deleted rows); one that could read it would read whole rows of keyless tables.
//   - lockDownCapture: inside the install transaction, revokes every privilege PUBLIC or the owner's default
//     privileges (ALTER DEFAULT PRIVILEGES … GRANT … TO app) gave on them;
//   - checkCaptureAcl: before every run, refuses to start when anything but the owner can reach them, or when a
//     capture function is not the SECURITY DEFINER, search_path-pinned one this version installs.
import type { Client } from '../../db/connect.js';
import { PermissionError, PgshiftError } from '../../errors.js';
import { CAPTURE_SCHEMA } from '../../catalog/system.js';
import type { Logger } from '../../log.js';

// Every object of the capture with its owner and ACL (NULL ACL = the built-in default: for functions, EXECUTE to
// PUBLIC). `kind` is the REVOKE object kind, `aclkind` acldefault's letter.
const OBJECTS = `
  SELECT 'SCHEMA' AS kind, 'n' AS aclkind, pg_catalog.format('%I', n.nspname) AS name, n.nspowner AS owner, n.nspacl AS acl
    FROM pg_catalog.pg_namespace n WHERE n.nspname = $1
  UNION ALL
  SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END,
         pg_catalog.format('%I.%I', n.nspname, c.relname), c.relowner, c.relacl
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f')
  UNION ALL
  SELECT 'FUNCTION', 'f', pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)), p.proowner, p.proacl
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1`;

// Privileges held by anyone but the object's owner (grantee 0 = PUBLIC).
const FOREIGN_GRANTS = `
  SELECT o.kind, o.name, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.format('%I', r.rolname) END AS grantee,
         pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges
    FROM (${OBJECTS}) o
   CROSS JOIN LATERAL pg_catalog.aclexplode(COALESCE(o.acl, pg_catalog.acldefault(o.aclkind::pg_catalog."char", o.owner))) a
    LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
   WHERE a.grantee OPERATOR(pg_catalog.<>) o.owner
   GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`;

/** Inside the install transaction, as the installing role (the owner of everything in _pgshift). */
export async function lockDownCapture(src: Client): Promise<void> {
  const { rows } = await src.query(FOREIGN_GRANTS, [CAPTURE_SCHEMA]);
  for (const r of rows) await src.query(`REVOKE ALL ON ${r.kind} ${r.name} FROM ${r.grantee} CASCADE`);
}

export interface CaptureAclProblem {
  object: string;
  problem: string;
}

/** What makes the capture reachable by someone else than its owner (empty = locked down). */
export async function captureAclProblems(src: Client): Promise<CaptureAclProblem[]> {
  const out: CaptureAclProblem[] = [];
  const { rows: grants } = await src.query(FOREIGN_GRANTS, [CAPTURE_SCHEMA]);
  for (const g of grants)
    out.push({
      object: `${g.kind.toLowerCase()} ${g.name}`,
      problem: `${g.grantee} holds ${g.privileges} (REVOKE ALL ON ${g.kind} ${g.name} FROM ${g.grantee})`,
    });
  const { rows: owners } = await src.query(
    `SELECT o.kind, o.name, pg_catalog.pg_get_userbyid(o.owner) AS owner FROM (${OBJECTS}) o
      WHERE o.owner OPERATOR(pg_catalog.<>) (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = $1)`,
    [CAPTURE_SCHEMA],
  );
  for (const o of owners)
    out.push({ object: `${o.kind.toLowerCase()} ${o.name}`, problem: `owned by ${o.owner}, not by the owner of schema ${CAPTURE_SCHEMA}` });
  const { rows: fns } = await src.query(
    `SELECT pg_catalog.format('%I.%I()', n.nspname, p.proname) AS name FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = $1 AND NOT (p.prosecdef AND 'search_path=pg_catalog, pg_temp' = ANY (COALESCE(p.proconfig, '{}')))`,
    [CAPTURE_SCHEMA],
  );
  for (const f of fns)
    out.push({
      object: `function ${f.name}`,
      problem: 'not SECURITY DEFINER with search_path pinned to pg_catalog, pg_temp (installed by an earlier pgshift)',
    });
  return out;
}

/** Roles that act as `owner` through membership (direct or nested): they reach the log as its owner does. */
async function ownerMembers(src: Client, owner: string): Promise<string[]> {
  const { rows } = await src.query(
    `WITH RECURSIVE m(oid) AS (
       SELECT am.member FROM pg_catalog.pg_auth_members am WHERE am.roleid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = $1)
       UNION SELECT am.member FROM pg_catalog.pg_auth_members am JOIN m ON am.roleid = m.oid)
     SELECT pg_catalog.format('%I', r.rolname) AS name FROM m JOIN pg_catalog.pg_roles r ON r.oid = m.oid ORDER BY 1`,
    [owner],
  );
  return rows.map((r) => r.name);
}

/** Refuse to read (or keep feeding) a log that someone else may have written or read. */
export async function checkCaptureAcl(src: Client, source: string, logger?: Logger): Promise<void> {
  const { rows } = await src.query(`SELECT pg_catalog.pg_get_userbyid(n.nspowner) AS owner FROM pg_catalog.pg_namespace n WHERE n.nspname = $1`, [
    CAPTURE_SCHEMA,
  ]);
  if (!rows.length) {
    throw new PgshiftError(
      `preflight: the capture schema ${CAPTURE_SCHEMA} is gone from the source ${source}; changes since it went were not recorded, so replication cannot go on`,
      {
        phase: 'preflight',
        hint: 'start over: pgshift cleanup --source … --target …, then pgshift replicate --capture triggers into an empty target',
      },
    );
  }
  const members = await ownerMembers(src, rows[0].owner);
  if (members.length) {
    // Not refused: sharing the owner's rights is a choice the database's administrator made knowingly.
    logger?.warn(
      `replicate: ${members.join(', ')} ${members.length === 1 ? 'is a member' : 'are members'} of ${rows[0].owner}, the owner of the change log on the source, and can write it as the owner does; pgshift cannot tell such writes from the capture's`,
    );
  }
  const problems = await captureAclProblems(src);
  if (!problems.length) return;
  const outdated = problems.some((p) => p.problem.includes('earlier pgshift'));
  const list = problems.map((p) => `${p.object}: ${p.problem}`).join('; ');
  throw new PermissionError(
    `preflight: the change log on the source ${source} is reachable by others than its owner ${rows[0].owner} (${list}); a role that can write or read it could make the target diverge or read captured rows, so nothing was applied`,
    {
      phase: 'preflight',
      object: CAPTURE_SCHEMA,
      hint: outdated
        ? 'this capture was installed by an earlier pgshift: pgshift cleanup --source … --target …, then run pgshift replicate --capture triggers again into an empty target'
        : `revoke those privileges as ${rows[0].owner} (the statements are above), check that no one wrote to ${CAPTURE_SCHEMA}.log meanwhile, then run the same command again`,
    },
  );
}
