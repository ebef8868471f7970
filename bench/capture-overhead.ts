// The cost of trigger capture on the source's write path, and how fast its backlog is applied.
//
//   npm run build && node dist/bench/capture-overhead.js [--scale 10] [--seconds 20] [--rounds 3] [--clients 4]
//   node dist/bench/capture-overhead.js --source-admin URL --target-admin URL
//
// (1) pgbench tpcb-like on the source, rounds interleaving three variants on the same server in the same run:
//     none (no capture), keys (what pgshift installs: primary keys only, re-read at apply time) and images (the
//     alternative: the whole old and new row text of every change). Median TPS per variant.
// (2) backlog drain: pgshift replicate --capture triggers copies the database, pgbench writes for --seconds
//     while nothing applies, then a --until-caught-up run applies the backlog: changes/s.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConnectionUrl } from '../src/config.js';
import { connect } from '../src/db/connect.js';
import { listTables, type TableInfo } from '../src/catalog/tables.js';
import { silentLogger } from '../src/log.js';
import { installCapture, removeCapture } from '../src/replicate/triggers/source.js';
import { replicate, type CaptureSummary } from '../src/replicate/index.js';
import { setExitCode, startBenchServers, withDatabase } from './servers.js';

const DB = 'pgshift_capture_bench';
const TARGET_DB = 'pgshift_capture_bench_target';

function pgbenchBin(): string {
  for (const p of ['/usr/lib/postgresql/17/bin/pgbench', '/usr/lib/postgresql/15/bin/pgbench']) if (existsSync(p)) return p;
  return 'pgbench';
}

function libpqArgs(url: string): { args: string[]; db: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  return {
    args: ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username)],
    db: decodeURIComponent(u.pathname.slice(1)),
    env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password), PGSSLMODE: u.searchParams.get('sslmode') ?? 'prefer' },
  };
}

