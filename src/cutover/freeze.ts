// The freeze on the source. `--freeze source`: ALTER DATABASE … SET default_transaction_read_only = on (new
// sessions start read-only), then the sessions already open — which keep the setting they started with — are given
// up to --grace to end their transactions and are terminated, those pgshift may signal (same role, or
// pg_signal_backend; never a superuser's unless pgshift is one; never pgshift's own). `--freeze wait`: the team
// stops writes; pgshift waits until the replicated tables show no write for QUIET_MS and names who still wrote.
import type { Client } from '../db/connect.js';
import { quoteIdent, quoteLiteral } from '../db/ident.js';
import { PgshiftError } from '../errors.js';
import { COUNT_SQL } from '../replicate/source-writes.js';
import { sleep } from '../sleep.js';

const SETTING = 'default_transaction_read_only';
/** --freeze wait: this long without a write on the replicated tables (their statistics lag up to ~1 s). */
export const QUIET_MS = 3000;

/** A session of the application on the source, as pg_stat_activity shows it to pgshift's role. */
export interface SessionSeen {
  pid: number;
  role: string | null;
  application: string | null;
  client: string | null;
  /** In a transaction that has written (has an xid) when seen. */
  writing: boolean;
  /** Why it could not be terminated (null: it was). */
  reason?: string | null;
}

/** The database-level setting as pg_db_role_setting holds it now (null: none set for this database, any role). */
export async function readOnlyBefore(src: Client): Promise<string | null> {
  const { rows } = await src.query(
    `SELECT substr(s, length($1) + 2) AS v FROM pg_catalog.pg_db_role_setting d, unnest(d.setconfig) s
      WHERE d.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) AND d.setrole = 0
        AND s LIKE $1 || '=%'`,
    [SETTING],
  );
  return rows[0]?.v ?? null;
}

/** pgshift's own sessions on the source write (trigger capture's log cleanup, DDL of cleanup) whatever the database says. */
export async function allowWrites(c: Client): Promise<void> {
  await c.query(`SET default_transaction_read_only = off`);
}

export async function setSourceReadOnly(src: Client, database: string): Promise<void> {
  await src.query(`ALTER DATABASE ${quoteIdent(database)} SET ${SETTING} = on`);
}

/** Puts back exactly what was there: RESET when nothing was set, else the recorded value. */
export async function restoreSourceSetting(src: Client, database: string, before: string | null): Promise<void> {
  if (before === null) {
    await src.query(`ALTER DATABASE ${quoteIdent(database)} RESET ${SETTING}`);
    return;
  }
  if (!/^[a-z0-9_]+$/i.test(before))
    throw new PgshiftError(`the recorded ${SETTING} of the source database before the freeze reads ${JSON.stringify(before)}, not a boolean`, {
      phase: 'unfreeze',
      hint: `set it by hand on the source: ALTER DATABASE ${quoteIdent(database)} SET ${SETTING} = off (or RESET ${SETTING})`,
    });
  await src.query(`ALTER DATABASE ${quoteIdent(database)} SET ${SETTING} = ${quoteLiteral(before)}`);
}

// Client backends of this database other than this session and pgshift's own (application_name 'pgshift …'),
// with whether this role may terminate them (pg_terminate_backend's own rule).
const SESSIONS_SQL = `
  SELECT a.pid, a.usename AS role, a.application_name AS application, host(a.client_addr) AS client,
         a.backend_xid IS NOT NULL AS writing, a.xact_start IS NOT NULL AND a.state IS DISTINCT FROM 'idle' AS in_xact,
         a.xact_start::text AS xact_start,
         CASE WHEN r.rolsuper AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
                THEN 'a superuser''s session'
              WHEN a.usesysid IS NULL OR NOT (pg_catalog.pg_has_role(current_user, a.usesysid, 'USAGE')
                                               OR pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE'))
                THEN 'another role''s session (needs pg_signal_backend)'
         END AS unsignalable
    FROM pg_catalog.pg_stat_activity a LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid
   WHERE a.datname = current_database() AND a.pid <> pg_catalog.pg_backend_pid() AND a.backend_type = 'client backend'
     AND a.application_name NOT LIKE 'pgshift%'`;

