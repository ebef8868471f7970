// Apply speed of `pgshift replicate` against native logical replication (CREATE SUBSCRIPTION) on the same
// backlog, per footing (issue #28): durable servers (default; --fast-servers for the CPU-only view), one PostgreSQL
// 15 source and one or more target majors (--targets 15,17: a native subscription on each), who pgshift connects as
// (--source-tls-owner: a Heroku-like owner role over TLS, with REPLICATION for pgoutput and without it for trigger
// capture; --target-nonsuper: an RDS-like owner role over TLS; the native subscription is created by the target's
// superuser and connects to the source as superuser: it needs both), and how pgshift reads changes (--modes
// pgoutput,triggers; --capture triggers = --modes triggers). Every subscriber has its start (slot, capture
// triggers) before a pgbench workload (tpcb-like plus a wide-row upsert) that nobody consumes; then each drains the
// whole backlog alone, timed: pgshift as `replicate --until-caught-up` under /usr/bin/time (client CPU, peak RSS),
// native from ALTER SUBSCRIPTION … ENABLE until its slot's confirmed_flush_lsn reaches the source's position at the
// end of the workload. The target server's WAL and commit counters are read around each drain. --rounds N repeats
// workload + drains (the order of the subscribers rotates) and reports medians. Afterwards every target is
// compared with the source (row counts, sums and row hashes); a mismatch exits 1.
//
//   npm run bench:replicate -- --seconds 20 --scale 5 --targets 15,17 --modes pgoutput,triggers --rounds 3
//   npm run bench:replicate -- --transactions 60000 …   # a fixed, longer backlog (throughput: start-up a small share)
//   Every round ends with a fixed-cost probe (--probe 0 to skip): a backlog of ONE transaction drained by every
//   subscriber the same way. Its time is the subscriber's fixed cost (process start, connect, preflight, finish;
//   native: the apply worker's start and first confirmation); the steady apply rate is
//   (changes of the backlog − changes of the probe) / (drain time − probe time), reported for both sides.
//   npm run bench:replicate -- --seconds 3 --scale 1 --live-rate 0        # quick smoke run
//   --live-rate R (default 0) adds a live-lag part: pgbench -R R for --live-seconds, one subscriber at a time.
//   --cpu-prof DIR writes a V8 CPU profile of every timed pgshift drain into DIR.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pickPgTools } from '../src/schema/pgdump.js';
import { roleNote, type RoleFooting } from './footing.js';
import { nativeLiveLag, pgshiftLiveLag, type LagResult } from './replicate-live.js';
import { log, RECV, Rig, type Drain, type Mode, type Workload } from './replicate-rig.js';
import { footingNote, setExitCode, startBenchServers, type Footing } from './servers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PGSHIFT_BIN = join(ROOT, 'bin', 'pgshift.js');

