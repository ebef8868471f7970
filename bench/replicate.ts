// Apply speed of `pgshift replicate` against native logical replication (CREATE SUBSCRIPTION) on the same
// backlog: both subscribers have a slot on the same source before a pgbench workload runs (tpcb-like plus a
// wide-row upsert), neither consumes during it, then each drains the whole backlog alone and is timed.
// pgshift: `replicate --until-caught-up` under /usr/bin/time (client CPU, peak RSS). Native: the disabled
// subscription is enabled and timed until its slot's confirmed_flush_lsn reaches the source's WAL position at
// the end of the workload. Afterwards both targets are compared with the source (row counts and sums).
//
//   npm run bench:replicate -- --seconds 20 --scale 5
//   npm run bench:replicate -- --seconds 3 --scale 1 --live-seconds 5   # quick smoke run
//   --live-rate 0 skips the live-lag part (b): pgbench -R RATE for --live-seconds, one subscriber at a time.
//   --cpu-prof DIR writes a V8 CPU profile of the timed pgshift drain into DIR.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pickPgTools } from '../src/schema/pgdump.js';
import { runOne } from './proc.js';
import { nativeLiveLag, pgshiftLiveLag, type LagResult } from './replicate-live.js';
import { footingNote, setExitCode, startBenchServers, withDatabase, type Footing } from './servers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PGSHIFT_BIN = join(ROOT, 'bin', 'pgshift.js');
const SOURCE_DB = 'rbench_source';
const PGSHIFT_DB = 'rbench_pgshift';
const NATIVE_DB = 'rbench_native';
const SUB = 'rbench_native_sub';
const PUB = 'rbench_native_pub';
const TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history', 'rbench_wide'];

const log = (l: string) => process.stderr.write(`${l}\n`);

async function sql<T extends Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url, application_name: 'pgshift-bench' });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

function pgBinary(name: string): string {
  for (const m of [17, 16, 15]) {
    const p = `/usr/lib/postgresql/${m}/bin/${name}`;
    if (existsSync(p)) return p;
  }
  return name;
}

/** libpq keyword string for CREATE SUBSCRIPTION (the target server connects to the source). */
function conninfo(url: string): string {
  const u = new URL(url);
  const q = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `host=${q(u.hostname)} port=${q(u.port || '5432')} user=${q(decodeURIComponent(u.username))} password=${q(decodeURIComponent(u.password))} dbname=${q(u.pathname.slice(1))} sslmode=disable`;
}

async function lsnDiff(url: string, a: string, b: string): Promise<number> {
  const r = await sql<{ d: string }>(url, `SELECT pg_wal_lsn_diff('${b}', '${a}')::bigint AS d`);
  return Number(r[0]!.d);
}

/** Row-level changes on the source since the stats were reset (inserts + updates + deletes, user tables). */
async function sourceChanges(url: string): Promise<number> {
  const r = await sql<{ n: string }>(url, `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS n FROM pg_stat_user_tables`);
  return Number(r[0]!.n);
}

/** What must match on a target after the drain: counts and sums that every applied change moves. */
async function fingerprint(url: string): Promise<string> {
  const r = await sql<{ f: string }>(
    url,
    `SELECT concat_ws(' ',
       (SELECT count(*) || '/' || sum(abalance) FROM pgbench_accounts),
       (SELECT count(*) || '/' || sum(bbalance) FROM pgbench_branches),
       (SELECT count(*) || '/' || sum(tbalance) FROM pgbench_tellers),
       (SELECT count(*) || '/' || coalesce(sum(delta), 0) FROM pgbench_history),
       (SELECT count(*) || '/' || coalesce(sum(n), 0) || '/' || coalesce(sum(length(payload)), 0) FROM rbench_wide)) AS f`,
  );
  return r[0]!.f;
}