interface Row {
  pid: number;
  role: string | null;
  application: string | null;
  client: string | null;
  writing: boolean;
  in_xact: boolean;
  xact_start: string | null;
  unsignalable: string | null;
}

const seen = (r: Row, reason?: string | null): SessionSeen => ({
  pid: r.pid,
  role: r.role,
  application: r.application,
  client: r.client,
  writing: r.writing,
  ...(reason === undefined ? {} : { reason }),
});

export interface Terminations {
  /** Seconds spent waiting for open transactions to end (≤ grace). */
  waitedSeconds: number;
  terminated: SessionSeen[];
  notTerminated: SessionSeen[];
}

/**
 * Sessions opened before the freeze keep writing (the database setting reaches new sessions only): wait up to
 * `graceMs` for their open transactions to end, then terminate every one pgshift may signal.
 */
export async function endOpenSessions(src: Client, graceMs: number, signal?: AbortSignal): Promise<Terminations> {
  const started = Date.now();
  // The transactions open at the freeze: each is given the grace to end (a session's next one is not waited for).
  const open = (rows: Row[]) => new Set(rows.filter((r) => r.in_xact).map((r) => `${r.pid}@${r.xact_start}`));
  const atFreeze = open((await src.query<Row>(SESSIONS_SQL)).rows);
  while (atFreeze.size && Date.now() - started < graceMs && !signal?.aborted) {
    await sleep(50, signal);
    const now = open((await src.query<Row>(SESSIONS_SQL)).rows);
    for (const k of atFreeze) if (!now.has(k)) atFreeze.delete(k);
  }
  const waitedSeconds = (Date.now() - started) / 1000;
  const { rows } = await src.query<Row>(SESSIONS_SQL);
  const out: Terminations = { waitedSeconds, terminated: [], notTerminated: [] };
  for (const r of rows) {
    if (r.unsignalable) {
      out.notTerminated.push(seen(r, r.unsignalable));
      continue;
    }
    try {
      const { rows: t } = await src.query(`SELECT pg_catalog.pg_terminate_backend($1) AS ok`, [r.pid]);
      // false: it ended by itself meanwhile.
      if (t[0].ok) out.terminated.push(seen(r));
    } catch (err) {
      out.notTerminated.push(seen(r, (err as Error).message));
    }
  }
  return out;
}

export interface QuietResult {
  quiet: boolean;
  waitedSeconds: number;
  /** Sessions seen in a writing transaction while pgshift waited. */
  writers: SessionSeen[];
  /** Rows written on the replicated tables while pgshift waited. */
  rowsWritten: number;
}

/** --freeze wait: until the replicated tables show no write for QUIET_MS (and no session holds a write), at most timeoutMs. */
export async function waitForQuiet(src: Client, tables: string[], timeoutMs: number, signal?: AbortSignal): Promise<QuietResult> {
  const started = Date.now();
  const writers = new Map<number, SessionSeen>();
  const { rows: first } = await src.query<{ n: string }>(COUNT_SQL, [tables]);
  const initial = BigInt(first[0]!.n);
  let last = initial;
  let quietSince = Date.now();
  for (;;) {
    const { rows: now } = await src.query<{ n: string }>(COUNT_SQL, [tables]);
    const n = BigInt(now[0]!.n);
    const { rows: active } = await src.query<Row>(SESSIONS_SQL);
    // A session holding a write transaction blocks the quiet; while rows were written since the last sample, the
    // sessions in a transaction are named too (an autocommit write lasts milliseconds: rarely seen with its xid).
    const writing = active.filter((r) => r.writing);
    for (const w of n !== last ? active.filter((r) => r.writing || r.in_xact) : writing) writers.set(w.pid, seen(w));
    if (n !== last || writing.length) quietSince = Date.now();
    last = n;
    const done = Date.now() - quietSince >= QUIET_MS;
    if (done || Date.now() - started >= timeoutMs || signal?.aborted)
      return { quiet: done, waitedSeconds: (Date.now() - started) / 1000, writers: [...writers.values()], rowsWritten: Number(last - initial) };
    await sleep(100, signal);
  }
}

export function describeSession(s: SessionSeen): string {
  return [`pid ${s.pid}`, s.role ? `role ${s.role}` : null, s.application ? `application "${s.application}"` : null, s.client ? `from ${s.client}` : null]
    .filter(Boolean)
    .join(', ');
}
