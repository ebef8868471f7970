// What `pgshift cleanup` removes for a replication: the slot and publication on the source (names recorded in the
// target state before they were created), after putting back what the applier switched off on the target.
// Idempotent: a name already gone is skipped.
import type { ConnectionSpec } from '../config.js';
import { withClient, type Client } from '../db/connect.js';
import { UsageError } from '../errors.js';
import { restoreSwitches } from './apply/switches.js';
import { dropPublication, dropSlot } from './pgoutput/slot.js';
import { loadReplication } from './state.js';

/** Called by cleanup while it holds the target's run lock (so no replicate is running). */
export async function cleanupReplication(c: Client, target: ConnectionSpec, source: ConnectionSpec | undefined): Promise<{ replication: boolean; removed: string[] }> {
  const state = await loadReplication(c);
  if (!state) return { replication: false, removed: [] };
  if (!source) {
    throw new UsageError(`cleanup: ${target.display} replicates from ${state.source}: its slot ${state.slot} and publication ${state.publication} live on the source; nothing was removed`, {
      hint: 'pass --source with the source URL so the slot (which keeps WAL on the source) is dropped too',
    });
  }
  if (state.source !== source.display) {
    throw new UsageError(`cleanup: the replication on ${target.display} comes from ${state.source}, not ${source.display}; nothing was removed`, { hint: 'pass the same --source as the replicate run' });
  }
  const removed: string[] = [];
  await withClient(source, async (src) => {
    if (await dropSlot(src, state.slot)) removed.push(`replication slot ${state.slot} on the source`);
    if (await dropPublication(src, state.publication)) removed.push(`publication ${state.publication} on the source`);
  });
  const r = await restoreSwitches(c);
  if (r.triggers + r.foreignKeys + r.identities) removed.push(`restored on the target: ${r.triggers} triggers, ${r.foreignKeys} foreign keys, ${r.identities} identity columns`);
  return { replication: true, removed };
}
