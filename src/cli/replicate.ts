import { Command, Option } from 'commander';
import { parsePositiveInt, parseSize, requireUrl } from '../config.js';
import { UsageError } from '../errors.js';
import { formatBytes, formatDuration, formatCount } from '../format.js';
import type { CaptureSummary, PgoutputSummary } from '../replicate/index.js';
import type { LagSample } from '../replicate/lag.js';
import { formatLsn } from '../replicate/pgoutput/lsn.js';
import { clock, describeSourceWrites } from '../replicate/source-writes.js';
import { run, withConnectionOptions, withFilterOptions, type CommonOptions } from './context.js';
import type { CaptureSample } from '../replicate/triggers/lag.js';
import { captureStatusLine } from '../replicate/triggers/lag.js';
import type { ConnectionSpec } from '../config.js';
import type { Context } from './context.js';

/** Every flag of `pgshift replicate` (both --capture modes). */
interface ReplicateFlags extends CommonOptions {
  capture?: 'pgoutput' | 'triggers';
  applyDdl?: boolean;
  streamLargeTx?: boolean;
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

export function replicateCommand(): Command {
  const cmd = new Command('replicate')
    .summary('copy live, then stream every change (logical replication, pgoutput) with live lag')
    .description(
      [
        'Low-downtime path: pgshift is the logical-replication subscriber itself,',
        'so the target needs no subscription privileges. It creates a publication',
        'of the selected tables and a replication slot on the source, copies',
        "everything under the slot's snapshot (like pgshift copy), then applies",
        'every change exactly once, in commit order. The applied position is',
        'stored on the target with the changes, so a second run (after Ctrl-C, a',
        'crash or SIGKILL) resumes with no new copy.',
        '',
        'Needs: wal_level=logical, a source role with REPLICATION (or',
        'rds_replication), a free slot and WAL sender, an empty target.',
        'Not replicated: DDL (replication stops naming the table: apply the change',
        'on the target, rerun), large objects, sequences (set from the source when',
        '--until-caught-up finishes).',
        '',
        'Without REPLICATION (Heroku classic): --capture triggers installs',
        'statement triggers that log changed keys in a schema _pgshift on the',
        'source (database owner only), copies under a snapshot taken after that,',
        'then re-reads the changed rows. pgshift cleanup --source … --target …',
        'removes it all.',
        '',
        'Examples:',
        '  pgshift replicate --source $SRC --target $DST   # until Ctrl-C',
        '  pgshift replicate --source $SRC --target $DST --until-caught-up \\',
        '                    --max-lag-seconds 1 --timeout 600',
        '  pgshift replicate --source $SRC --target $DST --metrics-port 9187',
        '  pgshift cleanup --source $SRC --target $DST   # slot, publication, state',
        '  pgshift replicate --capture triggers --source $SRC --target $DST \\',
        '                    --until-caught-up   # no REPLICATION (Heroku classic)',
      ].join('\n'),
    );
  withFilterOptions(withConnectionOptions(cmd, { source: 'required', target: 'required' }))
    .addOption(
      new Option(
        '--until-caught-up',
        'exit 0 once every change up to the source position at the check is applied (sequences set, triggers and keys restored). Example: --until-caught-up',
      ),
    )
    .addOption(new Option('--max-lag-bytes <n>', 'with --until-caught-up: also wait until the lag is at most this many bytes. Example: --max-lag-bytes 1MB'))
    .addOption(
      new Option('--max-lag-seconds <s>', 'with --until-caught-up: also wait until the lag is at most this many seconds. Example: --max-lag-seconds 2'),
    )
    .addOption(new Option('--timeout <s>', 'with --until-caught-up: give up (exit 1) after this many seconds; the state is kept. Example: --timeout 900'))
    .addOption(new Option('--jobs <n>', 'parallel COPY pipelines of the initial copy. Example: --jobs 4').default('2'))
    .addOption(new Option('--index-jobs <n>', 'parallel index builds of the initial copy. Example: --index-jobs 2').default('2'))
    .addOption(
      new Option('--split-larger-than <size>', 'initial copy: split tables above this size into chunks. Example: --split-larger-than 256MB').default('512MB'),
    )
    .addOption(
      new Option('--pg-bin <dir>', 'folder with pg_dump/pg_restore for the schema. Example: --pg-bin /usr/lib/postgresql/17/bin').env('PGSHIFT_PG_BIN'),
    )
    .addOption(new Option('--slot <name>', 'replication slot name (default pgshift_<random>, recorded on the target). Example: --slot pgshift_app'))
    .addOption(new Option('--publication <name>', 'publication name (default like the slot). Example: --publication pgshift_app'))
    .addOption(
      new Option(
        '--fix-replica-identity',
        'run ALTER TABLE … REPLICA IDENTITY FULL on the source for tables without a key (else refused with the statements). Example: --fix-replica-identity',
      ),
    )
    .addOption(
      new Option(
        '--no-refresh-matviews',
        'with --until-caught-up: do not refresh the materialized views at the finish (they are not replicated: by default the finish refreshes those populated on the source). Example: --no-refresh-matviews',
      ),
    )
    .addOption(
      new Option(
        '--apply-ddl',
        'apply ADD COLUMN (nullable, no default) and DROP COLUMN made on the source to the target as the stream reaches them (else replication stops at them with the statement to run). Example: --apply-ddl',
      ),
    )
    .addOption(
      new Option(
        '--no-stream-large-tx',
        "do not apply large transactions while they run on the source (by default, from PostgreSQL 14 on, a transaction larger than the source's logical_decoding_work_mem is streamed and applied as it runs, not spilled to the source's disk and sent after its commit). Example: --no-stream-large-tx",
      ),
    )
    .addOption(
      new Option('--metrics-port <port>', 'serve Prometheus metrics on /metrics and health on /healthz, on 127.0.0.1 only. Example: --metrics-port 9187'),
    )
    .addOption(
      new Option('--metrics-host <addr>', 'address the metrics server binds instead of 127.0.0.1 (0.0.0.0: every interface). Example: --metrics-host 0.0.0.0'),
    )
    .addOption(
      new Option(
        '--capture <method>',
        'how changes are read on the source: pgoutput (logical replication; the role needs REPLICATION) or triggers (only the database owner: Heroku classic). Example: --capture triggers',
      )
        .choices(['pgoutput', 'triggers'])
        .default('pgoutput'),
    )
    .addOption(
      new Option('--status-interval <s>', 'seconds between lag samples (status line on a terminal, log line otherwise). Example: --status-interval 10').default(
        '5',
      ),
    )
    .action(async (flags: ReplicateFlags) => {
      process.exitCode = await run(flags, async (ctx) => {
        const source = requireUrl('source', flags.source);
        const target = requireUrl('target', flags.target);
        const onlyWithUntil = (['maxLagBytes', 'maxLagSeconds', 'timeout'] as const).filter((k) => flags[k] !== undefined);
        if (onlyWithUntil.length && !flags.untilCaughtUp) {
          throw new UsageError(`--max-lag-bytes, --max-lag-seconds and --timeout only apply with --until-caught-up`, {
            hint: 'add --until-caught-up, or drop them',
          });
        }
        if (flags.capture === 'triggers' && flags.applyDdl)
          throw new UsageError('--apply-ddl applies to logical replication (pgoutput), not to --capture triggers', {
            hint: 'drop --apply-ddl: with trigger capture, a column change on the source stops the run naming the change to make on the target',
          });
        if (flags.capture === 'triggers') refuseSlotOnly(flags);
        return flags.capture === 'triggers' ? runReplicate(ctx, flags, source, target, CAPTURE_VIEW) : runReplicate(ctx, flags, source, target, PGOUTPUT_VIEW);
      });
    });
  return cmd;
}

function parseSeconds(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a number of seconds, got ${JSON.stringify(v)}`, { hint: `for example ${name} 30` });
  return n;
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--metrics-port must be a port number, got ${JSON.stringify(v)}`, { hint: 'for example --metrics-port 9187 (0 picks a free port)' });
  return n;
}

