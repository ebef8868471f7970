// One snapshot for every reader. It is exported once — by a coordinator transaction (pg_export_snapshot) or by
// CREATE_REPLICATION_SLOT … (SNAPSHOT 'export') on a replication connection — and imported by every worker,
// pg_dump included. The exporting connection must stay open and idle until every import is done.
import type { ConnectionSpec } from '../config.js';
import { classifyError } from '../errors.js';
import { connect, type Client } from './connect.js';
import { quoteLiteral } from './ident.js';

export interface Snapshot {
  id: string;
  /** A connection inside the snapshot (search_path = pg_catalog) for catalog reads; closed by close(). */
  client: Client;
  /** Ends the reading transaction and whatever holds the snapshot. Idempotent. */
  close(): Promise<void>;
}

/** BEGIN a read-only repeatable-read transaction and export its snapshot. */
export async function beginExportedSnapshot(client: Client): Promise<string> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
  return rows[0]!.id;
}

/** The statements that BEGIN a read-only repeatable-read transaction on an exported snapshot (one simple query). */
export function importSnapshotSql(id: string): string {
  // SET TRANSACTION SNAPSHOT takes no bind parameters; the id comes from the server itself.
  return `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT ${quoteLiteral(id)}`;
}

/** BEGIN a read-only repeatable-read transaction on an exported snapshot: one round trip. */
export async function importSnapshot(client: Client, id: string): Promise<void> {
  await client.query(importSnapshotSql(id));
}

async function endQuietly(client: Client): Promise<void> {
  await client.query('COMMIT').catch(() => undefined);
  await client.end().catch(() => undefined);
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

/** Export a snapshot from a new coordinator connection that also serves catalog reads. */
export async function exportSnapshot(spec: ConnectionSpec, label = 'coordinator'): Promise<Snapshot> {
  const client = await connect(spec, { applicationName: `pgshift ${label}` });
  try {
    const id = await beginExportedSnapshot(client);
    // Qualified names everywhere in pg_get_*def output.
    await client.query(`SET LOCAL search_path = pg_catalog`);
    return { id, client, close: once(() => endQuietly(client)) };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classifyError(err, `${spec.side} ${spec.display}: exporting a snapshot`, { phase: 'snapshot' });
  }
}

/**
 * A snapshot exported elsewhere (a replication slot's): `holder` keeps it alive and must run nothing until
 * every reader has imported it; catalog reads go through a new connection that imports it.
 */
export async function adoptSnapshot(spec: ConnectionSpec, id: string, holder: { end(): Promise<void> }): Promise<Snapshot> {
  const client = await connect(spec, { applicationName: 'pgshift coordinator' });
  try {
    await importSnapshot(client, id);
    await client.query(`SET LOCAL search_path = pg_catalog`);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classifyError(err, `${spec.side} ${spec.display}: importing snapshot ${id}`, { phase: 'snapshot' });
  }
  return {
    id,
    client,
    close: once(async () => {
      await endQuietly(client);
      await holder.end().catch(() => undefined);
    }),
  };
}
