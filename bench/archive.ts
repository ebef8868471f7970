// The backup-file path (#26.4): one pg_dump -Fc archive restored into a fresh, empty target database by
// `pgshift copy --source FILE --jobs N` and by `pg_restore -j N --no-owner --no-acl -d TARGET FILE`, same N,
// alternating, each run `--rounds` times. Durable embedded servers by default (bench/servers.ts). Every result
// is checked against the source database the archive was taken from (row counts, indexes, foreign keys,
// sequence values: bench/copy.ts shapeOf), so a fast-but-wrong restore can't win.
//
//   npm run bench:archive
//   npm run bench:archive -- --mb 400 --shape mixed --jobs 2 --rounds 2
//   npm run bench:archive -- --shape many-tables --tables 500 --mb 50
//   npm run bench:archive -- --shape mixed --tools pgshift --profile /tmp/prof   (node --cpu-prof of each pgshift run)
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConnectionUrl } from '../src/config.js';
import { connect } from '../src/db/connect.js';
import { pickPgTools } from '../src/schema/pgdump.js';
import { differences, recreate, shapeOf, sql, tablesBySize } from './copy.js';
import { runOne, show, TIME_BIN, type Cmd } from './proc.js';
import { footingNote, removeOnExit, setExitCode, startBenchServers, withDatabase, type Footing } from './servers.js';
import { generateShape, SHAPES, type ManyTablesOptions, type Shape } from './shapes.js';
import { MAJORS, type Major } from '../test/support/pg-binaries.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PGSHIFT_BIN = join(ROOT, 'bin', 'pgshift.js');
const TARGET_DB = 'pgshift_bench_restore';
const MB = 1024 * 1024;

/** pgshift-analyze-none: pgshift copy --analyze none, so "pg_restore -j + the ANALYZE pgshift adds" is measured, not guessed. */
const TOOLS = ['pgshift', 'pgshift-analyze-none', 'pg_restore'] as const;
type ToolId = (typeof TOOLS)[number];

interface RestoreRun {
  tool: ToolId;
  round: number;
  status: 'ok' | 'wrong-result' | 'failed';
  seconds?: number;
  /** user+sys of the client process tree: pgshift (node) and every pg_restore it spawned, or pg_restore and its workers. */
  cpuSeconds?: number;
  /** Max RSS of the largest process in the tree (getrusage ru_maxrss of the tool and its children). */
  peakRssBytes?: number;
  /** Seconds per phase: pgshift's own --json summary; for pg_restore, marks taken from its -v output. */
  phases?: Record<string, number>;
  /** --estimate: what `pgshift estimate --source FILE` predicted for this run, made right before it on the empty target. */
  estimate?: { totalSeconds: number; low: number; high: number; seconds: number; phases: Record<string, number> };
  note?: string;
}

interface ShapeRecord {
  shape: Shape;
  sourceBytes: number;
  archiveBytes: number;
  dumpSeconds: number;
  tables: number;
  commands: Partial<Record<ToolId, string>>;
  runs: RestoreRun[];
  best: Partial<Record<ToolId, RestoreRun>>;
}

/** pg_restore -j -v, timed: stderr lines stamped as they arrive give the phase marks. */
async function runPgRestore(
  cmd: Cmd,
  logFile: string,
): Promise<{ seconds: number; cpuSeconds?: number; peakRssBytes?: number; phases: Record<string, number> }> {
  const timeFile = join(tmpdir(), `pgshift-archive-bench-time-${process.pid}.txt`);
  const haveTime = existsSync(TIME_BIN);
  const bin = haveTime ? TIME_BIN : cmd.bin;
  const args = haveTime ? ['-f', 'rusage %U %S %M', '-o', timeFile, cmd.bin, ...cmd.args] : cmd.args;
  const started = process.hrtime.bigint();
  const at = () => Number(process.hrtime.bigint() - started) / 1e9;
  const marks: Record<string, number> = {};
  const lines: string[] = [];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let rest = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    const t = at();
    const parts = (rest + d).split('\n');
    rest = parts.pop() ?? '';
    for (const l of parts) {
      lines.push(l);
      if (/entering main parallel loop/.test(l)) marks.mainLoop ??= t;
      if (/launching item \d+ TABLE DATA /.test(l)) marks.firstData ??= t;
      if (/finished item \d+ TABLE DATA /.test(l)) marks.lastData = t;
      if (/launching item \d+ (INDEX|CONSTRAINT|FK CONSTRAINT) /.test(l)) marks.firstIndex ??= t;
    }
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  writeFileSync(logFile, lines.join('\n') + '\n');
  const seconds = at();
  if (code !== 0) throw new Error(`${show(cmd)} exited with ${code}; last lines:\n${lines.slice(-10).join('\n')}`);
  let usage: { cpuSeconds?: number; peakRssBytes?: number } = {};
  if (haveTime) {
    const m = /rusage ([\d.]+) ([\d.]+) (\d+)/.exec(readFileSync(timeFile, 'utf8'));
    rmSync(timeFile, { force: true });
    if (m) usage = { cpuSeconds: Number(m[1]) + Number(m[2]), peakRssBytes: Number(m[3]) * 1024 };
  }
  // pre-data: serial, before the parallel loop; data: until the last table's rows are in; post-data: the
  // index/key/FK builds pg_restore runs in parallel once a table's data is in (they overlap the data).
  const preData = marks.mainLoop ?? 0;
  const phases: Record<string, number> = {
    'pre-data': preData,
    data: (marks.lastData ?? preData) - preData,
    'post-data after last data': seconds - (marks.lastData ?? preData),
    ...(marks.firstIndex !== undefined ? { 'first index build at': marks.firstIndex } : {}),
  };
  return { seconds, ...usage, phases };
}

