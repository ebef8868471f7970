import { Command, Option } from 'commander';
import { parsePositiveInt, parseSize, requireUrl } from '../config.js';
import { ExitCode, UsageError } from '../errors.js';
import { formatCount } from '../format.js';
import { renderReport, VERIFY_DEFAULTS, verifyDatabases } from '../verify/index.js';
import { run, withConnectionOptions, withFilterOptions, type CommonOptions, type Context } from './context.js';

interface VerifyFlags extends CommonOptions {
  jobs?: string;
  include?: string[];
  exclude?: string[];
  maxDifferences?: string;
  chunkSize?: string;
  acl?: boolean;
  owners?: boolean;
  online?: boolean;
  offline?: boolean;
}

export function verifyCommand(): Command {
  const cmd = new Command('verify')
    .summary('prove the target equals the source, or point at every difference')
    .description(
      [
        'Compare source and target. For every table:',
        'row counts and checksums computed on the servers (nothing is copied to',
        'this machine); a differing range is narrowed down to rows and reported',
        'by primary key (missing, extra, different). Tables without a primary',
        'key are compared as multisets. Also compares sequences, large objects',
        '(OIDs and contents) and every schema object pg_dump --schema-only',
        'prints (tables, columns, indexes and their options, constraints,',
        'triggers, policies and RLS flags, rules, views, functions, aggregates,',
        'types, operators, casts, collations, comments, extensions…). Grants and',
        'owners only with --acl / --owners. Not compared: publications and',
        'subscriptions. Reads only; changes nothing.',
        '',
        'Online: when pgshift replicate is running on the target, verify',
        'compares while writes go on: the source is read at one position and',
        'the running replicate exports the target exactly there (it pauses',
        'for a moment). Sequences and materialized views (set at the finish)',
        'and what the replication switched off on the target are not',
        'differences then. A passed online verify is recorded on the target',
        "as the baseline (in pgshift's own state: the only thing verify",
        'ever writes).',
        'Without a replication, writes must be frozen.',
        '',
        'Materialized views are derived data, reported apart from the tables:',
        'contents, populated state and definition, with the REFRESH to run.',
        'The closing lines say what to do next for the state the target is in',
        '(empty: copy; interrupted copy: --resume; replication: catch up;',
        'finished copy: the exact TRUNCATE and copy --data-only --include).',
        '',
        'Exit code 0: equal. 1: differences found (a stale materialized view',
        'too). 2/3/4: could not verify.',
        '',
        'Examples:',
        '  pgshift verify --source $SRC --target $DST',
        '  pgshift verify --source $SRC --target $DST --jobs 4 --json \\',
        "    | jq '.tables[] | select(.match | not)'",
        '  pgshift verify --source $SRC --target $DST --include "public.order*"',
        '  # writes frozen, even while a replicate runs (no online point):',
        '  pgshift verify --source $SRC --target $DST --offline',
        '  # a restore checked against its archive (rows, sequences, large objects,',
        '  # and every schema object it would create):',
        '  pgshift verify --source latest.dump --target $DST',
        '  # after copy --keep-acl --keep-owner, grants and owners too:',
        '  pgshift verify --source $SRC --target $DST --acl --owners',
      ].join('\n'),
    );
  withFilterOptions(withConnectionOptions(cmd, { source: 'required', target: 'required' }))
    .addOption(
      new Option('--jobs <n>', 'connections per side for row data (plus one each for catalogs). Example: --jobs 4').default(String(VERIFY_DEFAULTS.jobs)),
    )
    .addOption(
      new Option('--max-differences <n>', 'differing rows listed per table (counts are always exact). Example: --max-differences 1000').default(
        String(VERIFY_DEFAULTS.maxDifferences),
      ),
    )
    .addOption(new Option('--acl', 'also compare grants (off by default: copy uses --no-acl unless --keep-acl). Example: --acl'))
    .addOption(new Option('--owners', 'also compare object owners (off by default: copy uses --no-owner unless --keep-owner). Example: --owners'))
    .addOption(new Option('--online', 'verify while a running replicate applies (the default when one runs). Example: --online').conflicts('offline'))
    .addOption(new Option('--offline', 'verify both sides as they are, writes frozen. Example: --offline'))
    // Tuning knob for tests and benchmarks: how big one block-range read is.
    .addOption(new Option('--chunk-size <size>', 'block-range chunk size per query. Example: --chunk-size 64MB').hideHelp())
    .action(async (flags: VerifyFlags) => {
      process.exitCode = await run(flags, async (ctx) => {
        const { isArchivePath } = await import('../archive/index.js');
        if (flags.source && isArchivePath(flags.source)) return verifyArchiveSource(flags, ctx);
        const source = requireUrl('source', flags.source);
        const target = requireUrl('target', flags.target);
        const report = await verifyDatabases(source, target, {
          jobs: parsePositiveInt('--jobs', flags.jobs, VERIFY_DEFAULTS.jobs),
          maxDifferences: parsePositiveInt('--max-differences', flags.maxDifferences, VERIFY_DEFAULTS.maxDifferences),
          chunkBytes: parseSize('--chunk-size', flags.chunkSize, 32 * 1024 * 1024),
          acl: flags.acl ?? false,
          owners: flags.owners ?? false,
          include: flags.include,
          exclude: flags.exclude,
          mode: flags.online ? 'online' : flags.offline ? 'offline' : 'auto',
          logger: ctx.logger,
          progress: ctx.json ? undefined : ctx.progress(),
        });
        ctx.print(renderReport(report));
        return { json: report, exitCode: report.ok ? ExitCode.ok : ExitCode.negative };
      });
    });
  return cmd;
}