export function statusLine(s: LagSample): string {
  return `lag ${formatBytes(s.lagBytes)} / ${s.lagSeconds.toFixed(1)}s · ${formatCount(Math.round(s.changesPerSecond))} changes/s · ${formatCount(Math.round(s.transactionsPerSecond))} tx/s · applied ${formatLsn(s.appliedPosition)} of ${formatLsn(s.sourcePosition)}${s.retainedBytes !== null ? ` · slot keeps ${formatBytes(s.retainedBytes)} of WAL` : ''}`;
}

function describe(s: PgoutputSummary): string {
  const lines: string[] = [];
  if (s.initialCopy) {
    const c = s.initialCopy;
    lines.push(
      `Initial copy${s.start === 'recopied' ? ' (redone from a new slot after an interruption)' : s.start === 'resumed' ? ' (finished after an interruption)' : ''}: ${c.tables} tables, ${formatCount(c.rows)} rows, ${formatBytes(c.bytes)} in ${formatDuration(c.seconds)}`,
    );
  } else lines.push('Resumed streaming from the position stored on the target (no new copy).');
  lines.push(
    `Applied ${formatCount(s.transactions)} transactions, ${formatCount(s.changes)} changes in ${formatDuration(s.seconds)}; applied ${s.appliedLsn}, source at ${s.sourceLsn}, lag ${formatBytes(s.lagBytes)} / ${s.lagSeconds.toFixed(1)}s`,
  );
  if (s.reconnects) lines.push(`  reconnected ${s.reconnects} time(s)`);
  if (s.missingRows) lines.push(`  ${s.missingRows} UPDATE/DELETE found no row on the target: run pgshift verify`);
  if (s.caughtUp) {
    const r = s.restored;
    lines.push(
      `Caught up. ${s.sequences} sequences set from the source${r ? `; restored ${r.triggers} triggers, ${r.foreignKeys} foreign keys, ${r.identities} identity columns` : ''}.`,
    );
    if (s.matviews)
      lines.push(
        `  refreshed ${s.matviews.views} materialized view(s) in ${formatDuration(s.matviews.seconds)} (not replicated: skip with --no-refresh-matviews)`,
      );
    if (s.caughtUpTo)
      lines.push(
        `  caught up to ${s.caughtUpTo.position}, the source's position at ${clock(s.caughtUpTo.at)}${s.caughtUpTo.lastCommit ? ` (last transaction applied committed ${clock(s.caughtUpTo.lastCommit)})` : ''}`,
      );
    const writes = describeSourceWrites(s.sourceWrites, formatCount);
    if (writes) lines.push(writes);
    lines.push(
      `Next: pgshift verify --source … --target … (with writes frozen), then cut over; pgshift cleanup --source … --target … drops slot ${s.slot} and publication ${s.publication}`,
    );
  } else if (!s.timedOut) {
    lines.push(`Stopped; slot ${s.slot} keeps the changes since ${s.appliedLsn}. Run the same command to continue, or --until-caught-up to finish.`);
  }
  return lines.join('\n');
}

