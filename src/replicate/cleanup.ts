// What `pgshift cleanup` removes for a replication: the slot and publication on the source (names recorded in the
// target state before they were created). What the applier switched off on the target is put back FIRST
// (restoreTargetSwitches): a cleanup that cannot restore the target drops nothing on the source, so the
// replication can still be finished and the keys are never lost with the slot. Idempotent: a name already gone
// is skipped.
import type { ConnectionSpec } from '../config.js';
import { withClient, type Client } from '../db/connect.js';
import { PgshiftError, UsageError } from '../errors.js';
import { restoreSwitches, type Switched } from './apply/switches.js';
import { dropPublication, dropSlot } from './pgoutput/slot.js';
import { fixedIdentityOf, loadReplication, type ReplicationState } from '../state/replication.js';

/** The replication recorded on the target, checked against --source before anything changes (null: none). */
export async function replicationToClean(c: Client, target: ConnectionSpec, source: ConnectionSpec | undefined): Promise<ReplicationState | null> {
  const state = await loadReplication(c); // refuses a state another role can write: the names come from it
  if (!state) return null;
  if (!source) {
    throw new UsageError(
      `cleanup: ${target.display} replicates from ${state.source}: its slot ${state.slot} and publication ${state.publication} live on the source; nothing was removed`,
      {
        hint: 'pass --source with the source URL so the slot (which keeps WAL on the source) is dropped too',
      },
    );
  }
  if (state.source !== source.display) {
    throw new UsageError(`cleanup: the replication on ${target.display} comes from ${state.source}, not ${source.display}; nothing was removed`, {
      hint: 'pass the same --source as the replicate run',
    });
  }
  return state;
}

/**
 * Put back on the target what replicate switched off (either capture). On failure nothing has been removed on
 * the source: the error says so, names what is kept there and what to do.
 */
export async function restoreTargetSwitches(c: Client, target: ConnectionSpec, keptOnSource: string[]): Promise<Switched> {
  try {
    return await restoreSwitches(c);
  } catch (err) {
    const e = err as PgshiftError;
    const kept = keptOnSource.length ? ` and kept ${keptOnSource.join(' and ')} on the source` : '';
    throw new PgshiftError(`cleanup: could not put back on ${target.display} what replicate switched off: ${e.message}; cleanup removed nothing${kept}`, {
      phase: 'cleanup',
      object: e.object,
      cause: err,
      hint:
        'fix what the message names on the target, then run pgshift cleanup again (or finish the replication first: pgshift replicate --until-caught-up puts everything back); ' +
        'cleanup --force removes everything anyway and prints the statements still to run on the target',
    });
  }
}

/** Drop the slot and publication on the source; call after restoreTargetSwitches succeeded. */
export async function dropReplicationOnSource(state: ReplicationState, source: ConnectionSpec): Promise<string[]> {
  const removed: string[] = [];
  await withClient(source, async (src) => {
    // A source left read-only by pgshift cutover (ALTER DATABASE … default_transaction_read_only) still drops them.
    await src.query(`SET default_transaction_read_only = off`);
    // Defence in depth: only a pgoutput slot of this database is ours to end and drop (never a standby's).
    const { rows } = await src.query(`SELECT slot_type, plugin, database = current_database() AS here FROM pg_replication_slots WHERE slot_name = $1`, [
      state.slot,
    ]);
    const s = rows[0];
    if (s && (s.slot_type !== 'logical' || s.plugin !== 'pgoutput' || !s.here)) {
      throw new UsageError(
        `cleanup: the slot ${state.slot} named by the target's state is not a pgoutput slot of this database (${s.slot_type}, ${s.plugin ?? 'no plugin'}); it was left alone`,
        {
          hint: "check which replication the target state belongs to; drop the slot yourself only if it is pgshift's",
        },
      );
    }
    if (await dropSlot(src, state.slot)) removed.push(`replication slot ${state.slot} on the source`);
    if (await dropPublication(src, state.publication)) removed.push(`publication ${state.publication} on the source`);
  });
  return removed;
}

/** Called by cleanup while it holds the target's run lock (so no replicate is running): target first, then source. */
export async function cleanupReplication(
  c: Client,
  target: ConnectionSpec,
  source: ConnectionSpec | undefined,
): Promise<{ replication: boolean; removed: string[]; leftOnSource: string[] }> {
  const state = await replicationToClean(c, target, source);
  if (!state) return { replication: false, removed: [], leftOnSource: [] };
  const removed: string[] = [];
  const r = await restoreTargetSwitches(c, target, [`replication slot ${state.slot}`, `publication ${state.publication}`]);
  if (r.triggers + r.foreignKeys + r.identities)
    removed.push(`restored on the target: ${r.triggers} triggers, ${r.foreignKeys} foreign keys, ${r.identities} identity columns`);
  removed.push(...(await dropReplicationOnSource(state, source!)));
  // Printed, never run: the user decides (a key may have been added since, or FULL may be wanted).
  const leftOnSource = fixedIdentityOf(state).map((t) => `ALTER TABLE ${t} REPLICA IDENTITY DEFAULT;`);
  return { replication: true, removed, leftOnSource };
}