/** verify --source FILE: the target against the pg_dump archive it was restored from (src/archive/verify.ts). */
async function verifyArchiveSource(flags: VerifyFlags, ctx: Context): Promise<{ exitCode: number; json: unknown }> {
  const target = requireUrl('target', flags.target);
  if (flags.acl || flags.owners) {
    throw new UsageError('--acl/--owners do not apply to an archive source yet; nothing was compared', {
      hint: 'verify the whole archive: pgshift verify --source FILE --target URL',
    });
  }
  const { verifyArchive } = await import('../archive/verify.js');
  const r = await verifyArchive(flags.source!, target, {
    jobs: parsePositiveInt('--jobs', flags.jobs, VERIFY_DEFAULTS.jobs),
    pgBin: undefined,
    filter: { include: flags.include, exclude: flags.exclude },
  });
  const bad = r.tables.filter((t) => !t.equal);
  const lines = [
    `${r.ok ? 'Equal' : 'DIFFERENT'}: ${target.display} against the archive ${r.archive} — ${r.tables.length} tables (${formatCount(r.tables.reduce((n, t) => n + t.archiveRows, 0))} rows), ${r.sequences.length} sequences, ${r.largeObjects.archive} large objects, ${r.schema.compared} schema objects, in ${r.seconds.toFixed(1)}s`,
    ...bad.map(
      (t) =>
        `  table ${t.table}: ${formatCount(t.archiveRows)} rows in the archive, ${formatCount(t.targetRows)} on the target${t.archiveRows === t.targetRows ? ', contents differ' : ''}`,
    ),
    ...r.sequences.filter((s) => !s.equal).map((s) => `  sequence ${s.sequence}: ${s.archive} in the archive, ${s.target ?? 'missing'} on the target`),
    ...(r.largeObjects.equal ? [] : [`  large objects: ${r.largeObjects.archive} in the archive, ${r.largeObjects.target} on the target`]),
    ...r.schema.differences.map(
      (d) =>
        `  ${d.severity === 'note' ? 'note: ' : ''}${d.kind.toLowerCase()} ${d.object}: ${d.difference === 'missing' ? 'in the archive, missing on the target' : d.difference === 'extra' ? 'on the target, not in the archive' : `defined differently${d.severity === 'note' ? ' (another major’s pg_dump prints it so; check it if it matters)' : ''}`}`,
    ),
    r.ok
      ? 'The restore holds everything the archive does.'
      : 'Next: restore the tables named above again (or the whole archive into an empty database with pgshift copy --source FILE), then verify again.',
  ];
  ctx.print(lines.join('\n'));
  return { exitCode: r.ok ? 0 : 1, json: r };
}
