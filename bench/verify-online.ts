// Online verify under load (#24 item 5): a `pgshift replicate` runs while pgbench writes at a fixed rate; an
// online verify (`verify --online`) is timed against an offline verify of the same data (writes stopped, the
// replication idle). Measured: wall times, the apply pause the verify reports, and the lag it caused — sampled
// from the target's state every 100 ms (seconds since the last applied source commit), before and during.
//
//   npm run bench:verify-online -- --scale 10 --rate 500
//   npm run bench:verify-online -- --scale 1 --rate 200 --capture pgoutput   # quick smoke run
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { footingNote, setExitCode, sql, startBenchServers, withDatabase, type Footing } from './servers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'pgshift.js');
const log = (l: string) => process.stderr.write(`${l}\n`);

function pgBinary(name: string): string {
  for (const m of [17, 16, 15]) {
    const p = `/usr/lib/postgresql/${m}/bin/${name}`;
    if (existsSync(p)) return p;
  }
  return name;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  const t = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr, seconds: (performance.now() - t) / 1000 }),
    );
  });
}

/** Seconds since the last source commit the target applied, every 100 ms until stopped. */
function lagSampler(target: string, table: string) {
  const samples: Array<{ t: number; lag: number }> = [];
  let stop = false;
  const c = new pg.Client({ connectionString: target, application_name: 'pgshift-bench-lag' });
  const done = (async () => {
    await c.connect();
    while (!stop) {
      const { rows } = await c.query(`SELECT extract(epoch FROM clock_timestamp() - applied_commit_time)::float8 AS s FROM ${table}`);
      samples.push({ t: performance.now(), lag: Math.max(0, Number(rows[0]?.s ?? 0)) });
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.end();
  })();
  const max = (from: number, to: number) => Math.max(0, ...samples.filter((s) => s.t >= from && s.t <= to).map((s) => s.lag));
  const mean = (from: number, to: number) => {
    const x = samples.filter((s) => s.t >= from && s.t <= to).map((s) => s.lag);
    return x.reduce((a, b) => a + b, 0) / Math.max(1, x.length);
  };
  return { max, mean, stop: async () => ((stop = true), await done) };
}

interface ModeResult {
  capture: 'pgoutput' | 'triggers';
  onlineSeconds: number;
  onlineExit: number;
  pauseMs: number | null;
  heldMs: number | null;
  alignMs: number | null;
  lagBeforeMeanSeconds: number;
  lagBeforeMaxSeconds: number;
  lagDuringMaxSeconds: number;
  lagAfterSeconds: number | null;
  offlineSeconds: number;
  offlineExit: number;
  pgbenchTps: number | null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '10' },
      rate: { type: 'string', default: '500' },
      clients: { type: 'string', default: '4' },
      capture: { type: 'string', default: 'both' },
      seconds: { type: 'string', default: '45' },
      'fast-servers': { type: 'boolean', default: false },
    },
  });
  const scale = Number(values.scale);
  const rate = Number(values.rate);
  const clients = Number(values.clients);
  const modes = values.capture === 'both' ? (['pgoutput', 'triggers'] as const) : [values.capture as 'pgoutput' | 'triggers'];
  const footing: Footing = values['fast-servers'] ? 'fast' : 'durable';
  const servers = await startBenchServers({ label: 'pgshift-vbench', log, footing });
  const results: ModeResult[] = [];
  try {
    const pgbench = pgBinary('pgbench');
    for (const capture of modes) {
      const srcDb = `vbench_src_${capture}`;
      const dstDb = `vbench_dst_${capture}`;
      await sql(servers.sourceAdmin, `CREATE DATABASE ${srcDb}`);
      await sql(servers.targetAdmin, `CREATE DATABASE ${dstDb}`);
      const source = withDatabase(servers.sourceAdmin, srcDb);
      const target = withDatabase(servers.targetAdmin, dstDb);
      log(`${capture}: pgbench -i -s ${scale}`);
      execFileSync(pgbench, ['-i', '-q', '-s', String(scale), source], { stdio: ['ignore', 'ignore', 'inherit'] });
      // Every replicated table needs a key (pgoutput) — pgbench_history has none.
      await sql(source, `ALTER TABLE pgbench_history ADD COLUMN hid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`);
      const extra = capture === 'triggers' ? ['--capture', 'triggers'] : [];
      const repl = spawn(process.execPath, [BIN, 'replicate', '--source', source, '--target', target, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
      let replErr = '';
      repl.stderr.on('data', (d) => (replErr = (replErr + d).slice(-4000)));
      const table = capture === 'pgoutput' ? 'pgshift.replication' : 'pgshift.capture';
      for (;;) {
        const r = await sql<{ ok: boolean }>(
          target,
          `SELECT to_regclass('${table}') IS NOT NULL AND (SELECT copy_done_at IS NOT NULL FROM ${table} WHERE id = 1) AS ok`,
        ).catch(() => [{ ok: false }]);
        if (r[0]?.ok) break;
        if (repl.exitCode !== null) throw new Error(`replicate ended: ${replErr}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      log(`${capture}: initial copy done; pgbench -R ${rate} -c ${clients} while verifying online`);
      const lag = lagSampler(target, table);
      const bench = new Promise<string>((resolve) =>
        execFile(pgbench, ['-n', '-T', String(values.seconds), '-R', String(rate), '-c', String(clients), '-j', String(clients), source], (_e, out) =>
          resolve(out),
        ),
      );
      await new Promise((r) => setTimeout(r, 8000));
      const before = performance.now();
      const online = await cli(['verify', '--source', source, '--target', target, '--online', '--json']);
      const after = performance.now();
      const j = JSON.parse(online.stdout || '{}');
      if (online.code !== 0) log(`${capture}: online verify exit ${online.code}: ${online.stderr.slice(-2000)}`);
      const benchOut = await bench;
      const tps = /tps = ([\d.]+)/.exec(benchOut);
      // Writes stopped: the replication finishes (sequences set), then the same data is verified offline.
      await lag.stop();
      repl.kill('SIGINT');
      await new Promise((r) => repl.on('close', r));
      const fin = await cli(['replicate', '--source', source, '--target', target, ...extra, '--until-caught-up', '--timeout', '300']);
      if (fin.code !== 0) log(`${capture}: replicate --until-caught-up exit ${fin.code}: ${fin.stderr.slice(-2000)}`);
      const offline = await cli(['verify', '--source', source, '--target', target, '--offline', '--json']);
      if (offline.code !== 0) log(`${capture}: offline verify exit ${offline.code}: ${offline.stderr.slice(-2000)}`);
      const r: ModeResult = {
        capture,
        onlineSeconds: Number(online.seconds.toFixed(2)),
        onlineExit: online.code,
        pauseMs: j.online?.pauseMs ?? null,
        heldMs: j.online?.heldMs ?? null,
        alignMs: j.online?.alignMs ?? null,
        lagBeforeMeanSeconds: Number(lag.mean(before - 5000, before).toFixed(3)),
        lagBeforeMaxSeconds: Number(lag.max(before - 5000, before).toFixed(3)),
        lagDuringMaxSeconds: Number(lag.max(before, after).toFixed(3)),
        lagAfterSeconds: j.online?.lagAfterSeconds ?? null,
        offlineSeconds: Number(offline.seconds.toFixed(2)),
        offlineExit: offline.code,
        pgbenchTps: tps ? Number(tps[1]) : null,
      };
      log(JSON.stringify(r));
      results.push(r);
      await cli(['cleanup', '--source', source, '--target', target, '--force']);
    }
    const out = { bench: 'verify-online', at: new Date().toISOString(), scale, rate, clients, cpus: cpus().length, footing: footingNote(footing), results };
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `verify-online-${out.at.replace(/[:.]/g, '').slice(0, 17)}.json`);
    writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
    log(`written ${file}`);
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    setExitCode(results.every((x) => x.onlineExit === 0 && x.offlineExit === 0) ? 0 : 1);
  } finally {
    await servers.stop();
  }
}

main().catch((err) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  setExitCode(1);
});