const WIDE_SCRIPT = `\\set id random(1, 20000)
INSERT INTO rbench_wide (id, n, payload) VALUES (:id, 1, repeat(md5(random()::text), 40))
  ON CONFLICT (id) DO UPDATE SET n = rbench_wide.n + 1, payload = excluded.payload, touched = now();
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '20' },
      scale: { type: 'string', default: '5' },
      clients: { type: 'string', default: '2' },
      'live-rate': { type: 'string', default: '100' },
      'live-seconds': { type: 'string', default: '15' },
      'durable-servers': { type: 'boolean', default: false },
      // Writes a V8 CPU profile of the timed drain (open it in Chrome DevTools or speedscope).
      'cpu-prof': { type: 'string' },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    },
  });
  const seconds = Number(values.seconds);
  const scale = Number(values.scale);
  const clients = Number(values.clients);
  const footing: Footing = values['durable-servers'] ? 'durable' : 'fast';
  const work = mkdtempSync(join(tmpdir(), 'pgshift-rbench-'));
  const logFile = join(work, 'pgshift.log');
  const servers = await startBenchServers({ label: 'pgshift-rbench', log, footing });
  try {
    const srcAdmin = servers.sourceAdmin;
    const dstAdmin = servers.targetAdmin;
    const source = withDatabase(srcAdmin, SOURCE_DB);
    const pgTarget = withDatabase(dstAdmin, PGSHIFT_DB);
    const nativeTarget = withDatabase(dstAdmin, NATIVE_DB);
    await sql(srcAdmin, `CREATE DATABASE ${SOURCE_DB}`);
    await sql(dstAdmin, `CREATE DATABASE ${PGSHIFT_DB}`);
    await sql(dstAdmin, `CREATE DATABASE ${NATIVE_DB}`);
    const tools = pickPgTools(15);
    const psql = join(tools.dir, 'psql');
    const pgbench = pgBinary('pgbench');

    log(`setup: pgbench -i -s ${scale} and a wide-row table`);
    execFileSync(pgbench, ['-i', '-q', '-s', String(scale), source], { stdio: ['ignore', 'ignore', 'inherit'] });
    await sql(source, `CREATE TABLE rbench_wide (id int PRIMARY KEY, n int NOT NULL, payload text NOT NULL, touched timestamptz NOT NULL DEFAULT now())`);

    log('setup: pgshift initial copy (replicate --until-caught-up creates the slot and copies)');
    const pgshiftArgs = ['replicate', '--source', source, '--target', pgTarget, '--until-caught-up', '--fix-replica-identity', '--json'];
    const first = await runOne({ bin: process.execPath, args: [PGSHIFT_BIN, ...pgshiftArgs] }, { logFile });
    log(`setup: initial copy done in ${first.seconds.toFixed(1)} s`);

    log('setup: native target (pg_dump | psql), publication, disabled subscription with copy_data=false');
    // No writes happen between the dump and the subscription's slot, so the two agree.
    const dump = execFileSync(tools.pgDump, ['--no-owner', '--no-acl', '-d', source], { maxBuffer: 1 << 30 });
    execFileSync(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', nativeTarget], { input: dump, stdio: ['pipe', 'ignore', 'inherit'] });
    await sql(source, `CREATE PUBLICATION ${PUB} FOR TABLE ${TABLES.join(', ')}`);
    await sql(
      nativeTarget,
      `CREATE SUBSCRIPTION ${SUB} CONNECTION '${conninfo(source).replace(/'/g, "''")}' PUBLICATION ${PUB} WITH (copy_data = false, enabled = false)`,
    );

    await sql(source, 'SELECT pg_stat_reset()');
    const startLsn = (await sql<{ l: string }>(source, 'SELECT pg_current_wal_lsn()::text AS l'))[0]!.l;
    const wideFile = join(work, 'wide.sql');
    writeFileSync(wideFile, WIDE_SCRIPT);
    log(`workload: pgbench -T ${seconds} -c ${clients} (tpcb-like@9, wide-row upsert@1); nobody consumes the slots`);
    const bench = execFileSync(
      pgbench,
      ['-n', '-T', String(seconds), '-c', String(clients), '-j', String(clients), '-b', 'tpcb-like@9', '-f', `${wideFile}@1`, source],
      { encoding: 'utf8' },
    );
    const txMatch = /number of transactions actually processed: (\d+)/.exec(bench);
    const transactions = txMatch ? Number(txMatch[1]) : undefined;
    const endLsn = (await sql<{ l: string }>(source, 'SELECT pg_current_wal_lsn()::text AS l'))[0]!.l;
    const walBytes = await lsnDiff(source, startLsn, endLsn);
    await new Promise((r) => setTimeout(r, 1500)); // cumulative statistics are flushed about once a second
    const statChanges = await sourceChanges(source);
    const sourceFp = await fingerprint(source);
    log(`workload: ${transactions} transactions, ${statChanges} row changes, ${(walBytes / 2 ** 20).toFixed(1)} MiB of WAL (${startLsn} → ${endLsn})`);

    const load = { before: loadavg() };
    log('drain: pgshift replicate --until-caught-up');
    const prof = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];
    const p = await runOne({ bin: process.execPath, args: [...prof, PGSHIFT_BIN, ...pgshiftArgs] }, { logFile });
    const reported = JSON.parse(p.stdout) as { ok: boolean; slot: string; changes: number; transactions: number; seconds: number; appliedLsn: string };
    if (!reported.ok) throw new Error(`pgshift replicate reported ok=false (see ${logFile})`);
    log(
      `drain: pgshift ${p.seconds.toFixed(2)} s wall, ${reported.changes} changes, cpu ${p.cpuSeconds?.toFixed(2)} s, rss ${((p.peakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`,
    );

    log('drain: native subscription ENABLE');
    const t0 = process.hrtime.bigint();
    await sql(nativeTarget, `ALTER SUBSCRIPTION ${SUB} ENABLE`);
    let nativeSeconds = 0;
    for (;;) {
      const r = await sql<{ ok: boolean }>(
        source,
        `SELECT coalesce(confirmed_flush_lsn >= '${endLsn}', false) AS ok FROM pg_replication_slots WHERE slot_name = '${SUB}'`,
      );
      nativeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (r[0]?.ok) break;
      if (nativeSeconds > 3600) throw new Error('native subscription did not catch up within an hour');
      await new Promise((res) => setTimeout(res, 50));
    }
    const loadAfter = loadavg();
    log(`drain: native ${nativeSeconds.toFixed(2)} s`);

    // The same command with nothing to apply: start-up, catch-up check and finish, paid once per run.
    const idleLog = join(work, 'idle.log');
    const idle = await runOne({ bin: process.execPath, args: [PGSHIFT_BIN, ...pgshiftArgs, '--log-level', 'debug'] }, { logFile: idleLog });
    log(`idle: pgshift replicate --until-caught-up with an empty backlog: ${idle.seconds.toFixed(2)} s`);
    // Where that fixed cost goes: the run's own step timings (ms since replicate() began, after start-up).
    const steps = readFileSync(idleLog, 'utf8')
      .split('\n')
      .flatMap((l) => {
        const m = /"ms":(\d+),"msg":"replicate: ([^"]+)"/.exec(l);
        return m ? [`${m[1]} ms ${m[2]}`] : [];
      });
    if (steps.length) log(`idle steps: ${steps.join(' · ')}`);

    const pgFp = await fingerprint(pgTarget);
    const nativeFp = await fingerprint(nativeTarget);
    const verified = { source: sourceFp, pgshift: pgFp, native: nativeFp, pgshiftMatches: pgFp === sourceFp, nativeMatches: nativeFp === sourceFp };
    if (!verified.pgshiftMatches || !verified.nativeMatches) log(`verify: MISMATCH ${JSON.stringify(verified)}`);
    // (b) live lag at a fixed write rate, one subscriber at a time, the other's slot idle (the drain is verified
    // above; the live writes are not compared).
    const liveRate = Number(values['live-rate']);
    const live: LagResult[] = [];
    if (liveRate > 0) {
      await sql(nativeTarget, `ALTER SUBSCRIPTION ${SUB} DISABLE`);
      const lo = { source, pgbench, scripts: ['-b', 'tpcb-like@9', '-f', `${wideFile}@1`], rate: liveRate, seconds: Number(values['live-seconds']), clients };
      const streamArgs = ['replicate', '--source', source, '--target', pgTarget];
      log(`live: pgbench -R ${liveRate} -T ${lo.seconds} while pgshift replicate streams`);
      live.push(await pgshiftLiveLag(lo, PGSHIFT_BIN, streamArgs, reported.slot));
      log(`live: pgbench -R ${liveRate} -T ${lo.seconds} while the native subscription streams`);
      live.push(await nativeLiveLag(lo, nativeTarget, SUB));
      for (const l of live)
        log(
          `live: ${l.subscriber}: lag max ${l.maxLagSeconds.toFixed(2)} s, p95 ${l.p95LagSeconds.toFixed(2)} s, mean ${l.meanLagSeconds.toFixed(2)} s (${l.samples} samples, ${l.transactions} tx)`,
        );
    }

    await sql(nativeTarget, `ALTER SUBSCRIPTION ${SUB} DISABLE`);
    await sql(nativeTarget, `ALTER SUBSCRIPTION ${SUB} SET (slot_name = NONE)`);
    await sql(nativeTarget, `DROP SUBSCRIPTION ${SUB}`);
    await sql(source, `SELECT pg_drop_replication_slot('${SUB}')`);

    const changes = reported.changes;
    const record = {
      at: new Date().toISOString(),
      command: `npm run bench:replicate -- --seconds ${seconds} --scale ${scale} --clients ${clients}${footing === 'durable' ? ' --durable-servers' : ''}`,
      machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), loadavgBefore: load.before, loadavgAfter: loadAfter },
      servers: `${footingNote(footing)} Source PostgreSQL 15 (wal_level=logical), target PostgreSQL ${servers.targets[0]!.major}; both subscribers apply into databases on the same target server, one after the other.`,
      workload: {
        pgbenchScale: scale,
        seconds,
        clients,
        script: 'tpcb-like@9 + wide-row upsert (~1.3 kB text)@1',
        transactions,
        rowChanges: statChanges,
        walBytes,
        startLsn,
        endLsn,
      },
      pgshift: {
        command: 'pgshift replicate --source $SOURCE --target $TARGET --until-caught-up --fix-replica-identity --json',
        wallSeconds: p.seconds,
        reportedSeconds: reported.seconds,
        changes,
        transactions: reported.transactions,
        changesPerSecond: changes / p.seconds,
        cpuSeconds: p.cpuSeconds,
        peakRssBytes: p.peakRssBytes,
        idleRunSeconds: idle.seconds,
      },
      native: {
        command: `CREATE SUBSCRIPTION … WITH (copy_data = false, enabled = false); after the workload ALTER SUBSCRIPTION … ENABLE, timed until confirmed_flush_lsn >= ${endLsn}`,
        wallSeconds: nativeSeconds,
        changesPerSecond: changes / nativeSeconds,
      },
      ratio: nativeSeconds / p.seconds,
      live:
        liveRate > 0
          ? {
              ratePerSecond: liveRate,
              seconds: Number(values['live-seconds']),
              method: 'source-side: age of the oldest unconfirmed source WAL position, sampled every 200 ms',
              results: live,
            }
          : null,
      verified,
    };
    mkdirSync(values.out!, { recursive: true });
    const file = join(values.out!, `replicate-${record.at.slice(0, 16).replace(/[:T]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
    log(
      [
        '',
        '| subscriber | wall s | changes/s | client CPU s | peak RSS |',
        '|---|---:|---:|---:|---:|',
        `| pgshift replicate | ${p.seconds.toFixed(2)} | ${Math.round(changes / p.seconds).toLocaleString('en-US')} | ${p.cpuSeconds?.toFixed(2) ?? '—'} | ${((p.peakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB |`,
        `| native subscription | ${nativeSeconds.toFixed(2)} | ${Math.round(changes / nativeSeconds).toLocaleString('en-US')} | (server) | (server) |`,
        '',
        ...live.map(
          (l) =>
            `live lag at ${liveRate} tx/s, ${l.subscriber}: max ${l.maxLagSeconds.toFixed(2)} s, p95 ${l.p95LagSeconds.toFixed(2)} s, mean ${l.meanLagSeconds.toFixed(2)} s`,
        ),
        `pgshift with nothing to apply (fixed cost of one run): ${idle.seconds.toFixed(2)} s`,
        `pgshift/native speed: ${record.ratio.toFixed(2)}×; verified: pgshift ${verified.pgshiftMatches}, native ${verified.nativeMatches}`,
        `results: ${file}`,
      ].join('\n'),
    );
    if (!verified.pgshiftMatches || !verified.nativeMatches) setExitCode(1);
  } finally {
    await servers.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  log(`bench:replicate: ${(err as Error).stack ?? String(err)}`);
  setExitCode(1);
});