interface Options {
  mb: number;
  jobs: number;
  rounds: number;
  shapes: Shape[];
  target: Major;
  footing: Footing;
  compress: boolean;
  /** Run pgshift estimate --source FILE before each pgshift restore and record its prediction. */
  estimate: boolean;
  many: ManyTablesOptions;
  out: string;
  tools: ToolId[];
  /** --profile DIR: each pgshift run under node --cpu-prof, its profile written into DIR. */
  profile?: string;
}

async function benchShape(
  shape: Shape,
  o: Options,
  servers: Awaited<ReturnType<typeof startBenchServers>>,
  scratch: string,
  log: (l: string) => void,
): Promise<ShapeRecord> {
  const sourceDb = `pgshift_bench_${shape.replace(/-/g, '_')}`;
  const source = withDatabase(servers.sourceAdmin, sourceDb);
  await recreate(servers.sourceAdmin, sourceDb);
  await generateShape(shape, { url: source, mb: o.mb, jobs: o.jobs, log, many: shape === 'many-tables' ? o.many : undefined });
  await sql(source, 'CHECKPOINT');
  const tables = await tableNames(source);
  const sourceBytes = Number((await sql<{ b: string }>(source, 'SELECT pg_database_size(current_database()) AS b'))[0]!.b);
  const want = await shapeOf(source, tables);
  const version = (await sql<{ v: string }>(source, "SELECT current_setting('server_version') AS v"))[0]!.v;
  const tools = pickPgTools(Number(version.split('.')[0]));
  const file = join(scratch, `${shape}.dump`);
  const dumped = await runOne(
    { bin: tools.pgDump, args: ['-Fc', ...(o.compress ? [] : ['-Z0']), '-f', file, '-d', source] },
    { logFile: join(scratch, 'pg_dump.log') },
  );
  const archiveBytes = statSync(file).size;
  log(
    `bench: ${shape}: ${tables.length} tables, database ${(sourceBytes / MB).toFixed(0)} MB, archive ${(archiveBytes / MB).toFixed(0)} MB (pg_dump ${tools.version}${o.compress ? '' : ', -Z0'}) in ${dumped.seconds.toFixed(1)}s`,
  );
  await sql(servers.sourceAdmin, `DROP DATABASE IF EXISTS ${sourceDb} WITH (FORCE)`); // the archive stands in for it now

  const target = withDatabase(servers.targetAdmin, TARGET_DB);
  const node = o.profile ? ['--cpu-prof', `--cpu-prof-dir=${o.profile}`] : [];
  const pgshift = (...extra: string[]): Cmd => ({
    bin: process.execPath,
    args: [...node, PGSHIFT_BIN, 'copy', '--source', file, '--target', target, '--jobs', String(o.jobs), '--pg-bin', tools.dir, '--json', ...extra],
  });
  const commands: Record<ToolId, Cmd> = {
    pgshift: pgshift(),
    'pgshift-analyze-none': pgshift('--analyze', 'none'),
    pg_restore: { bin: tools.pgRestore, args: ['-v', '-j', String(o.jobs), '--no-owner', '--no-acl', '-d', target, file] },
  };
  const runs: RestoreRun[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    // Alternate who goes first, so neither always meets the server right after the other's cleanup.
    const order: ToolId[] = round % 2 === 1 ? o.tools : [...o.tools].reverse();
    for (const tool of order) {
      await recreate(servers.targetAdmin, TARGET_DB);
      await sql(servers.targetAdmin, 'CHECKPOINT');
      const logFile = join(scratch, `${shape}-${tool}-${round}.log`);
      log(`bench: ${shape}: round ${round}: ${tool} …`);
      try {
        let r: Omit<RestoreRun, 'tool' | 'round' | 'status'>;
        if (tool !== 'pg_restore') {
          let estimate: RestoreRun['estimate'];
          if (o.estimate && tool === 'pgshift') {
            const e = await runOne(
              {
                bin: process.execPath,
                args: [PGSHIFT_BIN, 'estimate', '--source', file, '--target', target, '--jobs', String(o.jobs), '--pg-bin', tools.dir, '--json'],
              },
              { logFile: join(scratch, `${shape}-estimate-${round}.log`) },
            );
            const j = JSON.parse(e.stdout) as { totalSeconds: number; low: number; high: number; phases: { name: string; seconds: number }[] };
            estimate = {
              totalSeconds: j.totalSeconds,
              low: j.low,
              high: j.high,
              seconds: e.seconds,
              phases: Object.fromEntries(j.phases.map((x) => [x.name, x.seconds])),
            };
            log(
              `bench: ${shape}: round ${round}: estimate ${j.totalSeconds.toFixed(1)}s [${j.low.toFixed(1)}–${j.high.toFixed(1)}] (took ${e.seconds.toFixed(1)}s)`,
            );
            await sql(servers.targetAdmin, 'CHECKPOINT');
          }
          const p = await runOne(commands[tool], { logFile });
          const summary = JSON.parse(p.stdout) as { phases?: Record<string, number> };
          r = { seconds: p.seconds, cpuSeconds: p.cpuSeconds, peakRssBytes: p.peakRssBytes, phases: summary.phases, ...(estimate ? { estimate } : {}) };
        } else {
          r = await runPgRestore(commands.pg_restore, logFile);
        }
        const diff = differences(want, await shapeOf(target, tables));
        runs.push({ tool, round, status: diff.length ? 'wrong-result' : 'ok', ...r, ...(diff.length ? { note: diff.slice(0, 5).join('; ') } : {}) });
        const phases = Object.entries(r.phases ?? {})
          .map(([k, v]) => `${k} ${v.toFixed(1)}s`)
          .join(', ');
        log(
          `bench: ${shape}: ${tool}: ${r.seconds!.toFixed(1)}s, client CPU ${r.cpuSeconds?.toFixed(1) ?? '?'}s, max RSS ${r.peakRssBytes ? (r.peakRssBytes / MB).toFixed(0) : '?'} MB; ${phases}${diff.length ? ` — WRONG RESULT: ${diff.join('; ')}` : ''}`,
        );
      } catch (err) {
        const note = err instanceof Error ? err.message : String(err);
        log(`bench: ${shape}: ${tool}: FAILED — ${note}`);
        runs.push({ tool, round, status: 'failed', note });
      }
    }
  }
  rmSync(file, { force: true });
  const best: ShapeRecord['best'] = {};
  for (const tool of o.tools) {
    const ok = runs.filter((r) => r.tool === tool && r.status === 'ok');
    if (ok.length) best[tool] = ok.reduce((a, b) => (b.seconds! < a.seconds! ? b : a));
  }
  return {
    shape,
    sourceBytes,
    archiveBytes,
    dumpSeconds: dumped.seconds,
    tables: tables.length,
    commands: Object.fromEntries(o.tools.map((t) => [t, show(commands[t])])),
    runs,
    best,
  };
}

