import { Command, Option } from 'commander';
import { parsePositiveInt, parseSize, requireUrl } from '../config.js';
import { ANALYZE_MODES, COPY_DEFAULTS, copyDatabase, MIN_SPLIT_BYTES, type AnalyzeMode, type CopyMode, type CopySummary } from '../copy/index.js';
import { COPY_WIRE_FORMATS, type CopyWireFormat } from '../copy/pipeline.js';
import { UsageError } from '../errors.js';
import { formatBytes, formatDuration, formatCount } from '../format.js';
import { run, withConnectionOptions, withFilterOptions, type CommonOptions, type Context } from './context.js';

interface CopyFlags extends CommonOptions {
  jobs?: string;
  indexJobs?: string;
  resume?: boolean;
  schemaOnly?: boolean;
  dataOnly?: boolean;
  include?: string[];
  exclude?: string[];
  splitLargerThan?: string;
  pgBin?: string;
  keepOwner?: boolean;
  keepAcl?: boolean;
  analyze?: AnalyzeMode;
  copyFormat?: CopyWireFormat;
}

export function copyCommand(): Command {
  const cmd = new Command('copy')
    .summary('copy schema, data, indexes and sequences; parallel, consistent, resumable')
    .description(
      [
        'Copy the source into an EMPTY target: schema (pg_dump/pg_restore), data as',
        'parallel COPY pipelines that all read one snapshot, indexes built as soon as',
        'their table is in, then foreign keys, triggers and the rest, large objects,',
        'materialized views, sequences, and ANALYZE. No intermediate data files.',
        '',
        'State lives in a "pgshift" schema on the target: after a crash or Ctrl-C,',
        'the same command with --resume finishes the job (finished chunks are kept,',
        'the rest is read from a new snapshot).',
        '',
        'Connections: --jobs source + --jobs target for data, --index-jobs target for',
        'indexes, plus 2 for control. Heroku Essential plans allow 20 in all.',
        '',
        'Examples:',
        '  pgshift copy --source "$(heroku config:get DATABASE_URL -a app)" \\',
        '               --target postgres://app@new-db/app --jobs 4',
        '  pgshift copy --source $SRC --target $DST --resume',
        '  pgshift copy --source latest.dump --target $DST --jobs 4  # a pg_dump archive',
        '  pgshift copy --source $SRC --target $DST --exclude "audit.*" --json',
      ].join('\n'),
    );
  withFilterOptions(withConnectionOptions(cmd, { source: 'required', target: 'required' }))
    .addOption(
      new Option('--jobs <n>', 'parallel COPY pipelines (each: 1 source + 1 target connection). Example: --jobs 4').default(String(COPY_DEFAULTS.jobs)),
    )
    .addOption(new Option('--index-jobs <n>', 'parallel index builds on the target. Example: --index-jobs 2').default(String(COPY_DEFAULTS.indexJobs)))
    .addOption(
      new Option(
        '--resume',
        'finish an interrupted copy recorded on the target (same --source/--target). Example: pgshift copy --source $SRC --target $DST --resume',
      ),
    )
    .addOption(
      new Option('--schema-only', 'copy only the schema (no data, no sequence values). Example: --schema-only, later --data-only').conflicts('dataOnly'),
    )
    .addOption(
      new Option(
        '--data-only',
        'load data into an existing schema whose tables are empty (user triggers off, foreign keys re-added after). Example: --data-only --include "public.orders"',
      ),
    )
    .addOption(
      new Option(
        '--split-larger-than <size>',
        'split tables above this size into chunks by key or page range (minimum 1MB; 0 never splits). Example: --split-larger-than 256MB',
      ).default('512MB'),
    )
    .addOption(
      new Option(
        '--pg-bin <dir>',
        'folder with pg_dump/pg_restore (major >= the source, ideally >= the target; default: the newest found). Example: --pg-bin /usr/lib/postgresql/17/bin',
      ).env('PGSHIFT_PG_BIN'),
    )
    .addOption(
      new Option('--keep-owner', 'restore object owners; the roles must exist on the target (default: the target user owns everything). Example: --keep-owner'),
    )
    .addOption(
      new Option(
        '--analyze <when>',
        'ANALYZE each table as soon as its data and indexes are in (overlap), after everything (end), or never (none: autovacuum does it later; first queries plan without statistics). Example: --analyze end',
      )
        .choices([...ANALYZE_MODES])
        .default('overlap'),
    )
    .addOption(
      new Option(
        '--copy-format <format>',
        'COPY format on the wire: binary where every column allows it (least CPU), or text for every table (fewer bytes for narrow rows of small numbers and padded text: for a source far away on a slow link; copy --json `stream` shows the bytes). Example: --copy-format text',
      )
        .choices([...COPY_WIRE_FORMATS])
        .default('binary'),
    )
    .addOption(new Option('--keep-acl', 'restore GRANTs; the roles must exist on the target (default: skipped). Example: --keep-acl'))
    .action(async (flags: CopyFlags) => {
      process.exitCode = await run(flags, async (ctx) => {
        const { isArchivePath } = await import('../archive/index.js');
        if (flags.source && isArchivePath(flags.source)) return copyArchive(flags, ctx);
        const source = requireUrl('source', flags.source);
        const target = requireUrl('target', flags.target);
        if ((flags.include?.length || flags.exclude?.length) && flags.resume)
          throw new UsageError('--include/--exclude cannot change on --resume', { hint: 'resume uses the filters of the first run; drop the flags' });
        const mode: CopyMode = flags.schemaOnly ? 'schema-only' : flags.dataOnly ? 'data-only' : 'full';
        const splitBytes = parseSize('--split-larger-than', flags.splitLargerThan, COPY_DEFAULTS.splitBytes);
        if (splitBytes > 0 && splitBytes < MIN_SPLIT_BYTES) {
          throw new UsageError(`--split-larger-than ${flags.splitLargerThan} is below the minimum of 1MB`, {
            hint: 'use --split-larger-than 1MB or more (default 512MB), or 0 to never split',
          });
        }
        const summary = await copyDatabase(source, target, {
          jobs: parsePositiveInt('--jobs', flags.jobs, COPY_DEFAULTS.jobs),
          indexJobs: parsePositiveInt('--index-jobs', flags.indexJobs, COPY_DEFAULTS.indexJobs),
          resume: Boolean(flags.resume),
          mode,
          filter: { include: flags.include, exclude: flags.exclude },
          splitBytes,
          pgBin: flags.pgBin,
          keepOwner: flags.keepOwner,
          keepAcl: flags.keepAcl,
          analyze: flags.analyze,
          copyFormat: flags.copyFormat,
          logger: ctx.logger,
          progress: ctx.json ? undefined : ctx.progress(),
          signal: ctx.signal,
        });
        ctx.print(describe(summary, target.display));
        return { json: summary };
      });
    });
  return cmd;
}

