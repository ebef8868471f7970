// The freeze of a pgshift cutover under a pgbench load, step by step, predicted against measured.
//
//   npm run bench:cutover -- [--scales 10,100] [--shapes tpcb,hot] [--verify changed,full] [--clients 4]
//                            [--rate 500] [--capture pgoutput|triggers] [--no-baseline]
//   node dist/bench/cutover.js --source-admin URL --target-admin URL
//
// For each pgbench scale: pgbench -i on a durable embedded source (pgbench_history given a key, as an application's
// table would have). Then for each shape and --verify mode, into a fresh durable target: an initial pgshift
// replicate --until-caught-up; a streaming pgshift replicate while pgbench writes (at most --rate tps, --clients);
// an online `pgshift verify` while both run (the baseline of --verify changed); replicate stopped (Ctrl-C), and
// `pgshift cutover --json` while pgbench still writes: it catches up, predicts, freezes the source, catches up to the
// freeze point, finishes and verifies inside the freeze. pgbench's sessions are terminated by the freeze (that is
// the application stopping). Shapes: `tpcb` is pgbench's tpcb-like script (every table written, pgbench_accounts —
// 99 % of the data — included); `hot` writes only pgbench_tellers, pgbench_branches and pgbench_history, leaving
// pgbench_accounts cold (a few hot tables beside a big cold one). The timelines are printed as Markdown (for
// docs/benchmarks.md) and written to bench/results/cutover-<date>-….json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConnectionUrl } from '../src/config.js';
import { connect } from '../src/db/connect.js';
import { setExitCode, startBenchServers, withDatabase } from './servers.js';

const BIN = fileURLToPath(new URL('../../bin/pgshift.js', import.meta.url));

function pgbenchBin(): string {
  for (const p of ['/usr/lib/postgresql/17/bin/pgbench', '/usr/lib/postgresql/15/bin/pgbench']) if (existsSync(p)) return p;
  return 'pgbench';
}

function libpq(url: string): { args: string[]; db: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  return {
    args: ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username)],
    db: decodeURIComponent(u.pathname.slice(1)),
    env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password), PGSSLMODE: u.searchParams.get('sslmode') ?? 'prefer' },
  };
}

async function query<T = Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  const c = await connect(parseConnectionUrl(url, 'source'));
  try {
    return (await c.query(text)).rows as T[];
  } finally {
    await c.end();
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

function pgshift(args: string[]): Run {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 ** 2,
    env: { ...process.env, PGSHIFT_SOURCE_URL: undefined, PGSHIFT_TARGET_URL: undefined },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - t0) / 1000 };
}