async function tableNames(url: string): Promise<string[]> {
  const c = await connect(parseConnectionUrl(url, 'source'), { applicationName: 'pgshift-bench' });
  try {
    return (await tablesBySize(c)).map((t) => t.name);
  } finally {
    await c.end().catch(() => undefined);
  }
}

function markdown(r: ShapeRecord, jobs: number): string {
  const row = (x: RestoreRun) => {
    const ph = Object.entries(x.phases ?? {})
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ');
    const est = x.estimate ? `${x.estimate.totalSeconds.toFixed(1)} [${x.estimate.low.toFixed(1)}–${x.estimate.high.toFixed(1)}]` : '–';
    return `| ${x.tool} | ${x.round} | ${x.status} | ${x.seconds?.toFixed(1) ?? '–'} | ${x.cpuSeconds?.toFixed(1) ?? '–'} | ${x.peakRssBytes ? (x.peakRssBytes / MB).toFixed(0) : '–'} | ${est} | ${ph} |`;
  };
  return [
    `### ${r.shape}: ${r.tables} tables, database ${(r.sourceBytes / MB).toFixed(0)} MB, archive ${(r.archiveBytes / MB).toFixed(0)} MB, jobs ${jobs}`,
    '',
    '| tool | round | result | wall s | client CPU s | max RSS MB | estimate s | phases (s) |',
    '|---|---:|---|---:|---:|---:|---|---|',
    ...r.runs.map(row),
    '',
  ].join('\n');
}

