// `pgshift cleanup`: remove what pgshift created: the state on the target (the `pgshift` schema) and, for a
// replication, its slot and publication or its trigger capture on the source. Order: every check that can
// refuse first (nothing changed), then the target put back as it was (what replicate switched off), and only
// then anything on the source, then the state. A target that cannot be put back stops cleanup before the source.
import type { ConnectionSpec } from '../config.js';
import { withClient } from '../db/connect.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { UsageError } from '../errors.js';
import { cleanupReplication, replicationToClean, restoreTargetSwitches } from '../replicate/cleanup.js';
import { cleanupCapture } from '../replicate/triggers/cleanup.js';
import { loadCapture } from '../replicate/triggers/state.js';
import { loadRun, STATE_SCHEMA } from './store.js';
import { assertStateTrusted } from './trust.js';

export interface CleanupReport {
  ok: true;
  removed: string[];
  /** Nothing pgshift created was found. */
  nothingToDo: boolean;
}

export async function cleanup(target: ConnectionSpec, opts: { force?: boolean; source?: ConnectionSpec } = {}): Promise<CleanupReport> {
  return await withClient(
    target,
    async (c) => {
    // Refused at once while a copy or replicate (or another cleanup) holds the target.
    await acquireRunLock(c, { command: 'cleanup', side: 'target', display: target.display });
    const { rows } = await c.query<{ present: boolean }>(`SELECT to_regnamespace($1) IS NOT NULL AS present`, [STATE_SCHEMA]);
    if (!rows[0]!.present) {
      // No state: only a capture whose target state was lost (recognised on the source by its comment).
      const captured = await cleanupCapture(c, target, opts.source, { force: opts.force });
      return { ok: true, removed: captured.removed, nothingToDo: captured.removed.length === 0 };
    }
    // What the state names (keys to put back, slot and publication to drop) is only acted on if no one else can write it.
    await assertStateTrusted(c, target.display);
    const run = await loadRun(c);
    const replication = await replicationToClean(c, target, opts.source);
    const capture = await loadCapture(c);
    if (capture && !opts.source) {
      throw new UsageError(`cleanup: ${target.display} is fed by trigger capture on ${capture.source}: its triggers, functions and the schema _pgshift live on the source; nothing was removed`, {
        hint: 'pass --source with the source URL so the capture (which logs every write on the source) is removed too',
      });
    }
    if (capture && opts.source && capture.source !== opts.source.display) {
      throw new UsageError(`cleanup: the capture feeding ${target.display} is on ${capture.source}, not ${opts.source.display}; nothing was removed`, { hint: 'pass the same --source as the replicate run' });
    }
    if (run && !run.finishedAt && !opts.force && !replication && !capture) {
      throw new UsageError(`cleanup: ${target.display} holds an unfinished copy (started ${run.startedAt.toISOString()}); removing its state makes --resume impossible`, {
        hint: 'finish it with pgshift copy --resume, or pass --force to remove the state anyway',
      });
    }
    // The target first: what replicate switched off comes back before anything on the source goes.
    const kept = [...(replication ? [`replication slot ${replication.slot}`, `publication ${replication.publication}`] : []), ...(capture ? ['the trigger capture (schema _pgshift)'] : [])];
    const restored = await restoreTargetSwitches(c, target, kept);
    const removed: string[] = [];
    if (restored.triggers + restored.foreignKeys + restored.identities) {
      removed.push(`restored on the target: ${restored.triggers} triggers, ${restored.foreignKeys} foreign keys, ${restored.identities} identity columns`);
    }
    const captured = await cleanupCapture(c, target, opts.source, { force: opts.force });
    const replicated = await cleanupReplication(c, target, opts.source);
    await c.query(`DROP SCHEMA ${STATE_SCHEMA} CASCADE`);
    removed.push(...captured.removed, ...replicated.removed, `schema ${STATE_SCHEMA} on the target (${replicated.replication || captured.capture ? 'copy and replication' : 'copy'} state)`);
    return { ok: true, removed, nothingToDo: false };
    },
    { applicationName: runApplicationName('cleanup') },
  );
}
