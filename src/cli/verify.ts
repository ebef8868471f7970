import { Command, Option } from 'commander';
import { parsePositiveInt, parseSize, requireUrl } from '../config.js';
import { ExitCode } from '../errors.js';
import { renderReport, VERIFY_DEFAULTS, verifyDatabases } from '../verify/index.js';
import { run, withConnectionOptions, withFilterOptions, type CommonOptions } from './context.js';

interface VerifyFlags extends CommonOptions {
  jobs?: string;
  include?: string[];
  exclude?: string[];
  maxDifferences?: string;
  chunkSize?: string;
  acl?: boolean;
  owners?: boolean;
}

export function verifyCommand(): Command {
  const cmd = new Command('verify')
    .summary('prove the target equals the source, or point at every difference')
    .description(
      [
        'Compare source and target after writes are frozen. For every table:',
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
        '    | jq \'.tables[] | select(.match | not)\'',
        '  pgshift verify --source $SRC --target $DST --include "public.order*"',
        '  # after copy --keep-acl --keep-owner, grants and owners too:',
        '  pgshift verify --source $SRC --target $DST --acl --owners',
      ].join('\n'),
    );
  withFilterOptions(withConnectionOptions(cmd, { source: 'required', target: 'required' }))
    .addOption(new Option('--jobs <n>', 'connections per side for row data (plus one each for catalogs). Example: --jobs 4').default(String(VERIFY_DEFAULTS.jobs)))
    .addOption(new Option('--max-differences <n>', 'differing rows listed per table (counts are always exact). Example: --max-differences 1000').default(String(VERIFY_DEFAULTS.maxDifferences)))
    .addOption(new Option('--acl', 'also compare grants (off by default: copy uses --no-acl unless --keep-acl). Example: --acl'))
    .addOption(new Option('--owners', 'also compare object owners (off by default: copy uses --no-owner unless --keep-owner). Example: --owners'))
    // Tuning knob for tests and benchmarks: how big one block-range read is.
    .addOption(new Option('--chunk-size <size>', 'block-range chunk size per query. Example: --chunk-size 64MB').hideHelp())
    .action(async (flags: VerifyFlags) => {
      process.exitCode = await run(flags, async (ctx) => {
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
          logger: ctx.logger,
          progress: ctx.json ? undefined : ctx.progress(),
        });
        ctx.print(renderReport(report));
        return { json: report, exitCode: report.ok ? ExitCode.ok : ExitCode.negative };
      });
    });
  return cmd;
}
