// One replicate per target (DESIGN invariant 8): a session advisory lock held by the control connection for the
// whole run, in pgshift's lock class. Separate from copy's own run lock, because replicate runs the copy engine
// inside its run. (Fold into src/db/lock.ts when that lands on main.)
import type { Client } from '../db/connect.js';
import { UsageError } from '../errors.js';

const LOCK_CLASS = 0x70677368; // 'pgsh'
const REPLICATE_LOCK = 3;

export async function acquireReplicateLock(c: Client, display: string): Promise<void> {
  const { rows } = await c.query(`SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok`, [LOCK_CLASS, REPLICATE_LOCK]);
  if (rows[0].ok) return;
  const h = await replicateLockHolder(c);
  throw new UsageError(`replicate: another pgshift replicate is running against the target ${display}${h ? ` (${h})` : ''}; nothing was changed`, {
    phase: 'preflight',
    hint: 'stop it first (Ctrl-C or SIGTERM stops it gracefully), then run this command again',
  });
}

/** Who holds the replicate lock on this database, or null. */
export async function replicateLockHolder(c: Client): Promise<string | null> {
  const { rows } = await c.query(
    `SELECT a.application_name, host(a.client_addr) AS addr, a.backend_start FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int8::oid AND l.objid = $2::int8::oid AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.pid <> pg_backend_pid()`,
    [LOCK_CLASS, REPLICATE_LOCK],
  );
  const r = rows[0];
  if (!r) return null;
  return [r.application_name ?? 'pgshift replicate', r.addr ? `from ${r.addr}` : '', r.backend_start ? `since ${new Date(r.backend_start).toISOString()}` : ''].filter(Boolean).join(' ');
}
