// One writer per target (DESIGN invariant 8): a run holds a session advisory lock on its control connection for
// its whole life; a second run is refused at once and told who holds it. Two runs interleaving chunks would
// insert the same rows twice. The lock ends with the connection, so a killed run never leaves it behind.
import { hostname } from 'node:os';
import type { Client } from './connect.js';
import { UsageError } from '../errors.js';

/** 'pgsh' as an int4: the advisory-lock class of every pgshift lock. */
const LOCK_CLASS = 0x70677368;
// 'apply': held by the connection that applies replicated changes, re-taken on each of its reconnections. The
// run lock lives on a control connection that can be lost (a target restart) while an applier lives on: every
// run lock taken on a target also checks that no applier is alive, so no second run and no cleanup works under one.
// 'cutover': held by pgshift cutover on its target connection for its whole life (one cutover at a time).
const LOCK_IDS = { target: 1, source: 2, apply: 3, cutover: 4 } as const;
export type LockSide = keyof typeof LOCK_IDS;

/** application_name of a run's control connection: names the command, host and pid for whoever is refused. */
export function runApplicationName(command: string): string {
  return `pgshift ${command} [${hostname().slice(0, 24)}:${process.pid}]`.slice(0, 63);
}

export interface LockHolder {
  pid: number;
  applicationName: string | null;
  since: Date | null;
  clientAddr: string | null;
}

async function holder(client: Client, side: LockSide): Promise<LockHolder | null> {
  const { rows } = await client.query<{ pid: number; application_name: string | null; backend_start: Date | null; client_addr: string | null }>(
    `SELECT l.pid, a.application_name, a.backend_start, host(a.client_addr) AS client_addr
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int8::oid AND l.objid = $2::int8::oid AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      LIMIT 1`,
    [LOCK_CLASS, LOCK_IDS[side]],
  );
  const r = rows[0];
  return r ? { pid: r.pid, applicationName: r.application_name, since: r.backend_start, clientAddr: r.client_addr } : null;
}

/** Who holds the run lock on this target right now (a copy or replicate in progress), or null. */
export async function targetRunHolder(client: Client): Promise<LockHolder | null> {
  return holder(client, 'target');
}

export function describeHolder(h: LockHolder): string {
  const parts = [h.applicationName?.startsWith('pgshift') ? h.applicationName : `pgshift (server pid ${h.pid})`];
  if (h.clientAddr) parts.push(`connected from ${h.clientAddr}`);
  if (h.since) parts.push(`since ${h.since.toISOString()}`);
  return parts.join(', ');
}

/**
 * Take the run lock on this connection or refuse (exit 2) naming the run that holds it. `startedAt` from the
 * state, when the caller has it, is added to the message.
 */
export async function acquireRunLock(client: Client, o: { command: string; side: LockSide; display: string; ownApplier?: boolean }): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok`, [LOCK_CLASS, LOCK_IDS[o.side]]);
  if (!rows[0]!.ok) throw await refusal(client, o.command, o.side, o.display);
  if (o.side !== 'target' || o.ownApplier) return;
  // An applier of another run still alive (its control connection lost): refused like the run itself.
  const { rows: a } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1::int4, $2::int4) AND pg_advisory_unlock($1::int4, $2::int4) AS ok`, [
    LOCK_CLASS,
    LOCK_IDS.apply,
  ]);
  if (a[0]!.ok) return;
  await client.query(`SELECT pg_advisory_unlock($1::int4, $2::int4)`, [LOCK_CLASS, LOCK_IDS.target]);
  throw await refusal(client, o.command, 'apply', o.display);
}

/**
 * The applier's own lock, on its apply connection, before it applies anything: refused (exit 2, not retried)
 * when another run's applier holds it.
 */
export async function acquireApplyLock(client: Client, display: string): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok`, [LOCK_CLASS, LOCK_IDS.apply]);
  if (!rows[0]!.ok) throw await refusal(client, 'replicate', 'apply', display);
}

async function refusal(client: Client, command: string, side: LockSide, display: string): Promise<UsageError> {
  const h = await holder(client, side);
  const where =
    side === 'apply'
      ? `applying replicated changes to the target ${display}`
      : side === 'cutover'
        ? `cutting over to the target ${display}`
        : `working on the ${side} ${display}`;
  return new UsageError(
    `${command}: another pgshift run is ${where} right now (${h ? describeHolder(h) : 'holder not visible to this role'}); nothing was changed`,
    {
      phase: 'preflight',
      hint: 'wait for it to finish, or stop it (Ctrl-C in its terminal, or pg_terminate_backend on its connections); then run this command again',
    },
  );
}
