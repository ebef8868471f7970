// `pgshift cutover --abort`: undo the freeze recorded on the target — the source database's
// default_transaction_read_only put back exactly as it was before (RESET when none was set) — then validate the
// foreign keys the finish left NOT VALID, so a later replicate starts from a clean target. Safe to run at any
// step, after a crash, and more than once.
import type { ConnectionSpec } from '../config.js';
import { connect, type Client } from '../db/connect.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { classifyError, UsageError } from '../errors.js';
import { restoreSwitches } from '../replicate/apply/switches.js';
import { allowWrites, restoreSourceSetting } from './freeze.js';
import { loadCutover, recordUnfrozen } from './state.js';

export interface AbortReport {
  ok: boolean;
  /** What this run undid. */
  undone: string[];
  /** The step the cutover had reached. */
  step: string | null;
  sourceWritable: boolean;
  next: string[];
}

export async function abortCutover(source: ConnectionSpec, target: ConnectionSpec, o: { indexJobs: number }): Promise<AbortReport> {
  let ctl: Client | undefined;
  let src: Client | undefined;
  try {
    ctl = await connect(target, { applicationName: runApplicationName('cutover') });
    await acquireRunLock(ctl, { command: 'cutover --abort', side: 'cutover', display: target.display });
    const state = await loadCutover(ctl);
    if (!state) return { ok: true, undone: [], step: null, sourceWritable: true, next: ['no cutover is recorded on this target: nothing to undo'] };
    if (state.source !== source.display)
      throw new UsageError(`cutover --abort: the cutover recorded on ${target.display} froze ${state.source}, not ${source.display}; nothing was changed`, {
        phase: 'unfreeze',
        hint: 'pass the --source the cutover was run with',
      });
    if (state.reverseAt || state.step === 'rolled-back')
      throw new UsageError(
        state.step === 'rolled-back'
          ? `cutover --abort: pgshift rollback already brought the application back to ${state.source}; nothing was changed`
          : `cutover --abort: a reverse stream ${target.display} → ${state.source} was set up, so the application may already write to the target; undoing the freeze now would lose those writes; nothing was changed`,
        {
          phase: 'unfreeze',
          hint:
            state.step === 'rolled-back'
              ? 'nothing to undo: the source takes writes'
              : "the way back is pgshift rollback --source … --target … (it brings the target's writes back to the source first, then unfreezes it)",
        },
      );
    const undone: string[] = [];
    if (state.sourceFrozen) {
      src = await connect(source, { applicationName: 'pgshift cutover abort' });
      await allowWrites(src);
      const { rows } = await src.query(`SELECT current_database() AS d`);
      if (rows[0].d !== state.sourceDatabase)
        throw new UsageError(`cutover --abort: the recorded freeze is on database ${state.sourceDatabase}, --source names ${rows[0].d}; nothing was changed`, {
          phase: 'unfreeze',
          hint: 'pass the --source URL the cutover was run with',
        });
      await restoreSourceSetting(src, state.sourceDatabase, state.readOnlyBefore);
      undone.push(
        `source database ${state.sourceDatabase}: default_transaction_read_only ${state.readOnlyBefore === null ? 'reset (none was set before)' : `set back to ${state.readOnlyBefore}`}`,
      );
    }
    await recordUnfrozen(ctl, 'aborted');
    const checked = await restoreSwitches(ctl, { target, jobs: o.indexJobs }).catch((err: unknown) => {
      undone.push(`foreign keys owed a check on the target: ${(err as Error).message}`);
      return null;
    });
    if (checked?.foreignKeys) undone.push(`${checked.foreignKeys} foreign key(s) on the target validated`);
    return {
      ok: true,
      undone,
      step: state.step,
      sourceWritable: true,
      next: [
        state.freeze === 'source'
          ? 'the source takes writes again (new sessions; sessions terminated by the cutover reconnect)'
          : 'nothing was changed on the source by --freeze wait: the team may resume writes',
        'the replication is kept: pgshift replicate --source … --target … streams again, pgshift cutover retries',
      ],
    };
  } catch (err) {
    throw classifyError(err, 'cutover --abort', { phase: 'unfreeze', hint: 'fix the cause and run pgshift cutover --abort again (it is safe to repeat)' });
  } finally {
    await Promise.all([src?.end().catch(() => undefined), ctl?.end().catch(() => undefined)]);
  }
}
