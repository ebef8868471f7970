// CREATE/DROP TRIGGER lock the table against writes while they wait: every attempt runs with a short lock_timeout
// (the application's writes queue behind us for at most that long) and is retried with backoff, so a busy table
// delays the install, never stalls it. A transaction that stays open on a table (a session idle in transaction)
// would stall the writers on every attempt for nothing: the same transaction found holding a table after two
// attempts (or, where pg_stat_activity shows it, idle in transaction for longer than the wait) stops the
// retries, naming the session (pg_locks is readable by every role; what pg_stat_activity hides
// from other roles is left out).
import type { Client } from '../../db/connect.js';
import { errorCode, PgshiftError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { sleep } from '../../sleep.js';

const LOCK_SECONDS = 2;
const LOCK_TIMEOUT = `${LOCK_SECONDS}s`;
const ATTEMPTS = 8;
/** Attempts that found the same transaction holding a table: it is not a passing write. */
const SAME_HOLDER = 2;

export class LockBlockedError extends PgshiftError {}

interface Holder {
  pid: number;
  /** pg_locks.virtualtransaction: one transaction of that session. */
  vxid: string;
  relation: string;
  mode: string;
  user: string | null;
  application: string | null;
  state: string | null;
  since: Date | null;
  /** Seconds since the session's state last changed (null when pg_stat_activity hides it from us). */
  idleFor: number | null;
}

/** Sessions other than ours holding a lock on one of `relations` (regclass texts) that our DDL waits for. */
async function lockHolders(src: Client, relations: string[]): Promise<Holder[]> {
  const { rows } = await src.query(
    `SELECT l.pid, l.virtualtransaction AS vxid, l.relation::pg_catalog.regclass::pg_catalog.text AS relation, l.mode, a.usename AS "user",
            a.application_name AS application, a.state, a.xact_start AS since,
            EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) a.state_change)::pg_catalog.float8 AS "idleFor"
       FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE l.granted AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() AND l.mode <> 'AccessShareLock'
        AND l.relation = ANY (SELECT pg_catalog.to_regclass(r) FROM pg_catalog.unnest($1::pg_catalog.text[]) AS r)
      ORDER BY l.pid, 3`,
    [relations],
  );
  return rows.map((r) => ({ ...r, pid: Number(r.pid) }));
}

/** One phrase per session: who it is and what it holds. */
function describe(holders: Holder[]): string {
  const byPid = new Map<number, Holder[]>();
  for (const h of holders) byPid.set(h.pid, [...(byPid.get(h.pid) ?? []), h]);
  return [...byPid.values()]
    .map((hs) => {
      const h = hs[0]!;
      const who = [
        h.user && `user ${h.user}`,
        h.application && `application ${JSON.stringify(h.application)}`,
        h.state && `${h.state}${h.since ? `, transaction started ${new Date(h.since).toISOString()}` : ''}`,
      ]
        .filter(Boolean)
        .join(', ');
      const locks = [...new Set(hs.map((x) => `${x.mode} on ${x.relation}`))];
      return `session pid ${h.pid}${who ? ` (${who})` : ''} holds ${locks.slice(0, 3).join(', ')}${locks.length > 3 ? ` and ${locks.length - 3} more` : ''}`;
    })
    .join('; ');
}

/**
 * Run `fn` in one transaction with a short lock_timeout, retried on lock timeouts and deadlocks; `relations`
 * are the tables its DDL locks (quoted, qualified), to name who holds them.
 */
export async function withLockRetries<T>(src: Client, what: string, logger: Logger, relations: string[], fn: () => Promise<T>): Promise<T> {
  const seen = new Map<string, number>();
  for (let attempt = 1; ; attempt++) {
    await src.query('BEGIN');
    try {
      await src.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      const out = await fn();
      await src.query('COMMIT');
      return out;
    } catch (err) {
      await src.query('ROLLBACK').catch(() => undefined);
      // 55P03 lock_not_available, 40P01 deadlock: someone holds a table; try again shortly.
      const code = errorCode(err);
      if (code !== '55P03' && code !== '40P01') throw err;
      const holders = await lockHolders(src, relations).catch(() => [] as Holder[]);
      const now = new Set(holders.map((h) => `${h.pid}/${h.vxid}`));
      for (const k of [...seen.keys()]) if (!now.has(k)) seen.delete(k);
      for (const k of now) seen.set(k, (seen.get(k) ?? 0) + 1);
      // Idle in transaction for longer than we waited (where visible), or the same transaction on two attempts.
      const idle = (h: Holder) => (h.state ?? '').startsWith('idle in transaction') && (h.idleFor ?? 0) >= LOCK_SECONDS;
      const stuck = holders.filter((h) => (seen.get(`${h.pid}/${h.vxid}`) ?? 0) >= SAME_HOLDER || idle(h));
      if (stuck.length || attempt >= ATTEMPTS) {
        const named = stuck.length ? stuck : holders;
        const pids = [...new Set(named.map((h) => h.pid))];
        throw new LockBlockedError(
          `${what}: ${named.length ? describe(named) : 'the tables stayed locked'}${stuck.length ? ' in a transaction that stays open' : ''} — the capture needs a brief lock on each table; gave up after ${attempt} attempt${attempt === 1 ? '' : 's'} of ${LOCK_TIMEOUT}, nothing was changed`,
          {
            phase: what.replace(/^capture /, ''),
            object: named[0]?.relation,
            cause: err,
            hint: pids.length
              ? `end that transaction (COMMIT or ROLLBACK in that session, or SELECT pg_terminate_backend(${pids.join('), pg_terminate_backend(')}) as its user or a member of pg_signal_backend), then run the same command again`
              : 'run the same command again when the source is less busy',
          },
        );
      }
      const wait = Math.min(10_000, 250 * 2 ** attempt);
      logger.warn(
        `${what}: ${holders.length ? describe(holders) : 'a table is locked by a running transaction on the source'}; retrying in ${(wait / 1000).toFixed(1)}s`,
      );
      await sleep(wait);
    }
  }
}