function pgBinary(name: string): string {
  for (const m of [17, 16, 15]) {
    const p = `/usr/lib/postgresql/${m}/bin/${name}`;
    if (existsSync(p)) return p;
  }
  return name;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Round {
  workload: Workload;
  drains: Drain[];
  /** The one-transaction backlog drained right after (fixed cost). */
  probe?: { workload: Workload; drains: Drain[] };
  loadavgBefore: number[];
  loadavgAfter: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '20' },
      transactions: { type: 'string' },
      probe: { type: 'string', default: '1' },
      scale: { type: 'string', default: '5' },
      clients: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '1' },
      targets: { type: 'string', default: '17' },
      modes: { type: 'string', default: 'pgoutput' },
      capture: { type: 'string' },
      'source-tls-owner': { type: 'boolean', default: false },
      'target-nonsuper': { type: 'boolean', default: false },
      'live-rate': { type: 'string', default: '0' },
      'live-seconds': { type: 'string', default: '15' },
      'fast-servers': { type: 'boolean', default: false },
      // Durable is the default now; kept so older commands still run.
      'durable-servers': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    },
  });
  const seconds = Number(values.seconds);
  const transactions = values.transactions !== undefined ? Number(values.transactions) : undefined;
  const probe = values.probe !== '0';
  const scale = Number(values.scale);
  const clients = Number(values.clients);
  const rounds = Math.max(1, Number(values.rounds));
  const majors = values.targets!.split(',').map((m) => Number(m.trim()) as 15 | 17);
  const modes = (values.capture ?? values.modes!).split(',').map((m) => m.trim()) as Mode[];
  for (const m of modes) if (m !== 'pgoutput' && m !== 'triggers') throw new Error(`--modes: unknown capture mode ${m} (pgoutput, triggers)`);
  const roles: RoleFooting = {
    ...(values['source-tls-owner'] ? { sourceOwner: { replication: modes.includes('pgoutput') } } : {}),
    targetNonSuper: values['target-nonsuper'],
  };
  const footing: Footing = values['fast-servers'] ? 'fast' : 'durable';
  const footingName = values['source-tls-owner'] ? 'source-tls-owner' : values['target-nonsuper'] ? 'target-nonsuper' : 'superuser';
  const work = mkdtempSync(join(tmpdir(), 'pgshift-rbench-'));
  const servers = await startBenchServers({ label: 'pgshift-rbench', log, footing, targetMajors: majors });
  const tools = pickPgTools(15);
  const results: Array<{ major: number; sourceFingerprint: string; rounds: Round[]; live: LagResult[] }> = [];
  let mismatch = false;
  try {
    for (const t of servers.targets) {
      const rig = new Rig({
        major: t.major,
        sourceAdmin: servers.sourceAdmin,
        targetAdmin: t.admin,
        modes,
        roles,
        scale,
        clients,
        work,
        pgbench: pgBinary('pgbench'),
        psql: join(tools.dir, 'psql'),
        pgDump: tools.pgDump,
        pgRecvlogical: pgBinary('pg_recvlogical'),
        pgshiftBin: PGSHIFT_BIN,
        cpuProf: values['cpu-prof'],
      });
      await rig.setup();
      const done: Round[] = [];
      let sourceFingerprint = '';
      for (let r = 0; r < rounds; r++) {
        const workload = await rig.workload(transactions !== undefined ? { transactions } : { seconds });
        const loadavgBefore = loadavg();
        // The subscribers take turns: a different one goes first in every round.
        const order: Array<Mode | 'native' | 'walsender'> = [...modes, 'native', 'walsender'];
        for (let k = 0; k < r % order.length; k++) order.push(order.shift()!);
        const drainAll = async (w: Workload, what: string, tag = ''): Promise<Drain[]> => {
          const drains: Drain[] = [];
          for (const s of order) {
            log(
              `${what} (PG${t.major} target, round ${r + 1}/${rounds}): ${s === 'native' ? 'native subscription' : s === 'walsender' ? RECV : `pgshift ${s}`}`,
            );
            const d =
              s === 'native' ? await rig.drainNative(w.endLsn) : s === 'walsender' ? await rig.drainWalsender(w.endLsn) : await rig.drainPgshift(s, r, tag);
            log(
              `  ${d.wallSeconds.toFixed(2)} s wall${d.cpuSeconds !== undefined ? `, cpu ${d.cpuSeconds.toFixed(2)} s, rss ${((d.peakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB` : ''}; target: ${d.target.commits} commits, ${d.target.walSyncs} WAL fsyncs, ${(d.target.walBytes / 2 ** 20).toFixed(1)} MiB WAL${d.sourceCpuSeconds !== undefined ? `; server CPU: source ${d.sourceCpuSeconds.toFixed(2)} s, target ${(d.targetCpuSeconds ?? 0).toFixed(2)} s` : ''}${d.steps?.length ? `; steps: ${d.steps.join(' · ')}` : ''}`,
            );
            drains.push(d);
          }
          sourceFingerprint = await rig.compare(drains);
          if (drains.some((d) => !d.matches)) mismatch = true;
          return drains;
        };
        const drains = await drainAll(workload, 'drain');
        let probed: Round['probe'];
        if (probe) {
          const pw = await rig.workload({ transactions: 1 });
          probed = { workload: pw, drains: await drainAll(pw, 'fixed-cost probe (one transaction)', '-probe') };
        }
        done.push({ workload, drains, ...(probed ? { probe: probed } : {}), loadavgBefore, loadavgAfter: loadavg() });
      }
      const live: LagResult[] = [];
      const liveRate = Number(values['live-rate']);
      if (liveRate > 0 && modes.includes('pgoutput')) {
        const l = rig.liveTarget();
        const lo = {
          source: rig.sourceDb,
          pgbench: pgBinary('pgbench'),
          scripts: rig.scripts,
          rate: liveRate,
          seconds: Number(values['live-seconds']),
          clients,
        };
        log(`live: pgbench -R ${liveRate} -T ${lo.seconds} while pgshift replicate streams, then while the native subscription streams`);
        live.push(await pgshiftLiveLag(lo, PGSHIFT_BIN, ['replicate', '--source', l.source, '--target', l.target], l.slot));
        live.push(await nativeLiveLag(lo, l.nativeDb, l.sub));
      }
      await rig.dropNative();
      results.push({ major: t.major, sourceFingerprint, rounds: done, live });
    }
  } finally {
    await servers.stop();
    rmSync(work, { recursive: true, force: true });
  }

  const flags = [
    `${transactions !== undefined ? `--transactions ${transactions}` : `--seconds ${seconds}`} --scale ${scale} --clients ${clients} --rounds ${rounds} --targets ${majors.join(',')} --modes ${modes.join(',')}`,
    values['source-tls-owner'] ? '--source-tls-owner' : '',
    values['target-nonsuper'] ? '--target-nonsuper' : '',
    values['fast-servers'] ? '--fast-servers' : '',
  ].filter(Boolean);
  const at = new Date().toISOString();
  const record = {
    at,
    command: `npm run bench:replicate -- ${flags.join(' ')}`,
    footing: footingName,
    machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30) },
    servers: `${footingNote(footing)} Source PostgreSQL 15 (wal_level=logical); every subscriber of one target major applies into its own database on that target server, one after the other.`,
    roles: `${roleNote(roles)} (pgshift); the native subscription is created by the target's superuser and connects to the source as superuser without TLS (it needs REPLICATION and, on PostgreSQL 15, a superuser owner).`,
    workload: {
      pgbenchScale: scale,
      seconds: transactions === undefined ? seconds : null,
      transactions: transactions ?? null,
      clients,
      script: 'tpcb-like@9 + wide-row upsert (~1.3 kB text)@1',
    },
    probe: probe
      ? 'after every drain, a one-transaction backlog drained the same way: fixed cost; steady rate = (changes − probe changes) / (wall − probe wall)'
      : null,
    pgshiftCommand:
      'pgshift replicate --source $SOURCE --target $TARGET --until-caught-up [--fix-replica-identity | --capture triggers] --json --log-level debug',
    nativeCommand:
      'CREATE SUBSCRIPTION … WITH (copy_data = false, enabled = false); after the workload ALTER SUBSCRIPTION … ENABLE, timed until confirmed_flush_lsn >= the end of the workload',
    targets: results,
  };
  mkdirSync(values.out!, { recursive: true });
  const file = join(values.out!, `replicate-${footingName}-${at.slice(0, 16).replace(/[:T]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);

  const lines = ['', `footing: ${footingName} (${footing}); ${record.roles}`];
  for (const t of results) {
    const subs = [...modes.map((m) => `pgshift ${m}`), 'native subscription', RECV];
    const of = (s: string) => t.rounds.map((r) => r.drains.find((d) => d.subscriber === s)!);
    const nativeMedian = median(of('native subscription').map((d) => d.wallSeconds));
    const tx = median(t.rounds.map((r) => r.workload.transactions ?? 0));
    const changes = median(t.rounds.map((r) => r.workload.rowChanges));
    const la = t.rounds.map((r) => `${r.loadavgBefore[0]!.toFixed(1)} → ${r.loadavgAfter[0]!.toFixed(1)}`).join(', ');
    lines.push(
      '',
      `PG${t.major} target: backlog ${tx} transactions, ${changes} row changes (median of ${t.rounds.length}); load average ${la}`,
      `| subscriber | wall s: median (runs) | vs native | client CPU s | peak RSS | target commits / source tx | target WAL fsyncs | target WAL MiB |`,
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const s of subs) {
      const ds = of(s);
      const wall = median(ds.map((d) => d.wallSeconds));
      const cpu = ds[0]!.cpuSeconds !== undefined ? median(ds.map((d) => d.cpuSeconds ?? 0)).toFixed(2) : '(server)';
      const rss = ds[0]!.peakRssBytes !== undefined ? `${(median(ds.map((d) => d.peakRssBytes ?? 0)) / 2 ** 20).toFixed(0)} MiB` : '(server)';
      const commits = median(ds.map((d) => d.target.commits)) / Math.max(1, tx);
      lines.push(
        `| ${s} | ${wall.toFixed(2)} (${ds.map((d) => d.wallSeconds.toFixed(2)).join(' / ')}) | ${(nativeMedian / wall).toFixed(2)}× | ${cpu} | ${rss} | ${commits.toFixed(3)} | ${median(ds.map((d) => d.target.walSyncs))} | ${(median(ds.map((d) => d.target.walBytes)) / 2 ** 20).toFixed(1)} |`,
      );
    }
    if (t.rounds.every((r) => r.probe)) {
      // Fixed cost and steady rate, per round then the median (both sides measured the same way).
      const split = (s: string) =>
        t.rounds.map((r) => {
          const big = r.drains.find((d) => d.subscriber === s)!;
          const small = r.probe!.drains.find((d) => d.subscriber === s)!;
          const changes = r.workload.rowChanges - r.probe!.workload.rowChanges;
          return { fixed: small.wallSeconds, rate: changes / Math.max(1e-3, big.wallSeconds - small.wallSeconds) };
        });
      const nativeRate = median(split('native subscription').map((x) => x.rate));
      lines.push(
        '',
        `PG${t.major} target, fixed cost and steady apply rate (probe: one transaction, ~${median(t.rounds.map((r) => r.probe!.workload.rowChanges))} row changes)`,
        '| subscriber | fixed s: median (runs) | steady changes/s: median (runs) | steady vs native |',
        '|---|---:|---:|---:|',
      );
      for (const s of subs) {
        const xs = split(s);
        const rate = median(xs.map((x) => x.rate));
        lines.push(
          `| ${s} | ${median(xs.map((x) => x.fixed)).toFixed(2)} (${xs.map((x) => x.fixed.toFixed(2)).join(' / ')}) | ${rate.toFixed(0)} (${xs.map((x) => x.rate.toFixed(0)).join(' / ')}) | ${(rate / nativeRate).toFixed(2)}× |`,
        );
      }
    }
    if (t.rounds.every((r) => r.probe) && t.rounds.some((r) => r.drains.some((d) => d.targetCpuSeconds !== undefined))) {
      // CPU per change in the steady state, every process a drain runs: (backlog − probe) / (changes − probe changes).
      lines.push(
        '',
        `PG${t.major} target, steady-state CPU per change (µs; backlog minus probe; medians): client, source server (walsender…), target server (backends…)`,
        '| subscriber | client | source server | target server | total | 2 cores ÷ total |',
        '|---|---:|---:|---:|---:|---:|',
      );
      for (const s of subs) {
        // Rounds where a reading is missing (no /proc) are left out.
        const per = (f: (d: Drain) => number | undefined) =>
          median(
            t.rounds.flatMap((r) => {
              const big = f(r.drains.find((d) => d.subscriber === s)!);
              const small = f(r.probe!.drains.find((d) => d.subscriber === s)!);
              if (big === undefined || small === undefined) return [];
              return [((big - small) * 1e6) / Math.max(1, r.workload.rowChanges - r.probe!.workload.rowChanges)];
            }),
          );
        const client = per((d) => d.cpuSeconds ?? 0);
        const src = per((d) => d.sourceCpuSeconds);
        const tgt = per((d) => d.targetCpuSeconds);
        const total = per((d) =>
          d.sourceCpuSeconds === undefined || d.targetCpuSeconds === undefined ? undefined : (d.cpuSeconds ?? 0) + d.sourceCpuSeconds + d.targetCpuSeconds,
        );
        lines.push(
          `| ${s} | ${client.toFixed(1)} | ${src.toFixed(1)} | ${tgt.toFixed(1)} | ${total.toFixed(1)} | ${((2 * 1e6) / Math.max(1e-9, total)).toFixed(0)}/s |`,
        );
      }
    }
    for (const l of t.live) lines.push(`live lag, ${l.subscriber}: max ${l.maxLagSeconds.toFixed(2)} s, p95 ${l.p95LagSeconds.toFixed(2)} s`);
  }
  lines.push(`verified (every target vs source, every round): ${mismatch ? 'MISMATCH' : 'equal'}`, `results: ${file}`);
  log(lines.join('\n'));
  if (mismatch) setExitCode(1);
}

main().catch((err: unknown) => {
  log(`bench:replicate: ${(err as Error).stack ?? String(err)}`);
  setExitCode(1);
});
