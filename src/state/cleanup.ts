// `pgshift cleanup`: remove what pgshift created. Today that is the copy state on the target (the `pgshift`
// schema); replication slots and publications on the source will join it when `replicate` lands.
import type { ConnectionSpec } from '../config.js';
import { withClient } from '../db/connect.js';
import { UsageError } from '../errors.js';
import { cleanupReplication } from '../replicate/cleanup.js';
import { loadRun, STATE_SCHEMA } from './store.js';

export interface CleanupReport {
  ok: true;
  removed: string[];
  /** Nothing pgshift created was found. */
  nothingToDo: boolean;
}

export async function cleanup(target: ConnectionSpec, opts: { force?: boolean; source?: ConnectionSpec } = {}): Promise<CleanupReport> {
  return await withClient(target, async (c) => {
    const { rows } = await c.query(`SELECT to_regnamespace($1) IS NOT NULL AS present`, [STATE_SCHEMA]);
    if (!rows[0].present) return { ok: true, removed: [], nothingToDo: true };
    const run = await loadRun(c);
    const { rows: active } = await c.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'pgshift copy%' AND pid <> pg_backend_pid()`,
    );
    if (active[0].n > 0) {
      throw new UsageError(`cleanup: a pgshift copy is running against ${target.display}; nothing was removed`, {
        hint: 'wait for it to finish (or stop it), then run pgshift cleanup again',
      });
    }
    // Replication: its slot keeps WAL on the source, and its switches are restored before the state goes.
    const replicated = await cleanupReplication(c, target, opts.source, Boolean(opts.force));
    if (run && !run.finishedAt && !opts.force && !replicated.replication) {
      throw new UsageError(`cleanup: ${target.display} holds an unfinished copy (started ${run.startedAt.toISOString()}); removing its state makes --resume impossible`, {
        hint: 'finish it with pgshift copy --resume, or pass --force to remove the state anyway',
      });
    }
    await c.query(`DROP SCHEMA ${STATE_SCHEMA} CASCADE`);
    return { ok: true, removed: [...replicated.removed, `schema ${STATE_SCHEMA} on the target (copy and replication state)`], nothingToDo: false };
  });
}
