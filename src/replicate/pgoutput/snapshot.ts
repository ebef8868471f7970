// The slot's exported snapshot as the copy engine's Snapshot: a normal connection imports it for catalog reads;
// the replication connection that exported it stays open and idle until close() (any command on it, or closing
// it, would end the snapshot before every copy worker and pg_dump imported it).
import type { ConnectionSpec } from '../../config.js';
import { connect, type Client } from '../../db/connect.js';
import { importSnapshot } from '../../db/snapshot.js';
import type { CreatedSlot } from './slot.js';

export interface AdoptedSnapshot {
  id: string;
  client: Client;
  close(): Promise<void>;
}

export async function adoptSlotSnapshot(source: ConnectionSpec, slot: CreatedSlot): Promise<AdoptedSnapshot> {
  const client = await connect(source, { applicationName: 'pgshift replicate copy coordinator' });
  try {
    await importSnapshot(client, slot.snapshotName);
    await client.query(`SET LOCAL search_path = pg_catalog`);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  let closed = false;
  return {
    id: slot.snapshotName,
    client,
    async close() {
      if (closed) return;
      closed = true;
      await client.query('COMMIT').catch(() => undefined);
      await client.end().catch(() => undefined);
      await slot.holder.end().catch(() => undefined);
    },
  };
}
