// Publication and slot on the SOURCE. The publication lists the selected tables (a non-superuser cannot create
// FOR ALL TABLES) with publish_via_partition_root, so a partitioned table's changes arrive as its root's and
// a row moving between partitions is applied through the root. The slot is created on a replication
// connection with an exported snapshot: the initial copy reads exactly the state the stream starts from.
import pg from 'pg';
import type { ConnectionSpec } from '../../config.js';
import { connectReplication, type Client } from '../../db/connect.js';
import { quoteIdent } from '../../db/ident.js';
import { classifyError } from '../../errors.js';
import { sleep } from '../../sleep.js';
import { parseLsn } from './lsn.js';

export async function publicationExists(c: Client, name: string): Promise<boolean> {
  const { rows } = await c.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [name]);
  return rows.length > 0;
}

export async function slotInfo(
  c: Client,
  name: string,
): Promise<{ active: boolean; activePid: number | null; retainedBytes: number; confirmedFlush: string | null } | null> {
  const { rows } = await c.query(
    `SELECT active, active_pid, confirmed_flush_lsn::text AS confirmed,
            COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::float8 AS retained
       FROM pg_replication_slots WHERE slot_name = $1`,
    [name],
  );
  const r = rows[0];
  return r ? { active: r.active, activePid: r.active_pid, retainedBytes: Number(r.retained), confirmedFlush: r.confirmed } : null;
}

/** `relations`: quoted qualified names of plain tables and partitioned roots (never their partitions). */
export async function createPublication(c: Client, name: string, relations: string[]): Promise<void> {
  const options = `publish = 'insert, update, delete, truncate', publish_via_partition_root = true`;
  // A rerun after an interrupted copy keeps the publication's OID: dropping and recreating it can make a
  // walsender that decodes across the swap fail with "cache lookup failed for publication".
  if (relations.length && (await publicationExists(c, name))) {
    await c.query(`ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${relations.join(', ')}`);
    await c.query(`ALTER PUBLICATION ${quoteIdent(name)} SET (${options})`);
    return;
  }
  if (await publicationExists(c, name)) await c.query(`DROP PUBLICATION ${quoteIdent(name)}`);
  const list = relations.length ? `FOR TABLE ${relations.join(', ')}` : '';
  await c.query(`CREATE PUBLICATION ${quoteIdent(name)} ${list} WITH (${options})`);
}

export async function dropPublication(c: Client, name: string): Promise<boolean> {
  if (!(await publicationExists(c, name))) return false;
  await c.query(`DROP PUBLICATION ${quoteIdent(name)}`);
  return true;
}

export async function dropSlot(c: Client, name: string): Promise<boolean> {
  const info = await slotInfo(c, name);
  if (!info) return false;
  // A walsender of a killed pgshift may linger until the server notices; ending it frees the slot.
  if (info.active && info.activePid) await c.query(`SELECT pg_terminate_backend($1)`, [info.activePid]).catch(() => undefined);
  for (let i = 0; ; i++) {
    try {
      await c.query(`SELECT pg_drop_replication_slot($1)`, [name]);
      return true;
    } catch (err) {
      // 55006: slot still active for a moment after its walsender was terminated.
      if ((err as { code?: string }).code !== '55006' || i >= 20) throw err;
      await sleep(250);
    }
  }
}

export interface CreatedSlot {
  consistentPoint: bigint;
  consistentPointText: string;
  snapshotName: string;
  /** The replication connection that exported the snapshot: must stay open and idle while readers import it. */
  holder: pg.Client;
}

/** CREATE_REPLICATION_SLOT … LOGICAL pgoutput with an exported snapshot, on a replication connection. */
export async function createSlot(spec: ConnectionSpec, name: string): Promise<CreatedSlot> {
  let holder: pg.Client | undefined;
  try {
    holder = await connectReplication(spec, 'pgshift replicate snapshot');
    const { rows: v } = await holder.query(`SHOW server_version_num`);
    const num = Number(v[0].server_version_num);
    // PostgreSQL 15 introduced the parenthesized option list; older servers take EXPORT_SNAPSHOT.
    const sql =
      num >= 150000
        ? `CREATE_REPLICATION_SLOT ${quoteIdent(name)} LOGICAL pgoutput (SNAPSHOT 'export')`
        : `CREATE_REPLICATION_SLOT ${quoteIdent(name)} LOGICAL pgoutput EXPORT_SNAPSHOT`;
    const { rows } = await holder.query(sql);
    const r = rows[0];
    return { consistentPoint: parseLsn(r.consistent_point), consistentPointText: r.consistent_point, snapshotName: r.snapshot_name, holder };
  } catch (err) {
    await holder?.end().catch(() => undefined);
    throw classifyError(err, `source ${spec.display}: creating replication slot ${name}`, { phase: 'slot' });
  }
}