/** Flags of logical replication given with --capture triggers: refused, naming them. */
function refuseSlotOnly(flags: ReplicateFlags): void {
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
}

/** What differs between the two capture modes on the terminal: options only one has, status, summary, timeout. */
interface ModeView<S, R> {
  options(flags: ReplicateFlags): Record<string, unknown>;
  statusLine(s: S): string;
  statusFields(s: S): Record<string, unknown>;
  describe(summary: R): string;
  /** What is still behind when --timeout gave up, and which --max-lag-* to raise. */
  behind(summary: R): { lag: string; raise: string };
}

const PGOUTPUT_VIEW: ModeView<LagSample, PgoutputSummary> = {
  options: (flags) => ({
    capture: 'pgoutput',
    maxLagBytes: flags.maxLagBytes === undefined ? undefined : parseSize('--max-lag-bytes', flags.maxLagBytes, 0),
    slot: flags.slot,
    publication: flags.publication,
    fixReplicaIdentity: Boolean(flags.fixReplicaIdentity),
    applyDdl: Boolean(flags.applyDdl),
    streamLargeTransactions: flags.streamLargeTx !== false,
    metricsPort: flags.metricsPort === undefined ? undefined : parsePort(flags.metricsPort),
    metricsHost: flags.metricsHost,
  }),
  statusLine,
  statusFields: (s) => ({
    lagBytes: s.lagBytes,
    lagSeconds: s.lagSeconds,
    changesPerSecond: Math.round(s.changesPerSecond),
    transactionsPerSecond: Math.round(s.transactionsPerSecond),
    applied: formatLsn(s.appliedPosition),
    source: formatLsn(s.sourcePosition),
    retainedBytes: s.retainedBytes,
  }),
  describe,
  behind: (r) => ({ lag: `lag ${formatBytes(r.lagBytes)} / ${r.lagSeconds.toFixed(1)}s`, raise: '--max-lag-*' }),
};

