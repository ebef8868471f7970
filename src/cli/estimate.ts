import { Command, Option } from 'commander';
import { optionalUrl, parsePositiveInt, parseSize, requireUrl } from '../config.js';
import { ANALYZE_MODES, COPY_DEFAULTS, MIN_SPLIT_BYTES, type AnalyzeMode } from '../copy/index.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../estimate/duration.js';
import { run, withConnectionOptions, withFilterOptions, type CommonOptions } from './context.js';

export interface EstimateFlags extends CommonOptions {
  jobs?: string;
  indexJobs?: string;
  include?: string[];
  exclude?: string[];
  splitLargerThan?: string;
  downtimeBudget?: string;
  probeSeconds?: string;
  pgBin?: string;
  analyze?: AnalyzeMode;
}

export function estimateCommand(): Command {
  const cmd = new Command('estimate')
    .summary('predict how long copy takes, by phase, and how long writes must be frozen')
    .description(
      [
        'Plan exactly as copy would (same chunks, same index scheduling), measure the',
        'pair, and simulate the copy: time per phase (schema, data, indexes and',
        'constraints, large objects, materialized views, sequences, analyze), the',
        'total with a range, the tables on the critical path, connections needed.',
        '',
        'With --target: a short probe (--probe-seconds, default 10) times real',
        "sample COPYs of the largest tables into scratch tables in the target's",
        '"pgshift" schema, sample index builds, then COPYs and builds side by side',
        '(how much they slow each other when copy overlaps them), and the first',
        "statements of the source's schema (a target that refuses them is named:",
        'copy would stop there too), inside transactions that are always rolled',
        'back: nothing is left on the target, also after Ctrl-C. Without --target',
        'only the source is measured and the estimate says it is uncalibrated.',
        '',
        "Also samples the source's write rate and whether logical replication is",
        'available; with --downtime-budget answers whether dump/restore fits',
        '(freeze = copy + verify) or replication is needed (freeze = catch-up +',
        'sequences + verify). Writes nothing to the source.',
        '',
        "With --source FILE (a pg_dump -Fc file such as Heroku's latest.dump, or a",
        '-Fd folder): the restore copy --source FILE would run, from the sizes in',
        "the archive and the target's rates, measured by restoring the archive's",
        'schema and sample rows there in a transaction that is rolled back;',
        '--target is required and must be empty.',
        '',
        'Examples:',
        '  pgshift estimate --source "$(heroku config:get DATABASE_URL -a app)"',
        '  pgshift estimate --source $SRC --target $DST --jobs 4 --downtime-budget 15m',
        '  pgshift estimate --source $SRC --target $DST --json | jq .totalSeconds',
        '  pgshift estimate --source latest.dump --target $DST --jobs 4',
      ].join('\n'),
    );
  withFilterOptions(withConnectionOptions(cmd, { source: 'required', target: 'optional' }))
    .addOption(new Option('--jobs <n>', 'COPY pipelines the copy will use (as copy --jobs). Example: --jobs 4').default(String(COPY_DEFAULTS.jobs)))
    .addOption(
      new Option('--index-jobs <n>', 'parallel index builds the copy will use (as copy --index-jobs). Example: --index-jobs 2').default(
        String(COPY_DEFAULTS.indexJobs),
      ),
    )
    .addOption(
      new Option('--split-larger-than <size>', 'as copy: tables above this are split into chunks (0 never splits). Example: --split-larger-than 256MB').default(
        '512MB',
      ),
    )
    .addOption(
      new Option(
        '--analyze <when>',
        'as copy --analyze: ANALYZE overlapping the copy (overlap), after everything (end), or never (none). Example: --analyze end',
      )
        .choices([...ANALYZE_MODES])
        .default('overlap'),
    )
    .addOption(
      new Option('--downtime-budget <duration>', 'longest write freeze you can accept: answers dump/restore or replication. Example: --downtime-budget 15m'),
    )
    .addOption(new Option('--probe-seconds <s>', 'how long the calibration probe may run against source and target. Example: --probe-seconds 20').default('10'))
    .addOption(
      new Option(
        '--pg-bin <dir>',
        'folder with pg_dump/pg_restore, to time the schema dump as copy would run it. Example: --pg-bin /usr/lib/postgresql/17/bin',
      ).env('PGSHIFT_PG_BIN'),
    )
    .action(async (flags: EstimateFlags) => {
      process.exitCode = await run(flags, async (ctx) => {
        const { isArchivePath } = await import('../archive/index.js');
        if (flags.source && isArchivePath(flags.source)) {
          const { estimateArchiveCommand } = await import('./estimate-archive.js');
          return estimateArchiveCommand(flags, ctx);
        }
        const source = requireUrl('source', flags.source);
        const target = optionalUrl('target', flags.target);
        const splitBytes = parseSize('--split-larger-than', flags.splitLargerThan, COPY_DEFAULTS.splitBytes);
        if (splitBytes > 0 && splitBytes < MIN_SPLIT_BYTES) {
          throw new UsageError(`--split-larger-than ${flags.splitLargerThan} is below the minimum of 1MB`, {
            hint: 'use --split-larger-than 1MB or more (default 512MB), or 0 to never split',
          });
        }
        const probeSeconds = Number(flags.probeSeconds ?? 10);
        if (!Number.isFinite(probeSeconds) || probeSeconds < 1 || probeSeconds > 300) {
          throw new UsageError(`--probe-seconds must be between 1 and 300, not ${flags.probeSeconds}`, { hint: 'e.g. --probe-seconds 10 (the default)' });
        }
        // Loaded on use, so other commands start without the estimate modules.
        const { estimateCopy } = await import('../estimate/index.js');
        const { renderEstimate } = await import('../estimate/render.js');
        const report = await estimateCopy(source, target, {
          jobs: parsePositiveInt('--jobs', flags.jobs, COPY_DEFAULTS.jobs),
          indexJobs: parsePositiveInt('--index-jobs', flags.indexJobs, COPY_DEFAULTS.indexJobs),
          splitBytes,
          filter: { include: flags.include, exclude: flags.exclude },
          probeSeconds,
          budgetSeconds: flags.downtimeBudget === undefined ? null : parseDuration('--downtime-budget', flags.downtimeBudget),
          pgBin: flags.pgBin,
          analyze: flags.analyze,
          signal: ctx.signal,
          logger: ctx.logger,
        });
        ctx.print(renderEstimate(report, { timeline: Boolean(process.stdout.isTTY) }));
        return { json: report };
      });
    });
  return cmd;
}
