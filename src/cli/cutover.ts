import { Command, Option } from 'commander';
import { parsePositiveInt, requireUrl } from '../config.js';
import { parseDuration } from '../estimate/duration.js';
import { ExitCode } from '../errors.js';
import { renderTable } from '../format.js';
import type { AbortReport } from '../cutover/abort.js';
import type { CutoverReport } from '../cutover/index.js';
import type { SessionSeen } from '../cutover/freeze.js';
import { run, withConnectionOptions, type CommonOptions } from './context.js';

interface CutoverFlags extends CommonOptions {
  capture?: 'pgoutput' | 'triggers';
  freeze: 'source' | 'wait';
  maxFreeze: string;
  grace: string;
  verify: 'changed' | 'full' | 'none';
  abort?: boolean;
  reverse?: boolean;
  maxLag: string;
  timeout: string;
}

export function cutoverCommand(): Command {
  const cmd = new Command('cutover')
    .summary('freeze writes, catch up, finish, prove equal: a timed switch-over')
    .description(
      [
        'The switch-over of a running pgshift replicate, end to end. Before the',
        'freeze nothing irreversible happens: the stream is caught up, the freeze',
        'is predicted step by step from measured rates, and refused above',
        '--max-freeze. Then: freeze the source (read-only for new sessions, open',
        'sessions ended after --grace), catch up to the freeze point, finish',
        '(sequences, identities, triggers, materialized views, foreign keys',
        'NOT VALID) and verify inside the freeze. "Safe to switch" leaves the',
        'source read-only: point the application at the target. Differences keep',
        'the source frozen (exit 1) until --abort, or a fix and a rerun. Foreign',
        'keys are validated after the verdict. Every step is recorded on the',
        'target first: --abort (or a rerun after a crash) always finds the freeze.',
        '',
        '--reverse: after the proof, replication from the target back to the',
        'source is set up (no copy: both are equal); run it with the pgshift',
        'replicate command printed, and go back with pgshift rollback.',
        '',
        'Stop a streaming pgshift replicate first (Ctrl-C): cutover drives the',
        'stream itself.',
        '',
        'Exit code 0: safe to switch (or --abort done). 1: refused (nothing',
        'frozen) or differences (source kept frozen). 2/3/4: could not run.',
        '',
        'Examples:',
        '  pgshift cutover --source $SRC --target $DST --max-freeze 30s',
        '  pgshift cutover --source $SRC --target $DST --abort   # writable again',
        '  pgshift cutover --source $SRC --target $DST --freeze wait --grace 60s \\',
        '                  --verify full --json',
      ].join('\n'),
    );
  withConnectionOptions(cmd, { source: 'required', target: 'required' })
    .addOption(
      new Option(
        '--capture <method>',
        'the capture of the replication recorded on the target (read from it; given, it must match). Example: --capture triggers',
      ).choices(['pgoutput', 'triggers']),
    )
    .addOption(
      new Option(
        '--freeze <how>',
        'source: pgshift makes the source database read-only and ends open sessions; wait: the team stops writes, pgshift waits until none is seen. Example: --freeze wait',
      )
        .choices(['source', 'wait'])
        .default('source'),
    )
    .addOption(
      new Option('--max-freeze <duration>', 'refuse (exit 1, nothing frozen) if the predicted freeze is longer. Example: --max-freeze 10s').default('30s'),
    )
    .addOption(
      new Option(
        '--grace <duration>',
        '--freeze source: how long open transactions get before their sessions are terminated; --freeze wait: how long to wait for writes to stop. Example: --grace 5s',
      ).default('10s'),
    )
    .addOption(
      new Option('--verify <what>', 'what the proof inside the freeze checks: changed tables, the full database, or none. Example: --verify full')
        .choices(['changed', 'full', 'none'])
        .default('changed'),
    )
    .addOption(new Option('--abort', 'undo the freeze recorded on the target: the source takes writes again. Example: --abort'))
    .addOption(
      new Option(
        '--reverse',
        'after the proof, set up replication from the target back to the source (no copy; pgoutput when the target allows it, else trigger capture) for pgshift rollback. Example: --reverse',
      ),
    )
    .addOption(new Option('--max-lag <duration>', 'before freezing, catch up until the lag is under this. Example: --max-lag 2s').default('5s'))
    .addOption(new Option('--timeout <duration>', 'each catch-up gives up after this. Example: --timeout 10m').default('10m'))
    .action(async (flags: CutoverFlags) => {
      process.exitCode = await run(flags, async (ctx) => {
        const source = requireUrl('source', flags.source);
        const target = requireUrl('target', flags.target);
        if (flags.abort) {
          const { abortCutover } = await import('../cutover/abort.js');
          const r = await abortCutover(source, target, { indexJobs: 2 });
          ctx.print(renderAbort(r));
          return { json: r, exitCode: ExitCode.ok };
        }
        const { runCutover, RefusedError } = await import('../cutover/index.js');
        try {
          const report = await runCutover(source, target, {
            capture: flags.capture,
            freeze: flags.freeze,
            maxFreezeSeconds: parseDuration('--max-freeze', flags.maxFreeze),
            graceSeconds: parseDuration('--grace', flags.grace),
            verify: flags.verify,
            reverse: flags.reverse,
            maxLagSeconds: parseDuration('--max-lag', flags.maxLag),
            catchUpTimeoutSeconds: parseDuration('--timeout', flags.timeout),
            indexJobs: 2,
            verifyJobs: parsePositiveInt('--jobs', undefined, 2),
            logger: ctx.logger,
            signal: ctx.signal,
          });
          ctx.print(renderCutover(report));
          return { json: report, exitCode: report.ok ? ExitCode.ok : ExitCode.negative };
        } catch (err) {
          if (!(err instanceof RefusedError)) throw err;
          ctx.print(renderCutover(err.report));
          process.stderr.write(`pgshift: ${err.message}\n  next: ${err.hint}\n`);
          return { json: { ...err.report, error: err.message }, exitCode: ExitCode.negative };
        }
      });
    });
  return cmd;
}

