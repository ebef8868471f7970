// `pgshift cleanup`: remove what pgshift created: the state on the target (the `pgshift` schema) and, for a
// replication, its slot and publication or its trigger capture on the source. Order: every check that can
// refuse first (nothing changed), then the target put back as it was (what replicate switched off), and only
// then anything on the source, then the state. A target that cannot be put back stops cleanup before the source.
import type { ConnectionSpec } from '../config.js';
import { withClient, withTransaction, type Client } from '../db/connect.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { PgshiftError, UsageError } from '../errors.js';
import { cleanupReplication, replicationToClean, restoreTargetSwitches } from '../replicate/cleanup.js';
import { pendingRestoreStatements } from '../replicate/apply/switches.js';
import { loadSetAside } from '../copy/setaside.js';
import { cleanupCapture } from '../replicate/triggers/cleanup.js';
import { loadCapture } from './replication.js';
import { loadRun, STATE_SCHEMA } from './store.js';
import { assertStateTrusted } from './trust.js';
import { loadCutover } from '../cutover/state.js';
import { cleanupReverse } from '../rollback/cleanup.js';
import { undoFreezeStatement } from '../rollback/index.js';

export interface CleanupReport {
  /** false: something switched off or set aside could not be put back (only with --force; see notRestored). */
  ok: boolean;
  removed: string[];
  /** Statements that put back what could not be restored (--force went on without them): run them after the fix. */
  notRestored: string[];
  /** Nothing pgshift created was found. */
  nothingToDo: boolean;
  /** Changes pgshift made on the source and leaves there, as the statements that undo them (printed, not run). */
  leftOnSource: string[];
  /** A side left read-only by pgshift cutover or rollback (never lifted by cleanup), with the statement that undoes it. */
  stillFrozen?: string[];
}