async function run(o: Options, log: (l: string) => void) {
  const startedAt = new Date().toISOString();
  const scratch = mkdtempSync(join(tmpdir(), 'pgshift-archive-bench-'));
  chmodSync(scratch, 0o755);
  removeOnExit(scratch);
  const servers = await startBenchServers({ log, targetMajors: [o.target], footing: o.footing, label: 'pgshift-archive-bench' });
  try {
    const shapes: ShapeRecord[] = [];
    for (const s of o.shapes) shapes.push(await benchShape(s, o, servers, scratch, log));
    return {
      startedAt,
      finishedAt: new Date().toISOString(),
      footing: o.footing,
      note: footingNote(o.footing),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? '?', memoryBytes: totalmem(), node: process.version, loadAverage: loadavg() },
      jobs: o.jobs,
      rounds: o.rounds,
      compressed: o.compress,
      targetMajor: o.target,
      fairness:
        'Both tools restore the same archive into a freshly created empty database (CHECKPOINT before each run), same -j; pgshift additionally runs ANALYZE (its "analyze" phase), pg_restore does not.',
      shapes,
    };
  } finally {
    await servers.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function cli(): Promise<number> {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '200' },
      jobs: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '2' },
      shape: { type: 'string', default: 'mixed,many-tables' },
      tables: { type: 'string', default: '500' },
      'rows-per-table': { type: 'string' },
      target: { type: 'string', default: '17' },
      'fast-servers': { type: 'boolean', default: false },
      compress: { type: 'boolean', default: false },
      estimate: { type: 'boolean', default: false },
      tools: { type: 'string', default: TOOLS.join(',') },
      profile: { type: 'string' },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
      help: { type: 'boolean', default: false },
    },
  });
  const usage =
    'usage: npm run bench:archive -- [--mb 200] [--jobs 2] [--rounds 2] [--shape mixed,many-tables] [--tables 500]\n' +
    '         [--rows-per-table N] [--target 17|16|15] [--fast-servers] [--compress] [--estimate] [--out DIR]\n' +
    `         [--tools ${TOOLS.join(',')}] [--profile DIR]\n` +
    '  Generates each shape on an embedded PostgreSQL 15, pg_dump -Fc (-Z0 unless --compress) to a file, then\n' +
    '  restores it into an empty database on the target with pgshift copy --source FILE --jobs N and with\n' +
    '  pg_restore -j N --no-owner --no-acl, alternating, --rounds times each.\n' +
    '  many-tables uses --tables tables and the --mb spread over them (or --rows-per-table).\n' +
    '  pgshift-analyze-none is pgshift copy --analyze none (what pgshift costs without the ANALYZE it adds).\n' +
    '  --profile DIR: every pgshift run under node --cpu-prof, profiles into DIR.\n' +
    '  --estimate: pgshift estimate --source FILE on the empty target before each pgshift restore (its error).\n';
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const shapes = values.shape
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const o: Options = {
    mb: Number(values.mb),
    jobs: Number(values.jobs),
    rounds: Number(values.rounds),
    shapes: shapes as Shape[],
    target: Number(values.target) as Major,
    footing: values['fast-servers'] ? 'fast' : 'durable',
    compress: values.compress,
    estimate: values.estimate,
    out: values.out,
    tools: values.tools.split(',').map((t) => t.trim()) as ToolId[],
    ...(values.profile ? { profile: values.profile } : {}),
    many: { tables: Number(values.tables), ...(values['rows-per-table'] !== undefined ? { rowsPerTable: Number(values['rows-per-table']) } : {}) },
  };
  if (
    !(o.mb > 0) ||
    !Number.isInteger(o.jobs) ||
    o.jobs < 1 ||
    !Number.isInteger(o.rounds) ||
    o.rounds < 1 ||
    !MAJORS.includes(o.target) ||
    shapes.some((s) => !(SHAPES as readonly string[]).includes(s)) ||
    !o.tools.length ||
    o.tools.some((t) => !(TOOLS as readonly string[]).includes(t)) ||
    !(o.many.tables! >= 1)
  ) {
    process.stderr.write(`bench: bad arguments\n${usage}`);
    return 2;
  }
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const record = await run(o, log);
  mkdirSync(o.out, { recursive: true });
  const file = join(o.out, `archive-${record.startedAt.slice(0, 19).replace(/:/g, '')}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  log(`bench: results written to ${file}`);
  process.stdout.write(record.shapes.map((s) => markdown(s, o.jobs)).join('\n'));
  return record.shapes.some((s) => s.runs.some((r) => r.status !== 'ok')) ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cli().then(
    (code) => setExitCode(code),
    (err: unknown) => {
      process.stderr.write(`bench: error: ${err instanceof Error ? err.message : String(err)}\n`);
      setExitCode(1);
    },
  );
}
