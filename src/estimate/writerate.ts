// How fast the source is being written right now: WAL bytes, committed transactions and changed rows per second over a short
// window. Reads only (pg_current_wal_lsn, pg_stat_database); works for a non-superuser.
import type { Client } from '../db/connect.js';
import type { WriteRate } from './model.js';
import { sleep } from '../sleep.js';

interface Mark {
  lsn: string | null;
  commits: number | null;
  /** Rows inserted, updated and deleted so far (what trigger capture would log). */
  changes: number | null;
  at: number;
}

async function mark(c: Client): Promise<Mark> {
  // A standby cannot report pg_current_wal_lsn(): the rate is then unknown, not zero.
  const lsn = await c.query<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`).then(
    (r) => r.rows[0]!.lsn,
    () => null,
  );
  const { rows } = await c.query<{ commits: string | null; changes: string | null }>(
    `SELECT xact_commit AS commits, tup_inserted + tup_updated + tup_deleted AS changes FROM pg_stat_database WHERE datname = current_database()`,
  );
  const n = (v: string | null | undefined) => (v == null ? null : Number(v));
  return { lsn, commits: n(rows[0]?.commits), changes: n(rows[0]?.changes), at: Date.now() };
}

export async function sampleWriteRate(c: Client, seconds: number, signal?: AbortSignal): Promise<WriteRate> {
  const a = await mark(c);
  await sleep(seconds * 1000, signal, { rejectOnAbort: true });
  // Statistics reach pg_stat_database when a backend reports them; a fresh snapshot of them is needed.
  await c.query(`SELECT pg_stat_clear_snapshot()`);
  const b = await mark(c);
  const dt = Math.max(0.001, (b.at - a.at) / 1000);
  let wal: number | null = null;
  if (a.lsn && b.lsn) {
    const { rows } = await c.query<{ d: string }>(`SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) AS d`, [b.lsn, a.lsn]);
    wal = Math.max(0, Number(rows[0]!.d)) / dt;
  }
  const commits = a.commits !== null && b.commits !== null ? Math.max(0, b.commits - a.commits) / dt : null;
  const changes = a.changes !== null && b.changes !== null ? Math.max(0, b.changes - a.changes) / dt : null;
  return { walBytesPerSecond: wal, commitsPerSecond: commits, changesPerSecond: changes, sampledSeconds: dt };
}
