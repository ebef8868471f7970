// One large transaction (default: 1 M inserts, then 500 k updates of the rows it inserted) replicated by
// pgshift with streaming of in-progress transactions (the default), pgshift --no-stream-large-tx, and native
// subscriptions with streaming = off and streaming = parallel. Each subscriber gets its own source database,
// slot and target database and is connected and idle before the transaction starts; the transaction then runs
// on the source and the bench measures:
//   - apply after commit: from the source's COMMIT returning until the transaction's last row is visible on the
//     target (a marker row written last, polled by key every 50 ms);
//   - source spill: pg_stat_replication_slots (spill_bytes, stream_bytes) of the subscriber's slot;
//   - pgshift's client CPU and peak RSS over the whole run (idle, during the transaction, after it; /usr/bin/time).
// Every target is compared with its source (count and sums) at the end.
//
//   npm run bench:large-tx                          # durable PG15 → PG17, 1 M inserts + 500 k updates
//   npm run bench:large-tx -- --rows 200000         # reduced size
//   npm run bench:large-tx -- --variants pgshift,native-off --fast-servers
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runOne, TIME_BIN } from './proc.js';
import { conninfo, footingNote, setExitCode, sql, startBenchServers, withDatabase, type Footing } from './servers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PGSHIFT_BIN = join(ROOT, 'bin', 'pgshift.js');
const log = (l: string) => process.stderr.write(`${l}\n`);

type Variant = 'pgshift' | 'pgshift-no-stream' | 'native-off' | 'native-parallel';
const ALL: Variant[] = ['pgshift', 'pgshift-no-stream', 'native-off', 'native-parallel'];
const LABEL: Record<Variant, string> = {
  pgshift: 'pgshift replicate (streams in-progress transactions)',
  'pgshift-no-stream': 'pgshift replicate --no-stream-large-tx',
  'native-off': 'native subscription, streaming = off',
  'native-parallel': 'native subscription, streaming = parallel',
};

const TABLE = `CREATE TABLE ltx (id bigint PRIMARY KEY, n integer NOT NULL, v text NOT NULL)`;

interface Result {
  variant: Variant;
  label: string;
  transactionSeconds: number;
  applyAfterCommitSeconds: number;
  spillBytes: number;
  streamBytes: number;
  totalBytes: number;
  cpuSeconds?: number;
  peakRssBytes?: number;
  matches: boolean;
}

/** pgshift replicate in the background under /usr/bin/time (CPU and peak RSS at its end). */
function startPgshift(args: string[], logFile: string): { stop: () => Promise<{ cpuSeconds?: number; peakRssBytes?: number; code: number | null }> } {
  const timeFile = join(tmpdir(), `ltx-time-${process.pid}-${Date.now()}.txt`);
  const useTime = existsSync(TIME_BIN);
  const cmd = useTime ? [TIME_BIN, '-f', 'rusage %U %S %M', '-o', timeFile, process.execPath, PGSHIFT_BIN, ...args] : [process.execPath, PGSHIFT_BIN, ...args];
  const out = { text: '' };
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d) => (out.text += d));
  const done = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    stop: async () => {
      // SIGINT to pgshift itself (time's child): the run stops gracefully (exit 130), time writes its record.
      const pid = useTime ? Number(await childPid(child.pid!)) : child.pid!;
      process.kill(pid, 'SIGINT');
      const code = await done;
      writeFileSync(logFile, out.text, { flag: 'a' });
      if (!useTime) return { code };
      const m = /rusage ([\d.]+) ([\d.]+) (\d+)/.exec(readFileSync(timeFile, 'utf8'));
      rmSync(timeFile, { force: true });
      return { code, ...(m ? { cpuSeconds: Number(m[1]) + Number(m[2]), peakRssBytes: Number(m[3]) * 1024 } : {}) };
    },
  };
}

async function childPid(pid: number): Promise<string> {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
  if (!kids[0]) throw new Error('pgshift is not running under /usr/bin/time');
  return kids[0];
}

