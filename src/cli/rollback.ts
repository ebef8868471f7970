import { Command, Option } from 'commander';
import { parsePositiveInt, requireUrl } from '../config.js';
import { parseDuration } from '../estimate/duration.js';
import { ExitCode } from '../errors.js';
import { renderTable } from '../format.js';
import type { RollbackAbortReport } from '../rollback/abort.js';
import type { RollbackReport } from '../rollback/index.js';
import { run, withConnectionOptions, type CommonOptions } from './context.js';

interface RollbackFlags extends CommonOptions {
  grace: string;
  verify: 'changed' | 'full' | 'none';
  abort?: boolean;
  maxLag: string;
  timeout: string;
}

export function rollbackCommand(): Command {
  const cmd = new Command('rollback')
    .summary('back to the old database after a cutover --reverse, losing nothing')
    .description(
      [
        'Give the same --source and --target as the cutover (source: the old',
        'database, target: the new one). After pgshift cutover --reverse, the',
        "application's writes on the target flow back to the source. rollback",
        'catches that reverse stream up, freezes the target (read-only for new',
        'sessions, open sessions ended after --grace), catches up to the freeze',
        'point, finishes on the source (sequences from the target, triggers,',
        'identities, foreign keys), verifies, then makes the source writable',
        'again exactly as it was before the cutover. The target stays read-only.',
        'Every step is recorded on the source first: a rerun after a crash',
        'resumes, --abort makes the target writable again.',
        '',
        'Stop the reverse stream (the pgshift replicate the cutover printed)',
        'first: rollback drives it itself.',
        '',
        'Exit code 0: rolled back (or --abort done). 1: differences (both sides',
        'kept frozen). 2: no reverse stream recorded. 3/4: could not run.',
        '',
        'Examples:',
        '  pgshift rollback --source $SRC --target $DST --abort   # stay on $DST',
        '  pgshift rollback --source $SRC --target $DST --grace 5s',
        '  pgshift rollback --source $SRC --target $DST --verify full --json',
      ].join('\n'),
    );
  withConnectionOptions(cmd, { source: 'required', target: 'required' })
    .addOption(
      new Option('--grace <duration>', "how long the target's open transactions get before their sessions are terminated. Example: --grace 5s").default('10s'),
    )
    .addOption(
      new Option(
        '--verify <what>',
        "the proof before the source takes writes: changed (the tables the reverse stream changed since the cutover's proof), full, none. Example: --verify full",
      )
        .choices(['changed', 'full', 'none'])
        .default('changed'),
    )
    .addOption(new Option('--abort', "undo the rollback's freeze: the target takes writes again. Example: --abort"))
    .addOption(new Option('--max-lag <duration>', 'before freezing, catch up until the lag is under this. Example: --max-lag 2s').default('5s'))
    .addOption(new Option('--timeout <duration>', 'each catch-up gives up after this. Example: --timeout 10m').default('10m'))
    .action(async (flags: RollbackFlags) => {
      process.exitCode = await run(flags, async (ctx) => {
        const source = requireUrl('source', flags.source);
        const target = requireUrl('target', flags.target);
        if (flags.abort) {
          const { abortRollback } = await import('../rollback/abort.js');
          const r = await abortRollback(source, target, { indexJobs: 2 });
          ctx.print(renderAbort(r));
          return { json: r, exitCode: ExitCode.ok };
        }
        const { runRollback } = await import('../rollback/index.js');
        const report = await runRollback(source, target, {
          graceSeconds: parseDuration('--grace', flags.grace),
          verify: flags.verify,
          maxLagSeconds: parseDuration('--max-lag', flags.maxLag),
          catchUpTimeoutSeconds: parseDuration('--timeout', flags.timeout),
          indexJobs: 2,
          verifyJobs: parsePositiveInt('--jobs', undefined, 2),
          logger: ctx.logger,
          signal: ctx.signal,
        });
        ctx.print(renderRollback(report));
        return { json: report, exitCode: report.ok ? ExitCode.ok : ExitCode.negative };
      });
    });
  return cmd;
}

const sec = (s: number | null) => (s === null ? '-' : `${s.toFixed(s < 10 ? 2 : 1)} s`);

export function renderRollback(r: RollbackReport): string {
  const out: string[] = [];
  if (r.verdict === 'already done') out.push('This rollback was already done; its report:');
  if (r.timeline.length) {
    out.push(`Rollback timeline (${r.capture}${r.resumed ? ', resumed' : ''}):`);
    out.push(
      renderTable(
        ['step', 'measured', 'what'],
        r.timeline.map((s) => [s.step, sec(s.seconds), s.detail]),
        [false, true, false],
      ),
    );
  }
  if (r.frozenSeconds !== null) out.push(`Writes frozen for ${sec(r.frozenSeconds)}.`);
  if (r.terminated.length) out.push(`Terminated on the target: ${r.terminated.map((s) => `pid ${s.pid}`).join(', ')}`);
  if (r.notTerminated.length) out.push(`Could NOT terminate (may still write): ${r.notTerminated.map((s) => `pid ${s.pid} (${s.reason})`).join(', ')}`);
  if (r.verify?.fallback) out.push(`Verify: ${r.verify.fallback}.`);
  if (r.verify && !r.verify.ok) out.push(r.verify.differences);
  if (r.ok)
    out.push(
      `Rolled back: the source equals the target${r.verify ? ` (${r.verify.tables} tables verified inside the freeze)` : ' (not verified: --verify none)'} and takes writes again.`,
    );
  else if (r.verdict === 'different') out.push('DIFFERENT: the source was not unfrozen.');
  if (r.foreignKeys)
    out.push(
      r.foreignKeys.failure ? `Foreign keys: a check failed: ${r.foreignKeys.failure}` : `Foreign keys: ${r.foreignKeys.validated} validated on the source.`,
    );
  if (r.next.length) out.push('Next:', ...r.next.map((n) => `  - ${n}`));
  return out.join('\n');
}

function renderAbort(r: RollbackAbortReport): string {
  const out = [`Rollback undone (it had reached: ${r.step}).`];
  for (const u of r.undone) out.push(`  - ${u}`);
  out.push(...r.next.map((n) => `Next: ${n}`));
  return out.join('\n');
}
