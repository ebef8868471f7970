// Exported snapshots: one coordinator transaction exports it, every other reader imports it, so all of them
// see one state of the database. The exporting transaction must stay open until every import is done.
import type { Client } from './connect.js';
import { quoteLiteral } from './ident.js';

/** BEGIN a read-only repeatable-read transaction and export its snapshot. */
export async function beginExportedSnapshot(client: Client): Promise<string> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
  return rows[0]!.id;
}

/** BEGIN a read-only repeatable-read transaction on an exported snapshot. */
export async function importSnapshot(client: Client, id: string): Promise<void> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  // SET TRANSACTION SNAPSHOT takes no bind parameters; the id comes from the server itself.
  await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(id)}`);
}
