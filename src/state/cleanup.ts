// `pgshift cleanup`: remove what pgshift created. Today that is the copy state on the target (the `pgshift`
// schema); replication slots and publications on the source will join it when `replicate` lands.
import type { ConnectionSpec } from '../config.js';
import { withClient } from '../db/connect.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { UsageError } from '../errors.js';
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
    // Refused at once while a copy (or another cleanup) holds the target.
    await acquireRunLock(c, { command: 'cleanup', side: 'target', display: target.display });
    // Trigger capture (replicate --capture triggers): its triggers log every write on the source until removed.
    const captured = await cleanupCapture(c, target, opts.source, { force: opts.force });
    const { rows } = await c.query<{ present: boolean }>(`SELECT to_regnamespace($1) IS NOT NULL AS present`, [STATE_SCHEMA]);
    if (!rows[0]!.present) return { ok: true, removed: captured.removed, nothingToDo: captured.removed.length === 0 };
    const run = await loadRun(c);
    if (run && !run.finishedAt && !opts.force && !captured.capture) {
      throw new UsageError(`cleanup: ${target.display} holds an unfinished copy (started ${run.startedAt.toISOString()}); removing its state makes --resume impossible`, {
        hint: 'finish it with pgshift copy --resume, or pass --force to remove the state anyway',
      });
    }
    await c.query(`DROP SCHEMA ${STATE_SCHEMA} CASCADE`);
    return { ok: true, removed: [...captured.removed, `schema ${STATE_SCHEMA} on the target (copy state)`], nothingToDo: false };
    },
    { applicationName: runApplicationName('cleanup') },
  );
}
