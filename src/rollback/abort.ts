// `pgshift rollback --abort`: undo the rollback's freeze of the new side — its database's
// default_transaction_read_only put back exactly as it was (RESET when none was set) — so the application goes on
// with the new side, the reverse stream kept. Refused once the old side is being unfrozen (then only a rerun of
// the rollback finishes it: both sides must never take writes). Safe at any earlier step, after a crash, twice.
import type { ConnectionSpec } from '../config.js';
import { connect, type Client } from '../db/connect.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { classifyError, UsageError } from '../errors.js';
import { restoreSwitches } from '../replicate/apply/switches.js';
import { allowWrites, restoreSourceSetting } from '../cutover/freeze.js';
import { sideAs, writable } from '../cutover/reverse.js';
import { reverseOf } from './index.js';
import { recordNewUnfrozen } from './state.js';

export interface RollbackAbortReport {
  ok: boolean;
  undone: string[];
  step: string;
  targetWritable: boolean;
  next: string[];
}

export async function abortRollback(source: ConnectionSpec, target: ConnectionSpec, o: { indexJobs: number }): Promise<RollbackAbortReport> {
  const oldSpec = writable(sideAs(source, 'target'));
  let ctl: Client | undefined;
  let neu: Client | undefined;
  try {
    ctl = await connect(oldSpec, { applicationName: runApplicationName('rollback') });
    await acquireRunLock(ctl, { command: 'rollback --abort', side: 'cutover', display: source.display });
    const rev = await reverseOf(ctl, source, target, 'rollback --abort');
    if (rev.step === 'unfreeze' || rev.step === 'validate' || rev.step === 'done')
      throw new UsageError(
        rev.step === 'done'
          ? `rollback --abort: the rollback is done: the source takes writes, the target is read-only; nothing was changed`
          : `rollback --abort: the rollback had proven the two equal and was making the source writable (step ${rev.step}); nothing was changed`,
        {
          phase: 'unfreeze',
          hint: rev.step === 'done' ? 'the application belongs on the source now' : 'finish it: run the same pgshift rollback again (it resumes there)',
        },
      );
    const undone: string[] = [];
    if (rev.newFrozen) {
      neu = await connect(sideAs(target, 'source'), { applicationName: 'pgshift rollback abort' });
      await allowWrites(neu);
      const { rows } = await neu.query(`SELECT current_database() AS d`);
      if (rows[0].d !== rev.newDatabase)
        throw new UsageError(`rollback --abort: the recorded freeze is on database ${rev.newDatabase}, --target names ${rows[0].d}; nothing was changed`, {
          phase: 'unfreeze',
          hint: 'pass the --target URL of the cutover',
        });
      await restoreSourceSetting(neu, rev.newDatabase, rev.newReadOnlyBefore);
      undone.push(
        `target database ${rev.newDatabase}: default_transaction_read_only ${rev.newReadOnlyBefore === null ? 'reset (none was set before)' : `set back to ${rev.newReadOnlyBefore}`}`,
      );
    }
    await recordNewUnfrozen(ctl);
    const checked = await restoreSwitches(ctl, { target: oldSpec, jobs: o.indexJobs }).catch((err: unknown) => {
      undone.push(`foreign keys owed a check on the source: ${(err as Error).message}`);
      return null;
    });
    if (checked?.foreignKeys) undone.push(`${checked.foreignKeys} foreign key(s) on the source validated`);
    return {
      ok: true,
      undone,
      step: rev.step,
      targetWritable: true,
      next: [
        'the target takes writes again (new sessions; sessions terminated by the rollback reconnect): the application stays there',
        `the source stays read-only; keep the reverse stream running: pgshift replicate --source ${target.display} --target ${source.display}${rev.capture === 'triggers' ? ' --capture triggers' : ''}`,
      ],
    };
  } catch (err) {
    throw classifyError(err, 'rollback --abort', { phase: 'unfreeze', hint: 'fix the cause and run pgshift rollback --abort again (it is safe to repeat)' });
  } finally {
    await Promise.all([neu?.end().catch(() => undefined), ctl?.end().catch(() => undefined)]);
  }
}
