// `pgshift replicate --capture triggers`: the CLI side (called by src/cli/replicate.ts when the flag says so).
// Same flags, status line/log lines and --json document shape as the pgoutput path, minus what only a slot has.
import { clock } from '../source-writes.js';
import type { ConnectionSpec } from '../../config.js';
import { parsePositiveInt, parseSize } from '../../config.js';
import { UsageError } from '../../errors.js';
import { formatBytes, formatDuration, formatCount } from '../../format.js';
import type { Context } from '../../cli/context.js';
import { replicateByTriggers, type TriggerReplicateSummary } from './index.js';
import { captureStatusLine } from './lag.js';

export interface CaptureFlags {
  untilCaughtUp?: boolean;
  maxLagBytes?: string;
  maxLagSeconds?: string;
  timeout?: string;
  jobs?: string;
  indexJobs?: string;
  include?: string[];
  exclude?: string[];
  splitLargerThan?: string;
  pgBin?: string;
  slot?: string;
  publication?: string;
  fixReplicaIdentity?: boolean;
  metricsPort?: string;
  metricsHost?: string;
  statusInterval?: string;
  /** false with --no-refresh-matviews. */
  refreshMatviews?: boolean;
}

function seconds(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a number of seconds, got ${JSON.stringify(v)}`, { hint: `for example ${name} 30` });
  return n;
}

export async function runCaptureTriggers(
  ctx: Context,
  flags: CaptureFlags,
  source: ConnectionSpec,
  target: ConnectionSpec,
): Promise<{ exitCode?: number; json: unknown }> {
  const slotOnly = (
    [
      ['slot', '--slot'],
      ['publication', '--publication'],
      ['fixReplicaIdentity', '--fix-replica-identity'],
      ['maxLagBytes', '--max-lag-bytes'],
      ['metricsPort', '--metrics-port'],
      ['metricsHost', '--metrics-host'],
    ] as const
  )
    .filter(([k]) => flags[k] !== undefined && flags[k] !== false)
    .map(([, f]) => f);
  if (slotOnly.length) {
    throw new UsageError(`${slotOnly.join(', ')} ${slotOnly.length > 1 ? 'apply' : 'applies'} to logical replication (pgoutput), not to --capture triggers`, {
      hint: 'drop them; trigger capture has no slot or publication, and its lag is counted in changes and seconds (--max-lag-seconds)',
    });
  }
  const tty = !ctx.json && Boolean(process.stderr.isTTY);
  let drewLine = false;
  try {
    const summary = await replicateByTriggers(source, target, {
      untilCaughtUp: Boolean(flags.untilCaughtUp),
      maxLagSeconds: flags.maxLagSeconds === undefined ? undefined : seconds('--max-lag-seconds', flags.maxLagSeconds),
      timeoutSeconds: flags.timeout === undefined ? undefined : seconds('--timeout', flags.timeout),
      jobs: parsePositiveInt('--jobs', flags.jobs, 2),
      indexJobs: parsePositiveInt('--index-jobs', flags.indexJobs, 2),
      splitBytes: parseSize('--split-larger-than', flags.splitLargerThan, 512 * 1024 ** 2),
      filter: { include: flags.include, exclude: flags.exclude },
      pgBin: flags.pgBin,
      statusIntervalMs: seconds('--status-interval', flags.statusInterval ?? '5') * 1000,
      refreshMatviews: flags.refreshMatviews !== false,
      logger: ctx.logger,
      progress: ctx.json ? undefined : ctx.progress(),
      signal: ctx.signal,
      onStatus: (s) => {
        if (tty) {
          process.stderr.write(`\r\x1b[K${captureStatusLine(s)}`);
          drewLine = true;
        } else {
          ctx.logger.info(
            {
              pendingChanges: s.pendingChanges,
              lagSeconds: s.lagSeconds,
              changesPerSecond: Math.round(s.changesPerSecond),
              changes: s.changes,
              batches: s.batches,
            },
            `replicate: ${captureStatusLine(s)}`,
          );
        }
      },
    });
    if (drewLine) process.stderr.write('\n');
    ctx.print(describeCapture(summary));
    if (summary.timedOut) {
      process.stderr.write(
        `pgshift: not caught up within --timeout ${flags.timeout}s (${summary.pendingChanges} changes pending, oldest ${summary.lagSeconds.toFixed(1)}s); everything applied so far is kept\n` +
          '  next: run the same command again (it resumes), raise --timeout or --max-lag-seconds, or reduce the write load on the source\n',
      );
      return { exitCode: 1, json: summary };
    }
    return { json: summary };
  } catch (err) {
    if (drewLine) process.stderr.write('\n');
    throw err;
  }
}

export function describeCapture(s: TriggerReplicateSummary): string {
  const lines: string[] = [];
  if (s.initialCopy) {
    const c = s.initialCopy;
    lines.push(
      `Initial copy${s.start === 'resumed' ? ' (finished from a new snapshot after an interruption)' : ''}: ${c.tables} tables, ${formatCount(c.rows)} rows, ${formatBytes(c.bytes)} in ${formatDuration(c.seconds)}`,
    );
  } else lines.push('Resumed from the snapshot recorded on the target (no new copy).');
  lines.push(
    `Applied ${formatCount(s.changes)} captured changes in ${formatCount(s.transactions)} batches (${formatCount(s.rowsWritten)} rows re-read from the source) in ${formatDuration(s.seconds)}; ${formatCount(s.pendingChanges)} pending, oldest ${s.lagSeconds.toFixed(1)}s`,
  );
  if (s.reconnects) lines.push(`  reconnected ${s.reconnects} time(s)`);
  if (s.notReplicated.length) lines.push(`  copied once, changes not captured: ${s.notReplicated.join(', ')}`);
  if (s.caughtUp) {
    const r = s.restored;
    lines.push(
      `Caught up. ${s.sequences} sequences set from the source${r ? `; restored ${r.triggers} triggers, ${r.foreignKeys} foreign keys, ${r.identities} identity columns` : ''}.`,
    );
    if (s.matviews)
      lines.push(
        `  refreshed ${s.matviews.views} materialized view(s) in ${formatDuration(s.matviews.seconds)} (not replicated: skip with --no-refresh-matviews)`,
      );
    if (s.caughtUpTo) {
      const at = clock(s.caughtUpTo.at);
      lines.push(`  caught up to ${at}: every change committed on the source before then is applied`);
      lines.push(
        s.caughtUpTo.pendingSince > 0
          ? `The source is still being written: ${formatCount(s.caughtUpTo.pendingSince)} changes captured since ${at} (oldest ${s.lagSeconds.toFixed(1)} s). Freeze writes to the source, then run the same command again before switching the application.`
          : `No changes captured on the source since ${at}. Keep writes frozen until the application points to the target.`,
      );
    }
    lines.push(
      'Next: freeze writes, run the same command again (it catches up in seconds), pgshift verify --source … --target …, cut over; then pgshift cleanup --source … --target … removes the capture from the source',
    );
  } else {
    lines.push(
      `Stopped; the capture keeps logging on the source (${s.capturedTables} tables). Run the same command to continue, or --until-caught-up to finish.`,
    );
  }
  return lines.join('\n');
}