function describe(s: CopySummary, target: string): string {
  if (s.alreadyComplete) return `The copy into ${target} had already finished; nothing to do. Next: pgshift verify.`;
  const lines = [
    `Copied ${s.tables} tables, ${formatCount(s.rows)} rows, ${formatBytes(s.bytes)} in ${formatDuration(s.seconds)}` +
      `${s.seconds > 0 ? ` (${formatBytes(s.bytes / s.seconds)}/s)` : ''} into ${target}`,
    `  ${s.indexes} indexes, keys and foreign keys built alongside the data, ${s.sequences} sequences set, ${s.largeObjects} large objects, ${s.materializedViews} materialized views refreshed`,
    `  phases: ${Object.entries(s.phases)
      .map(([k, v]) => `${k} ${v.toFixed(1)}s`)
      .join(', ')}`,
  ];
  if (s.stream?.seconds)
    lines.push(
      `  data streamed from the source: ${formatBytes(s.stream.wireBytes)} on the wire in ${s.stream.seconds.toFixed(1)}s of streaming (${formatBytes(s.stream.wireBytes / s.stream.seconds)}/s)`,
    );
  if (s.resumed) lines.push('  resumed: data copied in this run comes from a new snapshot of the source — verify after freezing writes');
  if (s.staleTables.length)
    lines.push(`  the source changed since the first run in ${s.staleTables.join(', ')}: rows copied earlier may be stale — pgshift verify decides`);
  lines.push('Next: pgshift verify --source … --target … (after writes to the source are frozen)');
  return lines.join('\n');
}

/** copy --source FILE: a pg_dump archive restored by the same phases, resumable (src/archive/copy.ts). */
async function copyArchive(flags: CopyFlags, ctx: Context): Promise<{ json: unknown }> {
  const target = requireUrl('target', flags.target);
  if (flags.schemaOnly || flags.dataOnly) {
    throw new UsageError('--schema-only/--data-only do not apply to an archive source yet; nothing was changed', {
      hint: 'restore the whole archive (--include/--exclude select tables), or select with pg_restore -l / -L yourself',
    });
  }
  if ((flags.include?.length || flags.exclude?.length) && flags.resume)
    throw new UsageError('--include/--exclude cannot change on --resume', { hint: 'resume uses the filters of the first run; drop the flags' });
  const { copyFromArchive } = await import('../archive/copy.js');
  const summary = await copyFromArchive(flags.source!, target, {
    jobs: parsePositiveInt('--jobs', flags.jobs, COPY_DEFAULTS.jobs),
    indexJobs: parsePositiveInt('--index-jobs', flags.indexJobs, COPY_DEFAULTS.indexJobs),
    resume: Boolean(flags.resume),
    filter: { include: flags.include, exclude: flags.exclude },
    pgBin: flags.pgBin,
    keepOwner: flags.keepOwner,
    keepAcl: flags.keepAcl,
    analyze: flags.analyze,
    logger: ctx.logger,
    progress: ctx.json ? undefined : ctx.progress(),
    signal: ctx.signal,
  });
  if (summary.alreadyComplete) ctx.print(`The restore of ${summary.archive.path} into ${target.display} had already finished; nothing to do.`);
  else {
    ctx.print(
      [
        `Restored ${summary.archive.path} (pg_dump ${summary.archive.pgDumpVersion ?? '?'}, taken ${summary.archive.createdAt ?? '?'}) into ${target.display}: ${summary.tables} tables, ${formatCount(summary.rows)} rows, ${formatBytes(summary.bytes)} in ${formatDuration(summary.seconds)}`,
        `  ${summary.sequences} sequences set, ${summary.largeObjects} large objects, ${summary.indexes} indexes and keys, ${summary.materializedViews} materialized views`,
        `  phases: ${Object.entries(summary.phases)
          .map(([k, v]) => `${k} ${v.toFixed(1)}s`)
          .join(', ')}`,
        'Next: compare with the source if it is still reachable (pgshift verify --source URL --target …), then point the application at the target',
      ].join('\n'),
    );
  }
  return { json: summary };
}
