// `pgshift cleanup`: remove what pgshift created: the state on the target (the `pgshift` schema) and, for a
// replication, its slot and publication on the source (after restoring what it switched off on the target).
import type { ConnectionSpec } from '../config.js';
import { withClient } from '../db/connect.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { UsageError } from '../errors.js';
import { cleanupReplication } from '../replicate/cleanup.js';
import { cleanupCapture } from '../replicate/triggers/cleanup.js';
import { loadRun, STATE_SCHEMA } from './store.js';

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
    // Trigger capture (replicate --capture triggers): its triggers log every write on the source until removed.
    const captured = await cleanupCapture(c, target, opts.source, { force: opts.force });
    const { rows } = await c.query<{ present: boolean }>(`SELECT to_regnamespace($1) IS NOT NULL AS present`, [STATE_SCHEMA]);
    if (!rows[0]!.present) return { ok: true, removed: captured.removed, nothingToDo: captured.removed.length === 0 };
    const run = await loadRun(c);
    // Replication: its slot keeps WAL on the source, and its switches are restored before the state goes.
    const replicated = await cleanupReplication(c, target, opts.source);
    if (run && !run.finishedAt && !opts.force && !replicated.replication && !captured.capture) {
      throw new UsageError(`cleanup: ${target.display} holds an unfinished copy (started ${run.startedAt.toISOString()}); removing its state makes --resume impossible`, {
        hint: 'finish it with pgshift copy --resume, or pass --force to remove the state anyway',
      });
    }
    await c.query(`DROP SCHEMA ${STATE_SCHEMA} CASCADE`);
    return { ok: true, removed: [...captured.removed, ...replicated.removed, `schema ${STATE_SCHEMA} on the target (${replicated.replication || captured.capture ? 'copy and replication' : 'copy'} state)`], nothingToDo: false };
    },
    { applicationName: runApplicationName('cleanup') },
  );
}