export async function cleanup(target: ConnectionSpec, opts: { force?: boolean; source?: ConnectionSpec } = {}): Promise<CleanupReport> {
  // pgshift's own objects go even from a side a cutover or rollback left read-only (the freeze itself stays).
  return await withClient(
    { ...target, writeThroughFreeze: true },
    async (c) => {
      // Refused at once while a copy or replicate (or another cleanup) holds the target.
      await acquireRunLock(c, { command: 'cleanup', side: 'target', display: target.display });
      const { rows } = await c.query<{ present: boolean }>(`SELECT to_regnamespace($1) IS NOT NULL AS present`, [STATE_SCHEMA]);
      if (!rows[0]!.present) {
        // No state: only a capture whose target state was lost (recognised on the source by its comment).
        const captured = await cleanupCapture(c, target, opts.source, { force: opts.force });
        return { ok: true, removed: captured.removed, notRestored: [], nothingToDo: captured.removed.length === 0, leftOnSource: [] };
      }
      // What the state names (keys to put back, slot and publication to drop) is only acted on if no one else can write it.
      await assertStateTrusted(c, target.display);
      const run = await loadRun(c);
      const replication = await replicationToClean(c, target, opts.source);
      const capture = await loadCapture(c);
      if (capture && !opts.source) {
        throw new UsageError(
          `cleanup: ${target.display} is fed by trigger capture on ${capture.source}: its triggers, functions and the schema _pgshift live on the source; nothing was removed`,
          {
            hint: 'pass --source with the source URL so the capture (which logs every write on the source) is removed too',
          },
        );
      }
      if (capture && opts.source && capture.source !== opts.source.display) {
        throw new UsageError(`cleanup: the capture feeding ${target.display} is on ${capture.source}, not ${opts.source.display}; nothing was removed`, {
          hint: 'pass the same --source as the replicate run',
        });
      }
      if (run && !run.finishedAt && !opts.force && !replication && !capture) {
        throw new UsageError(
          `cleanup: ${target.display} holds an unfinished copy (started ${run.startedAt.toISOString()}); removing its state makes --resume impossible`,
          {
            hint: 'finish it with pgshift copy --resume, or pass --force to remove the state anyway',
          },
        );
      }
      // A freeze is never lifted here: refused while a cutover's freeze is undoable (its record undoes it), named after.
      const cut = await loadCutover(c);
      const stillFrozen: string[] = [];
      if (cut?.sourceFrozen) {
        const switched = cut.step === 'reverse' || cut.step === 'validate' || cut.step === 'done';
        if (!switched && !opts.force)
          throw new UsageError(
            `cleanup: the source ${cut.source} is frozen by a cutover that was neither switched nor aborted (step ${cut.step}); removing its record makes pgshift cutover --abort impossible; nothing was removed`,
            {
              phase: 'cleanup',
              hint: 'undo the freeze first: pgshift cutover --abort --source … --target … (or finish the cutover); --force removes everything anyway and prints the statement that unfreezes the source',
            },
          );
        stillFrozen.push(
          `the source ${cut.source} stays read-only (frozen by pgshift cutover); to make it writable, on the source: ${undoFreezeStatement(cut.sourceDatabase, cut.readOnlyBefore)}`,
        );
      }
      // After a cutover --reverse: the reverse stream (its capture on this target, its state on the source) first.
      const reverse = opts.source ? await cleanupReverse(opts.source, target, { force: opts.force, cleanup }) : null;
      if (reverse) stillFrozen.push(...reverse.stillFrozen);
      // The target first: what replicate switched off and what copy --data-only set aside come back before anything
      // on the source or in the state goes. Without --force a failure stops here; with it, cleanup goes on and names
      // the statements that put back what could not be restored.
      const kept = [
        ...(replication ? [`replication slot ${replication.slot}`, `publication ${replication.publication}`] : []),
        ...(capture ? ['the trigger capture (schema _pgshift)'] : []),
      ];
      const removed: string[] = [];
      const notRestored: string[] = [];
      try {
        const restored = await restoreTargetSwitches(c, target, kept);
        if (restored.triggers + restored.foreignKeys + restored.identities) {
          removed.push(`restored on the target: ${restored.triggers} triggers, ${restored.foreignKeys} foreign keys, ${restored.identities} identity columns`);
        }
      } catch (err) {
        if (!opts.force) throw err;
        // Named in the report, then forgotten: the state goes anyway (what --force asks for).
        notRestored.push(...(await pendingRestoreStatements(c)));
        await c.query(`DELETE FROM pgshift.replication_switch`);
      }
      const copied = await restoreSetAside(c, target, { force: opts.force });
      if (copied.restored) removed.push(`restored on the target: ${copied.restored} foreign keys and triggers copy --data-only had set aside`);
      notRestored.push(...copied.notRestored);
      const captured = await cleanupCapture(c, target, opts.source, { force: opts.force });
      const replicated = await cleanupReplication(c, target, opts.source);
      await c.query(`DROP SCHEMA ${STATE_SCHEMA} CASCADE`);
      removed.push(
        ...(reverse?.removed ?? []),
        ...captured.removed,
        ...replicated.removed,
        `schema ${STATE_SCHEMA} on the target (${replicated.replication || captured.capture ? 'copy and replication' : 'copy'} state)`,
      );
      return { ok: notRestored.length === 0, removed, notRestored, nothingToDo: false, leftOnSource: replicated.leftOnSource, stillFrozen };
    },
    { applicationName: runApplicationName('cleanup') },
  );
}

/**
 * Put back what an unfinished copy --data-only set aside (its foreign keys, its disabled triggers). A failure
 * stops cleanup with the state kept, unless --force: then the statement is named instead (and the state goes).
 */
async function restoreSetAside(c: Client, target: ConnectionSpec, opts: { force?: boolean }): Promise<{ restored: number; notRestored: string[] }> {
  let items;
  try {
    items = await loadSetAside(c);
  } catch (err) {
    if (!opts.force) throw err;
    return { restored: 0, notRestored: [`-- ${(err as Error).message}`] };
  }
  let restored = 0;
  const notRestored: string[] = [];
  for (const s of items) {
    try {
      await withTransaction(c, async () => {
        await c.query(s.sql);
        await c.query(s.forget.text, s.forget.values);
      });
      restored++;
    } catch (err) {
      if (opts.force) {
        notRestored.push(`${s.sql};`);
        continue;
      }
      throw new PgshiftError(
        `cleanup: could not put back the ${s.kind} ${s.name} on ${s.tbl} that copy --data-only set aside on ${target.display}: ${(err as Error).message}; cleanup removed nothing`,
        {
          phase: 'cleanup',
          object: s.tbl,
          cause: err,
          hint: `fix the rows the message names and run pgshift cleanup again (the statement is: ${s.sql}); --force removes the state anyway and prints the statements still to run`,
        },
      );
    }
  }
  return { restored, notRestored };
}