/** pgbench's tpcb-like transaction without pgbench_accounts: the hot shape. */
const HOT_SCRIPT = `\\set bid random(1, 1 * :scale)
\\set tid random(1, 10 * :scale)
\\set aid random(1, 100000 * :scale)
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scales: { type: 'string', default: '10' },
      shapes: { type: 'string', default: 'tpcb' },
      clients: { type: 'string', default: '4' },
      rate: { type: 'string', default: '500' },
      capture: { type: 'string', default: 'pgoutput' },
      verify: { type: 'string', default: 'changed' },
      'no-baseline': { type: 'boolean', default: false },
      warmup: { type: 'string', default: '10' },
      'max-freeze': { type: 'string', default: '600s' },
      'source-admin': { type: 'string' },
      'target-admin': { type: 'string' },
      out: { type: 'string', default: fileURLToPath(new URL('../../bench/results/', import.meta.url)) },
    },
  });
  const servers = await startBenchServers({
    sourceAdmin: values['source-admin'],
    targetAdmin: values['target-admin'],
    label: 'pgshift-cutover-bench',
    log: (l) => console.error(l),
    footing: 'durable',
  });
  const hotFile = join(tmpdir(), `pgshift-cutover-hot-${process.pid}.sql`);
  writeFileSync(hotFile, HOT_SCRIPT);
  const records: unknown[] = [];
  const rows: string[] = [];
  const children = new Set<ChildProcess>();
  const stopAll = () => {
    for (const c of children) c.kill('SIGTERM');
  };
  process.on('exit', stopAll);
  try {
    for (const scale of values.scales!.split(',').map(Number)) {
      const DB = `pgshift_cutover_bench_${scale}`;
      await query(servers.sourceAdmin, `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
      await query(servers.sourceAdmin, `CREATE DATABASE ${DB}`);
      const src = withDatabase(servers.sourceAdmin, DB);
      const { args, db, env } = libpq(src);
      console.error(`scale ${scale}: pgbench -i`);
      const init = spawnSync(pgbenchBin(), [...args, '-i', '-q', '-s', String(scale), db], { env, encoding: 'utf8' });
      if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
      // Every replicated table needs a key for an exact verify by row — pgbench_history has none.
      await query(src, `ALTER TABLE pgbench_history ADD COLUMN hid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`);
      for (const shape of values.shapes!.split(',')) {
        for (const verify of values.verify!.split(',')) {
          const tgtDb = `${DB}_target`;
          await query(servers.targetAdmin, `DROP DATABASE IF EXISTS ${tgtDb} WITH (FORCE)`);
          await query(servers.targetAdmin, `CREATE DATABASE ${tgtDb}`);
          await query(src, `TRUNCATE pgbench_history`);
          const tgt = withDatabase(servers.targetAdmin, tgtDb);
          const capture = values.capture === 'triggers' ? ['--capture', 'triggers'] : [];
          const label = `scale ${scale}, ${shape}, --verify ${verify}`;
          const size = (await query<{ b: number }>(src, `SELECT pg_database_size(current_database())::float8 AS b`))[0]!.b;
          const first = pgshift(['replicate', '--source', src, '--target', tgt, '--until-caught-up', ...capture]);
          if (first.code !== 0) throw new Error(`initial replicate failed: ${first.stderr}`);
          console.error(`${label}: initial copy + catch-up ${first.seconds.toFixed(1)} s; pgbench -c ${values.clients} -R ${values.rate} from now on`);
          const script = shape === 'hot' ? ['-f', hotFile, '-s', String(scale)] : [];
          const load = spawn(pgbenchBin(), [...args, ...script, '-c', values.clients!, '-j', '2', '-T', '3600', '-R', values.rate!, '-n', db], {
            env,
            stdio: 'ignore',
          });
          children.add(load);
          const replLog = join(tmpdir(), `pgshift-cutover-replicate-${process.pid}.log`);
          const repl = spawn(process.execPath, [BIN, 'replicate', '--source', src, '--target', tgt, ...capture], {
            // A file, not a pipe: the spawnSync calls below block this process's event loop.
            stdio: ['ignore', 'ignore', openSync(replLog, 'w')],
            env: { ...process.env, PGSHIFT_SOURCE_URL: undefined, PGSHIFT_TARGET_URL: undefined },
          });
          children.add(repl);
          await sleep(Number(values.warmup) * 1000);
          let online: { seconds: number; code: number | null; pauseMs: number | null } | null = null;
          if (!values['no-baseline'] && verify === 'changed') {
            const v = pgshift(['verify', '--source', src, '--target', tgt, '--online', '--json']);
            const j = JSON.parse(v.stdout || '{}');
            online = { seconds: v.seconds, code: v.code, pauseMs: j.online?.pauseMs ?? null };
            console.error(`${label}: online verify (the baseline) ${v.seconds.toFixed(1)} s, exit ${v.code}, apply pause ${online.pauseMs} ms`);
            if (v.code !== 0) console.error(v.stderr.slice(-2000));
            await sleep(5000); // the stream goes on for a while after the baseline, as it would
          }
          repl.kill('SIGINT');
          await new Promise((r) => (repl.exitCode !== null ? r(null) : repl.on('close', r)));
          children.delete(repl);
          if (repl.exitCode !== 0 && repl.exitCode !== 130)
            console.error(`${label}: streaming replicate exit ${repl.exitCode}: ${readFileSync(replLog, 'utf8').slice(-4000)}`);
          const cut = pgshift(['cutover', '--source', src, '--target', tgt, '--json', '--max-freeze', values['max-freeze']!, '--verify', verify]);
          load.kill('SIGTERM');
          children.delete(load);
          if (cut.code !== 0) {
            console.error(cut.stderr.slice(-3000));
            setExitCode(1);
          }
          const report = JSON.parse(cut.stdout || '{}');
          const changedRows = (await query<{ n: number }>(src, `SELECT count(*)::int AS n FROM pgbench_history`))[0]!.n;
          records.push({
            scale,
            shape,
            verify,
            databaseBytes: size,
            capture: values.capture,
            clients: Number(values.clients),
            rate: Number(values.rate),
            onlineVerify: online,
            historyRowsAtEnd: changedRows,
            cutoverExit: cut.code,
            cutoverSeconds: cut.seconds,
            report,
          });
          const timeline = (report.timeline ?? []) as Array<{ step: string; predictedSeconds: number | null; seconds: number }>;
          const cell = (step: string) => {
            const s = timeline.find((x) => x.step === step);
            return s ? `${s.predictedSeconds?.toFixed(2) ?? '–'} / ${s.seconds.toFixed(2)}` : '—';
          };
          const compared = report.verify ? `${report.verify.tables}${report.verify.fallback ? ' (no baseline)' : ''}` : '—';
          rows.push(
            `| ${scale} | ${(size / 1024 ** 2).toFixed(0)} MB | ${shape} | ${verify} | ${online ? `${online.seconds.toFixed(1)} s` : '—'} | ${compared} | ${cell('freeze')} | ${cell('catch-up')} | ${cell('finish')} | ${cell('verify')} | ${report.prediction?.totalSeconds?.toFixed(2) ?? '–'} s | **${report.frozenSeconds?.toFixed(2) ?? '–'} s** | ${report.verdict ?? `exit ${cut.code}`} |`,
          );
          console.error(rows.at(-1));
          pgshift(['cutover', '--source', src, '--target', tgt, '--abort']);
          pgshift(['cleanup', '--source', src, '--target', tgt, '--force']);
        }
      }
    }
    const date = new Date().toISOString();
    mkdirSync(values.out!, { recursive: true });
    const tag = `s${values.scales!.replace(/,/g, '_')}-${values.shapes!.replace(/,/g, '_')}-${values.capture}-verify-${values.verify!.replace(/,/g, '_')}`;
    const file = `${values.out}cutover-${date.slice(0, 16).replace(/:/g, '')}-${tag}.json`;
    writeFileSync(file, JSON.stringify({ date, cpus: cpus().length, embedded: servers.embedded, footing: 'durable', records }, null, 2));
    console.log(
      '| pgbench scale | database | shape | --verify | online verify (baseline) | tables compared in the freeze | freeze | catch-up | finish | verify | predicted | frozen | verdict |',
    );
    console.log('|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const r of rows) console.log(r);
    console.error(`written ${file}`);
  } finally {
    stopAll();
    await servers.stop();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  setExitCode(1);
});