function pgbench(url: string, extra: string[]): string {
  const { args, db, env } = libpqArgs(url);
  const r = spawnSync(pgbenchBin(), [...args, ...extra, db], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pgbench ${extra.join(' ')} failed: ${r.stderr}`);
  return r.stdout + r.stderr;
}

function tps(out: string): number {
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  if (!m) throw new Error(`no tps in pgbench output:\n${out}`);
  return Number(m[1]);
}

async function sql(url: string, text: string): Promise<void> {
  const c = await connect(parseConnectionUrl(url, 'source'));
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

type Variant = 'none' | 'keys' | 'images';

async function install(url: string, variant: Variant): Promise<void> {
  const c = await connect(parseConnectionUrl(url, 'source'));
  try {
    await removeCapture(c, silentLogger);
    if (variant === 'none') return;
    await c.query(`SET search_path = pg_catalog`);
    let tables: TableInfo[] = (await listTables(c)).filter((t) => t.relkind === 'r');
    // "images": the same triggers, logging whole rows instead of keys (how tables without a key are logged).
    if (variant === 'images') tables = tables.map((t) => ({ ...t, primaryKey: null }));
    await installCapture(c, tables, 'pgshift capture bench', silentLogger);
  } finally {
    await c.end();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '10' },
      seconds: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '3' },
      clients: { type: 'string', default: '4' },
      'source-admin': { type: 'string' },
      'target-admin': { type: 'string' },
      out: { type: 'string', default: fileURLToPath(new URL('../../bench/results/', import.meta.url)) },
    },
  });
  const seconds = Number(values.seconds);
  const clients = Number(values.clients);
  const servers = await startBenchServers({
    sourceAdmin: values['source-admin'],
    targetAdmin: values['target-admin'],
    label: 'pgshift-capture-bench',
    log: (l) => console.error(l),
  });
  try {
    await sql(servers.sourceAdmin, `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await sql(servers.sourceAdmin, `CREATE DATABASE ${DB}`);
    const src = withDatabase(servers.sourceAdmin, DB);
    console.error(`pgbench -i -s ${values.scale} (${pgbenchBin()})`);
    pgbench(src, ['-i', '-q', '-s', values.scale!]);
    // (1) overhead on the write path
    const results: Record<Variant, number[]> = { none: [], keys: [], images: [] };
    for (let round = 0; round < Number(values.rounds); round++) {
      // The order rotates every round: whatever the previous run left behind (dirty pages, autovacuum) falls on
      // each variant in turn.
      const order = (['none', 'keys', 'images'] as Variant[]).map((_, i, a) => a[(i + round) % a.length]!);
      for (const v of order) {
        await install(src, v);
        await sql(src, 'CHECKPOINT');
        const t = tps(pgbench(src, ['-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-M', 'prepared', '-n']));
        results[v].push(t);
        console.error(`round ${round + 1}: ${v.padEnd(6)} ${t.toFixed(0)} tps`);
      }
    }
    await install(src, 'none');
    const base = median(results.none);
    const overhead = (v: Variant) => (1 - median(results[v]) / base) * 100;
    // (2) backlog drain through pgshift
    await sql(servers.targetAdmin, `DROP DATABASE IF EXISTS ${TARGET_DB} WITH (FORCE)`);
    await sql(servers.targetAdmin, `CREATE DATABASE ${TARGET_DB}`);
    const tgt = withDatabase(servers.targetAdmin, TARGET_DB);
    const spec = (u: string, side: 'source' | 'target') => parseConnectionUrl(u, side);
    const opts = {
      capture: 'triggers' as const,
      jobs: 2,
      indexJobs: 1,
      splitBytes: 512 * 1024 * 1024,
      filter: {},
      logger: silentLogger,
      signal: new AbortController().signal,
    };
    await replicate(spec(src, 'source'), spec(tgt, 'target'), { ...opts, untilCaughtUp: true });
    const backlogTps = tps(pgbench(src, ['-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-M', 'prepared', '-n']));
    const t0 = Date.now();
    const drain = (await replicate(spec(src, 'source'), spec(tgt, 'target'), { ...opts, untilCaughtUp: true })) as CaptureSummary;
    const drainSeconds = (Date.now() - t0) / 1000;
    const c = await connect(spec(src, 'source'));
    await removeCapture(c, silentLogger);
    await c.end();

    const record = {
      date: new Date().toISOString(),
      cpus: cpus().length,
      embedded: servers.embedded,
      scale: Number(values.scale),
      clients,
      seconds,
      tps: results,
      medianTps: { none: base, keys: median(results.keys), images: median(results.images) },
      overheadPercent: { keys: overhead('keys'), images: overhead('images') },
      backlog: {
        pgbenchTps: backlogTps,
        changes: drain.changes,
        batches: drain.transactions,
        rowsWritten: drain.rowsWritten,
        seconds: drainSeconds,
        changesPerSecond: drain.changes / drainSeconds,
      },
    };
    mkdirSync(values.out!, { recursive: true });
    const file = `${values.out}capture-${record.date.slice(0, 10)}.json`;
    writeFileSync(file, JSON.stringify(record, null, 2));
    console.log(`| variant | median tps | vs none |\n|---|---:|---:|`);
    for (const v of ['none', 'keys', 'images'] as Variant[])
      console.log(`| ${v} | ${median(results[v]).toFixed(0)} | ${v === 'none' ? '—' : `−${overhead(v).toFixed(1)} %`} |`);
    console.log(
      `\nbacklog: ${drain.changes} changes from ${seconds}s of pgbench (${backlogTps.toFixed(0)} tps) applied in ${drainSeconds.toFixed(1)} s = ${(drain.changes / drainSeconds).toFixed(0)} changes/s (${drain.transactions} batches)`,
    );
    console.error(`written ${file}`);
    void execFileSync;
  } finally {
    await servers.stop();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  setExitCode(1);
});