const CAPTURE_VIEW: ModeView<CaptureSample, CaptureSummary> = {
  options: () => ({ capture: 'triggers' }),
  statusLine: captureStatusLine,
  statusFields: (s) => ({
    pendingChanges: s.pendingChanges,
    lagSeconds: s.lagSeconds,
    changesPerSecond: Math.round(s.changesPerSecond),
    changes: s.changes,
    batches: s.batches,
  }),
  describe: describeCapture,
  behind: (r) => ({ lag: `${r.pendingChanges} changes pending, oldest ${r.lagSeconds.toFixed(1)}s`, raise: '--max-lag-seconds' }),
};

/** One replicate run for either capture mode: the options both share, the status line, the summary, --timeout's exit 1. */
async function runReplicate<S, R extends { timedOut: boolean }>(
  ctx: Context,
  flags: ReplicateFlags,
  source: ConnectionSpec,
  target: ConnectionSpec,
  view: ModeView<S, R>,
): Promise<{ exitCode?: number; json: unknown }> {
  // Loaded on use: every other command starts without the replication modules (and prom-client).
  const { replicate } = await import('../replicate/index.js');
  const tty = !ctx.json && Boolean(process.stderr.isTTY);
  let drewLine = false;
  try {
    const summary = (await replicate(source, target, {
      untilCaughtUp: Boolean(flags.untilCaughtUp),
      maxLagSeconds: flags.maxLagSeconds === undefined ? undefined : parseSeconds('--max-lag-seconds', flags.maxLagSeconds),
      timeoutSeconds: flags.timeout === undefined ? undefined : parseSeconds('--timeout', flags.timeout),
      jobs: parsePositiveInt('--jobs', flags.jobs, 2),
      indexJobs: parsePositiveInt('--index-jobs', flags.indexJobs, 2),
      splitBytes: parseSize('--split-larger-than', flags.splitLargerThan, 512 * 1024 ** 2),
      filter: { include: flags.include, exclude: flags.exclude },
      pgBin: flags.pgBin,
      refreshMatviews: flags.refreshMatviews !== false,
      ...view.options(flags),
      statusIntervalMs: parseSeconds('--status-interval', flags.statusInterval ?? '5') * 1000,
      logger: ctx.logger,
      progress: ctx.json ? undefined : ctx.progress(),
      // SIGINT/SIGTERM (handled in cli/context): finish the batch, persist, acknowledge; exit 130/143.
      signal: ctx.signal,
      onStatus: (sample) => {
        const s = sample as S;
        if (tty) {
          process.stderr.write(`\r\x1b[K${view.statusLine(s)}`);
          drewLine = true;
        } else {
          ctx.logger.info(view.statusFields(s), `replicate: ${view.statusLine(s)}`);
        }
      },
    } as Parameters<typeof replicate>[2])) as unknown as R;
    if (drewLine) process.stderr.write('\n');
    ctx.print(view.describe(summary));
    if (summary.timedOut) {
      // A negative answer (exit 1), not a failure: the document still says how far it got.
      const { lag, raise } = view.behind(summary);
      process.stderr.write(
        `pgshift: not caught up within --timeout ${flags.timeout}s (${lag}); everything applied so far is kept\n` +
          `  next: run the same command again (it resumes), raise --timeout or ${raise}, or reduce the write load on the source\n`,
      );
      return { exitCode: 1, json: summary };
    }
    return { json: summary };
  } catch (err) {
    if (drewLine) process.stderr.write('\n');
    throw err;
  }
}

function describeCapture(s: CaptureSummary): string {
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
