// The freeze of a pgshift cutover under a pgbench load, step by step, predicted against measured.
//
//   npm run bench:cutover -- [--scales 10,100] [--clients 4] [--rate 500] [--capture pgoutput|triggers]
//   node dist/bench/cutover.js --source-admin URL --target-admin URL
//
// For each pgbench scale: pgbench -i on a durable embedded source, an initial pgshift replicate --until-caught-up
// into a durable target, then pgbench writes (tpcb-like, --clients, at most --rate tps) while `pgshift cutover
// --json` runs: it catches up, predicts, freezes the source, catches up to the freeze point, finishes and verifies
// inside the freeze. pgbench's sessions are terminated by the freeze (that is the application stopping). The
// report's timeline is printed as Markdown (for docs/benchmarks.md) and written to bench/results/cutover-<date>.json.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
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

async function sql(url: string, text: string): Promise<void> {
  const c = await connect(parseConnectionUrl(url, 'source'));
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

function pgshift(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PGSHIFT_SOURCE_URL: undefined, PGSHIFT_TARGET_URL: undefined },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scales: { type: 'string', default: '10' },
      clients: { type: 'string', default: '4' },
      rate: { type: 'string', default: '500' },
      capture: { type: 'string', default: 'pgoutput' },
      verify: { type: 'string', default: 'changed' },
      warmup: { type: 'string', default: '10' },
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
  const records: unknown[] = [];
  const rows: string[] = [];
  try {
    for (const scale of values.scales!.split(',').map(Number)) {
      const DB = `pgshift_cutover_bench_${scale}`;
      await sql(servers.sourceAdmin, `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
      await sql(servers.sourceAdmin, `CREATE DATABASE ${DB}`);
      await sql(servers.targetAdmin, `DROP DATABASE IF EXISTS ${DB}_target WITH (FORCE)`);
      await sql(servers.targetAdmin, `CREATE DATABASE ${DB}_target`);
      const src = withDatabase(servers.sourceAdmin, DB);
      const tgt = withDatabase(servers.targetAdmin, `${DB}_target`);
      const { args, db, env } = libpq(src);
      console.error(`scale ${scale}: pgbench -i`);
      const init = spawnSync(pgbenchBin(), [...args, '-i', '-q', '-s', String(scale), db], { env, encoding: 'utf8' });
      if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
      const capture = values.capture === 'triggers' ? ['--capture', 'triggers'] : ['--fix-replica-identity']; // pgbench_history has no key
      const t0 = Date.now();
      const first = pgshift(['replicate', '--source', src, '--target', tgt, '--until-caught-up', ...capture]);
      if (first.code !== 0) throw new Error(`initial replicate failed: ${first.stderr}`);
      console.error(
        `scale ${scale}: initial copy + catch-up ${((Date.now() - t0) / 1000).toFixed(1)} s; pgbench -c ${values.clients} -R ${values.rate} while cutting over`,
      );
      const load = spawn(pgbenchBin(), [...args, '-c', values.clients!, '-j', '2', '-T', '900', '-R', values.rate!, '-n', db], { env, stdio: 'ignore' });
      await sleep(Number(values.warmup) * 1000);
      const size = await (async () => {
        const c = await connect(parseConnectionUrl(src, 'source'));
        const { rows: r } = await c.query(`SELECT pg_database_size(current_database())::float8 AS b`);
        await c.end();
        return r[0].b as number;
      })();
      const cut = pgshift(['cutover', '--source', src, '--target', tgt, '--json', '--max-freeze', '120s', '--verify', values.verify!]);
      load.kill('SIGTERM');
      if (cut.code !== 0) {
        console.error(cut.stderr.slice(-3000));
        setExitCode(1);
      }
      const report = JSON.parse(cut.stdout);
      records.push({ scale, databaseBytes: size, capture: values.capture, clients: Number(values.clients), rate: Number(values.rate), report });
      const line = (report.timeline as Array<{ step: string; predictedSeconds: number | null; seconds: number }>)
        .map((s) => `${s.step} ${s.predictedSeconds?.toFixed(2) ?? '-'} / ${s.seconds.toFixed(2)}`)
        .join(' · ');
      rows.push(
        `| ${scale} | ${(size / 1024 ** 2).toFixed(0)} MB | ${values.capture} | ${line} | ${report.prediction?.totalSeconds.toFixed(2) ?? '-'} s | **${report.frozenSeconds?.toFixed(2)} s** | ${report.verdict} |`,
      );
      console.error(rows.at(-1));
      pgshift(['cutover', '--source', src, '--target', tgt, '--abort']);
      pgshift(['cleanup', '--source', src, '--target', tgt, '--force']);
    }
    const date = new Date().toISOString();
    mkdirSync(values.out!, { recursive: true });
    const file = `${values.out}cutover-${date.slice(0, 10)}-s${values.scales!.replace(/,/g, '_')}-${values.capture}-verify-${values.verify}.json`;
    writeFileSync(file, JSON.stringify({ date, cpus: cpus().length, embedded: servers.embedded, footing: 'durable', records }, null, 2));
    console.log('| pgbench scale | database | capture | step: predicted / measured s | predicted freeze | frozen | verdict |');
    console.log('|---:|---:|---|---|---:|---:|---|');
    for (const r of rows) console.log(r);
    console.error(`written ${file}`);
  } finally {
    await servers.stop();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  setExitCode(1);
});