async function waitUntil(what: string, fn: () => Promise<boolean>, ms = 3_600_000, every = 50): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (;;) {
    if (await fn().catch(() => false)) return Number(process.hrtime.bigint() - t0) / 1e9;
    if (Number(process.hrtime.bigint() - t0) / 1e6 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

async function fingerprint(url: string): Promise<string> {
  const r = await sql<{ f: string }>(url, `SELECT count(*) || '/' || coalesce(sum(n), 0) || '/' || coalesce(sum(length(v)), 0) AS f FROM ltx`);
  return r[0]!.f;
}

/** --trace: once a second, how far the walsender has sent and how large the target's table is. */
function startTrace(variant: Variant, source: string, target: string, slot: string): () => void {
  let on = true;
  const t0 = Date.now();
  void (async () => {
    while (on) {
      const [s] = await sql<{ behind: string }>(
        source,
        `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint::text AS behind FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = '${slot}'`,
      ).catch(() => []);
      const [t] = await sql<{ b: string }>(target, `SELECT pg_relation_size('ltx')::text AS b`).catch(() => []);
      log(
        `  trace ${variant} +${((Date.now() - t0) / 1000).toFixed(0)}s: walsender ${(Number(s?.behind ?? 0) / 2 ** 20).toFixed(0)} MiB behind the source's WAL, target table ${(Number(t?.b ?? 0) / 2 ** 20).toFixed(0)} MiB`,
      );
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  return () => (on = false);
}

let TRACE = false;

async function runVariant(variant: Variant, srcAdmin: string, dstAdmin: string, rows: number, work: string): Promise<Result> {
  const db = `ltx_${variant.replace(/-/g, '_')}`;
  const slot = `${db}_slot`;
  await sql(srcAdmin, `CREATE DATABASE ${db}`);
  await sql(dstAdmin, `CREATE DATABASE ${db}`);
  const source = withDatabase(srcAdmin, db);
  const target = withDatabase(dstAdmin, db);
  await sql(source, TABLE);
  const logFile = join(work, `${variant}.log`);
  let pgshift: ReturnType<typeof startPgshift> | undefined;
  const extra = variant === 'pgshift-no-stream' ? ['--no-stream-large-tx'] : [];
  if (variant.startsWith('pgshift')) {
    const base = ['replicate', '--source', source, '--target', target, '--slot', slot, ...extra];
    await runOne({ bin: process.execPath, args: [PGSHIFT_BIN, ...base, '--until-caught-up', '--no-refresh-matviews'] }, { logFile });
    pgshift = startPgshift([...base, '--status-interval', '10'], logFile);
    await waitUntil(
      'pgshift streaming',
      async () => (await sql<{ a: boolean }>(source, `SELECT active AS a FROM pg_replication_slots WHERE slot_name = '${slot}'`))[0]?.a === true,
      120_000,
    );
  } else {
    await sql(target, TABLE);
    await sql(source, `CREATE PUBLICATION ${db}_pub FOR TABLE ltx`);
    const streaming = variant === 'native-off' ? 'off' : 'parallel';
    await sql(
      target,
      `CREATE SUBSCRIPTION ${db}_sub CONNECTION '${conninfo(source).replace(/'/g, "''")}' PUBLICATION ${db}_pub WITH (copy_data = false, slot_name = '${slot}', streaming = ${streaming})`,
    );
    await waitUntil(
      'the subscription streaming',
      async () => (await sql<{ a: boolean }>(source, `SELECT active AS a FROM pg_replication_slots WHERE slot_name = '${slot}'`))[0]?.a === true,
      120_000,
    );
  }
  await sql(source, `SELECT pg_stat_reset_replication_slot('${slot}')`);
  log(`${variant}: subscriber connected; one transaction: ${rows} inserts, ${rows / 2} updates`);
  const c = new pg.Client({ connectionString: source, application_name: 'pgshift-bench' });
  await c.connect();
  const stopTrace = TRACE ? startTrace(variant, source, target, slot) : () => undefined;
  const t0 = process.hrtime.bigint();
  try {
    await c.query('BEGIN');
    await c.query(`INSERT INTO ltx SELECT g, g, md5(g::text) FROM generate_series(1, ${rows}) g`);
    await c.query(`UPDATE ltx SET n = n + 1, v = v || 'u' WHERE id % 2 = 0`);
    await c.query(`INSERT INTO ltx VALUES (-1, 0, 'marker')`);
    await c.query('COMMIT');
  } finally {
    await c.end();
  }
  const committed = process.hrtime.bigint();
  const transactionSeconds = Number(committed - t0) / 1e9;
  await waitUntil('the transaction on the target', async () => (await sql(target, `SELECT 1 FROM ltx WHERE id = -1`)).length > 0);
  const applyAfterCommitSeconds = Number(process.hrtime.bigint() - committed) / 1e9;
  stopTrace();
  log(`${variant}: transaction ${transactionSeconds.toFixed(1)} s on the source; applied ${applyAfterCommitSeconds.toFixed(1)} s after its commit`);
  await new Promise((r) => setTimeout(r, 1500)); // slot statistics are flushed about once a second
  const st = (
    await sql<{ spill: string; stream: string; total: string }>(
      source,
      `SELECT spill_bytes::text AS spill, stream_bytes::text AS stream, total_bytes::text AS total FROM pg_stat_replication_slots WHERE slot_name = '${slot}'`,
    )
  )[0];
  const usage: { cpuSeconds?: number; peakRssBytes?: number } = pgshift ? await pgshift.stop() : {};
  const [fs, ft] = [await fingerprint(source), await fingerprint(target)];
  if (pgshift) {
    await runOne({ bin: process.execPath, args: [PGSHIFT_BIN, 'cleanup', '--source', source, '--target', target] }, { logFile });
  } else {
    await sql(target, `DROP SUBSCRIPTION ${db}_sub`);
  }
  await sql(srcAdmin, `DROP DATABASE ${db}`);
  await sql(dstAdmin, `DROP DATABASE ${db}`);
  return {
    variant,
    label: LABEL[variant],
    transactionSeconds,
    applyAfterCommitSeconds,
    spillBytes: Number(st?.spill ?? 0),
    streamBytes: Number(st?.stream ?? 0),
    totalBytes: Number(st?.total ?? 0),
    cpuSeconds: usage.cpuSeconds,
    peakRssBytes: usage.peakRssBytes,
    matches: fs === ft,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      variants: { type: 'string', default: ALL.join(',') },
      'fast-servers': { type: 'boolean', default: false },
      trace: { type: 'boolean', default: false },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    },
  });
  const rows = Number(values.rows);
  TRACE = values.trace === true;
  const variants = values.variants!.split(',') as Variant[];
  for (const v of variants) if (!ALL.includes(v)) throw new Error(`unknown variant ${v} (${ALL.join(', ')})`);
  const footing: Footing = values['fast-servers'] ? 'fast' : 'durable';
  const work = mkdtempSync(join(tmpdir(), 'pgshift-ltx-'));
  const servers = await startBenchServers({ label: 'pgshift-ltx', log, footing });
  const results: Result[] = [];
  try {
    for (const v of variants) results.push(await runVariant(v, servers.sourceAdmin, servers.targetAdmin, rows, work));
    const mib = (b: number | undefined) => (b === undefined ? '—' : `${(b / 2 ** 20).toFixed(0)} MiB`);
    const record = {
      at: new Date().toISOString(),
      command: `npm run bench:large-tx -- --rows ${rows}${footing === 'fast' ? ' --fast-servers' : ''}`,
      machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), loadavg: loadavg() },
      servers: `${footingNote(footing)} Source PostgreSQL 15 (wal_level=logical, logical_decoding_work_mem=64MB default), target PostgreSQL ${servers.targets[0]!.major}.`,
      workload: `one transaction: INSERT of ${rows} rows (bigint key, int, 32-character text), UPDATE of the ${rows / 2} even ones, a marker row`,
      results,
    };
    mkdirSync(values.out!, { recursive: true });
    const file = join(values.out!, `large-tx-${record.at.slice(0, 16).replace(/[:T]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
    log(
      [
        '',
        `| subscriber | apply after commit s | source spill | streamed | client CPU s | peak RSS | identical |`,
        '|---|---:|---:|---:|---:|---:|---|',
        ...results.map(
          (r) =>
            `| ${r.label} | ${r.applyAfterCommitSeconds.toFixed(1)} | ${mib(r.spillBytes)} | ${mib(r.streamBytes)} | ${r.cpuSeconds?.toFixed(1) ?? '(server)'} | ${r.peakRssBytes === undefined ? '(server)' : mib(r.peakRssBytes)} | ${r.matches ? 'yes' : 'NO'} |`,
        ),
        '',
        `results: ${file}`,
      ].join('\n'),
    );
    if (results.some((r) => !r.matches)) setExitCode(1);
  } finally {
    await servers.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  log(`bench:large-tx failed: ${err instanceof Error ? err.stack : String(err)}`);
  setExitCode(1);
});
