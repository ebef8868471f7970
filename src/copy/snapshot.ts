// One snapshot for every reader: exported by a coordinator transaction that stays open (and otherwise idle for
// data) until every worker and pg_dump has imported it.
import type { ConnectionSpec } from '../config.js';
import { connect, type Client } from '../db/connect.js';
import { beginExportedSnapshot } from '../db/snapshot.js';
import { classifyError } from '../errors.js';

export interface Snapshot {
  id: string;
  /** The exporting connection: used for catalog reads inside the same snapshot, closed at the end. */
  client: Client;
  close(): Promise<void>;
}

export async function exportSnapshot(source: ConnectionSpec): Promise<Snapshot> {
  const client = await connect(source, { applicationName: 'pgshift copy coordinator' });
  try {
    const id = await beginExportedSnapshot(client);
    // Qualified names everywhere in pg_get_*def output.
    await client.query(`SET LOCAL search_path = pg_catalog`);
    return {
      id,
      client,
      async close() {
        await client.query('COMMIT').catch(() => undefined);
        await client.end().catch(() => undefined);
      },
    };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classifyError(err, `source ${source.display}: exporting a snapshot`, { phase: 'snapshot' });
  }
}
