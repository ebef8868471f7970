import { Command, Option } from 'commander';
import { optionalUrl, requireUrl } from '../config.js';
import { ExitCode } from '../errors.js';
import { cleanup } from '../state/cleanup.js';
import { run, withConnectionOptions, type CommonOptions } from './context.js';

interface CleanupFlags extends CommonOptions {
  force?: boolean;
}

export function cleanupCommand(): Command {
  const cmd = new Command('cleanup')
    .summary('remove every state object pgshift created')
    .description(
      [
        'Remove what pgshift left on the servers once the migration is over: the',
        '"pgshift" schema on the target that records copy progress (needed by',
        'copy --resume), and for a replication the slot and publication on the',
        'source (--source), after restoring the triggers and foreign keys replicate',
        'switched off, or the triggers, functions and schema _pgshift of replicate',
        '--capture triggers. It refuses while a copy or replicate runs, keeps the state',
        'of an unfinished copy unless --force is given. Your data is never touched.',
        'What a run switched off or set aside on the target (foreign keys, triggers,',
        'identity modes) is put back first; if that fails nothing is removed, or with',
        '--force the statements still to run are printed (exit 1).',
        'After pgshift cutover --reverse it also ends the reverse stream (its',
        'capture on the target, its state on the source). It never lifts a',
        "freeze: refused (exit 2) while a cutover's or rollback's freeze can still",
        'be undone by its --abort; a side left read-only is named with the',
        'statement that makes it writable again.',
        '',
        'Examples:',
        '  pgshift cleanup --target $DST',
        '  pgshift cleanup --target $DST --force   # give up an unfinished copy',
        '  pgshift cleanup --source $SRC --target $DST   # after replicate',
      ].join('\n'),
    );
  withConnectionOptions(cmd, { source: 'optional', target: 'required' })
    .addOption(new Option('--force', 'also remove the state of an unfinished copy (no --resume after this). Example: --force'))
    .action(async (flags: CleanupFlags) => {
      process.exitCode = await run(flags, async (ctx) => {
        const target = requireUrl('target', flags.target);
        const report = await cleanup(target, { force: flags.force, source: optionalUrl('source', flags.source) });
        ctx.print(report.nothingToDo ? `Nothing to clean up on ${target.display}.` : `Removed: ${report.removed.join('; ')}`);
        if (report.leftOnSource.length) {
          ctx.print(
            `Left on the source: REPLICA IDENTITY FULL, set by --fix-replica-identity (UPDATE/DELETE there write whole old rows to the WAL). To undo, once nothing replicates these tables, run on the source:\n` +
              report.leftOnSource.map((s) => `  ${s}`).join('\n'),
          );
        }
        for (const f of report.stillFrozen ?? []) ctx.print(`Still read-only: ${f}`);
        if (report.notRestored.length) {
          // --force went on without them: the target lacks these until they are run (after fixing the data).
          ctx.print(
            `Not restored on ${target.display} (--force): run these on the target once the rows they refuse are fixed:\n` +
              report.notRestored.map((s) => `  ${s}`).join('\n'),
          );
        }
        return { json: report, exitCode: report.ok ? ExitCode.ok : ExitCode.negative };
      });
    });
  return cmd;
}