const sec = (s: number | null) => (s === null ? '-' : `${s.toFixed(s < 10 ? 2 : 1)} s`);
const who = (s: SessionSeen) =>
  `pid ${s.pid}${s.role ? ` (${s.role}` : ' ('}${s.application ? `, "${s.application}"` : ''}${s.client ? `, ${s.client}` : ''})${s.reason ? `: ${s.reason}` : ''}`;

export function renderCutover(r: CutoverReport): string {
  const out: string[] = [];
  if (r.verdict === 'already done') out.push('This cutover was already done; its report:');
  if (r.prediction) {
    out.push(`Predicted freeze: ${sec(r.prediction.totalSeconds)} (${r.prediction.dominant.step} dominates)`);
    out.push(
      renderTable(
        ['step', 'predicted', 'from'],
        r.prediction.steps.map((s) => [s.step, sec(s.seconds), s.basis]),
        [false, true, false],
      ),
    );
  }
  if (r.timeline.length) {
    out.push(`Freeze timeline (${r.capture}, --freeze ${r.freeze}${r.resumed ? ', resumed' : ''}):`);
    out.push(
      renderTable(
        ['step', 'predicted', 'measured', 'what'],
        r.timeline.map((s) => [s.step, sec(s.predictedSeconds), sec(s.seconds), s.detail]),
        [false, true, true, false],
      ),
    );
  }
  if (r.frozenSeconds !== null) out.push(`Writes frozen for ${sec(r.frozenSeconds)}.`);
  if (r.terminated.length) out.push(`Terminated on the source: ${r.terminated.map(who).join('; ')}`);
  if (r.notTerminated.length) out.push(`Could NOT terminate (may still write): ${r.notTerminated.map(who).join('; ')}`);
  if (r.writersSeen.length) out.push(`Still writing while pgshift waited: ${r.writersSeen.map(who).join('; ')}`);
  if (r.verify?.fallback) out.push(`Verify: ${r.verify.fallback}.`);
  else if (r.verify?.baseline)
    out.push(
      `Verify: the rows of ${r.verify.compared.length} table(s) changed since the online verify at ${r.verify.baseline.position} (${r.verify.baseline.at})${r.verify.compared.length ? `: ${r.verify.compared.join(', ')}` : ''}; the schema of every replicated table. Rows changed behind pgshift's back in other tables are not read: --verify full reads them.`,
    );
  if (r.verify?.refreshedViews.length)
    out.push(
      `Materialized views refreshed on the target by the finish (the source's are as stale as their last REFRESH): ${r.verify.refreshedViews.join(', ')}`,
    );
  if (r.verify && !r.verify.ok) out.push(r.verify.differences);
  if (r.verdict === 'safe to switch' || (r.verdict === 'already done' && r.ok)) {
    out.push(
      `Safe to switch: the target equals the source${r.verify ? ` (${r.verify.tables} tables verified inside the freeze)` : ' (not verified: --verify none)'}.`,
    );
  } else if (r.verdict === 'different') out.push('DIFFERENT: do not switch.');
  const fk = r.foreignKeys;
  if (fk) {
    out.push(
      fk.failure
        ? `Foreign keys: a check failed after the freeze: ${fk.failure}`
        : `Foreign keys: ${fk.validated} validated after the freeze${fk.lastPassedAt ? `, the last at ${fk.lastPassedAt.slice(11, 19)} UTC` : ''}.`,
    );
  }
  if (r.reverse) out.push(`Reverse stream set up (${r.reverse.capture}): ${r.reverse.detail}.`);
  if (r.next.length) out.push('Next:', ...r.next.map((n) => `  - ${n}`));
  return out.join('\n');
}

function renderAbort(r: AbortReport): string {
  const out = [r.step === null ? 'No cutover recorded on the target.' : `Cutover undone (it had reached: ${r.step}).`];
  for (const u of r.undone) out.push(`  - ${u}`);
  out.push(...r.next.map((n) => `Next: ${n}`));
  return out.join('\n');
}
