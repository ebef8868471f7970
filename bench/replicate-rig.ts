// One target server's share of bench:replicate: a source database of its own (pgbench plus a wide-row table), a
// target database per pgshift capture mode and one for the native subscription, every subscriber given its start
// (slot or capture triggers) before any write. Then rounds of: a workload nobody consumes, each subscriber draining
// the same backlog alone (timed, with the target server's WAL and commit counters around it), and an independent
// comparison of every target with the source.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quoteIdent } from '../src/db/ident.js';
import { nonSuperTarget, sourceAsOwner, SOURCE_OWNER_ROLE, type RoleFooting } from './footing.js';
import { runOne, type RunResult } from './proc.js';
import { serverCpuSeconds } from './server-cpu.js';
import { conninfo, sql, withDatabase } from './servers.js';

export type Mode = 'pgoutput' | 'triggers';
export const TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history', 'rbench_wide'];
const SUB = 'rbench_native_sub';
const PUB = 'rbench_native_pub';
/** A third slot, read by pg_recvlogical into /dev/null: how fast the source's walsender alone hands out the backlog. */
const PROBE = 'rbench_walsender_probe';
export const RECV = 'pg_recvlogical (walsender alone)';

export const log = (l: string) => process.stderr.write(`${l}\n`);

/** What must match on a target after the drain: counts and sums that every applied change moves. */
export async function fingerprint(url: string): Promise<string> {
  const r = await sql<{ f: string }>(
    url,
    `SELECT concat_ws(' ',
       (SELECT count(*) || '/' || sum(abalance) FROM pgbench_accounts),
       (SELECT count(*) || '/' || sum(bbalance) || '/' || sum(hashtext(b::text)) FROM pgbench_branches b),
       (SELECT count(*) || '/' || sum(tbalance) || '/' || sum(hashtext(t::text)) FROM pgbench_tellers t),
       (SELECT count(*) || '/' || coalesce(sum(delta), 0) || '/' || coalesce(sum(hashtext(h::text)), 0) FROM pgbench_history h),
       (SELECT count(*) || '/' || coalesce(sum(n), 0) || '/' || coalesce(sum(hashtext(w::text)), 0) FROM rbench_wide w)) AS f`,
  );
  return r[0]!.f;
}

const WIDE_SCRIPT = `\\set id random(1, 20000)
INSERT INTO rbench_wide (id, n, payload) VALUES (:id, 1, repeat(md5(random()::text), 40))
  ON CONFLICT (id) DO UPDATE SET n = rbench_wide.n + 1, payload = excluded.payload, touched = now();
`;

/** The target server's counters that a drain moves (server-wide WAL; commits of one database). */
interface TargetCounters {
  walRecords: number;
  walBytes: number;
  walWrites: number;
  walSyncs: number;
  walSyncMs: number;
  commits: number;
}
async function targetCounters(adminDb: string): Promise<TargetCounters> {
  const [r] = await sql<Record<string, string>>(
    adminDb,
    `SELECT w.wal_records, w.wal_bytes, w.wal_write, w.wal_sync, w.wal_sync_time,
            (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS commits
       FROM pg_stat_wal w`,
  );
  return {
    walRecords: Number(r!.wal_records),
    walBytes: Number(r!.wal_bytes),
    walWrites: Number(r!.wal_write),
    walSyncs: Number(r!.wal_sync),
    walSyncMs: Number(r!.wal_sync_time),
    commits: Number(r!.commits),
  };
}
function minus(a: TargetCounters, b: TargetCounters): TargetCounters {
  return {
    walRecords: a.walRecords - b.walRecords,
    walBytes: a.walBytes - b.walBytes,
    walWrites: a.walWrites - b.walWrites,
    walSyncs: a.walSyncs - b.walSyncs,
    walSyncMs: Math.round(a.walSyncMs - b.walSyncMs),
    // The counter query itself commits once.
    commits: a.commits - b.commits - 1,
  };
}
const flushStats = () => new Promise((r) => setTimeout(r, 1100)); // cumulative statistics are flushed about once a second

export interface Drain {
  subscriber: string;
  wallSeconds: number;
  cpuSeconds?: number;
  peakRssBytes?: number;
  changes?: number;
  transactions?: number;
  /** pgshift --log-level debug: ms since replicate() began for each step (where a run's fixed cost goes). */
  steps?: string[];
  target: TargetCounters;
  /** CPU seconds of the source server's and the target server's processes during the drain (Linux: /proc). */
  sourceCpuSeconds?: number;
  targetCpuSeconds?: number;
  matches: boolean;
}

export interface Workload {
  transactions?: number;
  rowChanges: number;
  walBytes: number;
  startLsn: string;
  endLsn: string;
}

export interface RigOptions {
  major: number;
  sourceAdmin: string;
  targetAdmin: string;
  modes: Mode[];
  roles: RoleFooting;
  scale: number;
  clients: number;
  work: string;
  pgbench: string;
  psql: string;
  pgDump: string;
  pgRecvlogical: string;
  pgshiftBin: string;
  cpuProf?: string;
}

export class Rig {
  readonly sourceDb: string;
  private readonly nativeDb: string;
  private readonly targetOf = new Map<Mode, { url: string; admin: string }>();
  private sourceUrl = '';
  /** pgshift's slot (pgoutput), for the live-lag part. */
  private slot = '';
  private readonly wideFile: string;

  constructor(private readonly o: RigOptions) {
    this.sourceDb = withDatabase(o.sourceAdmin, `rbench_source${o.major}`);
    this.nativeDb = withDatabase(o.targetAdmin, 'rbench_native');
    this.wideFile = join(o.work, 'wide.sql');
  }

  get scripts(): string[] {
    return ['-b', 'tpcb-like@9', '-f', `${this.wideFile}@1`];
  }

  pgshiftArgs(mode: Mode, extra: string[] = []): string[] {
    const t = this.targetOf.get(mode)!;
    const capture = mode === 'triggers' ? ['--capture', 'triggers'] : ['--fix-replica-identity'];
    return ['replicate', '--source', this.sourceUrl, '--target', t.url, '--until-caught-up', ...capture, '--json', ...extra];
  }

  /** The source role's REPLICATION attribute for this mode (Heroku-like footing: pgoutput with it, triggers without). */
  private async sourceFor(mode: Mode): Promise<void> {
    if (!this.o.roles.sourceOwner) return;
    await sql(this.o.sourceAdmin, `ALTER ROLE ${quoteIdent(SOURCE_OWNER_ROLE)} ${mode === 'pgoutput' ? 'REPLICATION' : 'NOREPLICATION'}`);
  }

  async setup(): Promise<void> {
    const { o } = this;
    const db = `rbench_source${o.major}`;
    await sql(o.sourceAdmin, `CREATE DATABASE ${db}`);
    log(`setup (PG${o.major} target): pgbench -i -s ${o.scale} and a wide-row table`);
    execFileSync(o.pgbench, ['-i', '-q', '-s', String(o.scale), this.sourceDb], { stdio: ['ignore', 'ignore', 'inherit'] });
    await sql(
      this.sourceDb,
      `CREATE TABLE rbench_wide (id int PRIMARY KEY, n int NOT NULL, payload text NOT NULL, touched timestamptz NOT NULL DEFAULT now())`,
    );
    writeFileSync(this.wideFile, WIDE_SCRIPT);
    this.sourceUrl = o.roles.sourceOwner ? await sourceAsOwner(o.sourceAdmin, db, true) : this.sourceDb;
    log(`setup (PG${o.major} target): native target (pg_dump | psql), publication, disabled subscription with copy_data=false`);
    await sql(o.targetAdmin, `CREATE DATABASE rbench_native`);
    // No writes happen between the dump and the subscription's slot, so the two agree. Dumped before pgshift's
    // trigger capture is installed on the source tables.
    const dump = execFileSync(o.pgDump, ['--no-owner', '--no-acl', '-d', this.sourceDb], { maxBuffer: 1 << 30 });
    execFileSync(o.psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', this.nativeDb], { input: dump, stdio: ['pipe', 'ignore', 'inherit'] });
    await sql(this.sourceDb, `CREATE PUBLICATION ${PUB} FOR TABLE ${TABLES.join(', ')}`);
    await sql(
      this.nativeDb,
      `CREATE SUBSCRIPTION ${SUB} CONNECTION '${conninfo(this.sourceDb).replace(/'/g, "''")}' PUBLICATION ${PUB} WITH (copy_data = false, enabled = false)`,
    );
    await sql(this.sourceDb, `SELECT pg_create_logical_replication_slot('${PROBE}', 'pgoutput')`);
    for (const mode of o.modes) {
      const name = `rbench_pgshift_${mode}`;
      const admin = withDatabase(o.targetAdmin, name);
      let url = admin;
      if (o.roles.targetNonSuper) url = await nonSuperTarget(o.targetAdmin, name);
      else await sql(o.targetAdmin, `CREATE DATABASE ${name}`);
      this.targetOf.set(mode, { url, admin });
      await this.sourceFor(mode);
      log(`setup (PG${o.major} target): pgshift ${mode}: initial copy (replicate --until-caught-up starts the capture and copies)`);
      const first = await runOne({ bin: process.execPath, args: [o.pgshiftBin, ...this.pgshiftArgs(mode)] }, { logFile: join(o.work, `pgshift-${mode}.log`) });
      if (mode === 'pgoutput') this.slot = (JSON.parse(first.stdout) as { slot: string }).slot;
      log(`setup (PG${o.major} target): pgshift ${mode}: initial copy done in ${first.seconds.toFixed(1)} s`);
    }
  }

  /**
   * pgbench while nobody consumes; the backlog every subscriber drains next. `size`: for so many seconds, or a fixed
   * number of transactions (split over the clients; `{ transactions: 1 }` is the fixed-cost probe: one transaction).
   */
  async workload(size: { seconds: number } | { transactions: number }): Promise<Workload> {
    const { o } = this;
    await sql(this.sourceDb, 'SELECT pg_stat_reset()');
    const startLsn = (await sql<{ l: string }>(this.sourceDb, 'SELECT pg_current_wal_lsn()::text AS l'))[0]!.l;
    const clients = 'transactions' in size ? Math.max(1, Math.min(o.clients, size.transactions)) : o.clients;
    const how = 'seconds' in size ? ['-T', String(size.seconds)] : ['-t', String(Math.max(1, Math.round(size.transactions / clients)))];
    log(`workload (PG${o.major} target): pgbench ${how.join(' ')} -c ${clients} (tpcb-like@9, wide-row upsert@1); nobody consumes`);
    const out = execFileSync(o.pgbench, ['-n', ...how, '-c', String(clients), '-j', String(clients), ...this.scripts, this.sourceDb], {
      encoding: 'utf8',
    });
    const m = /number of transactions actually processed: (\d+)/.exec(out);
    const endLsn = (await sql<{ l: string }>(this.sourceDb, 'SELECT pg_current_wal_lsn()::text AS l'))[0]!.l;
    const walBytes = Number((await sql<{ d: string }>(this.sourceDb, `SELECT pg_wal_lsn_diff('${endLsn}', '${startLsn}')::bigint AS d`))[0]!.d);
    await flushStats();
    const n = await sql<{ n: string }>(
      this.sourceDb,
      `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS n FROM pg_stat_user_tables WHERE schemaname = 'public'`,
    );
    const w = { transactions: m ? Number(m[1]) : undefined, rowChanges: Number(n[0]!.n), walBytes, startLsn, endLsn };
    log(`workload: ${w.transactions} transactions, ${w.rowChanges} row changes, ${(walBytes / 2 ** 20).toFixed(1)} MiB of WAL`);
    return w;
  }

  /** `pgshift replicate --until-caught-up` drains what is pending, under /usr/bin/time. */
  async drainPgshift(mode: Mode, round: number, tag = ''): Promise<Drain> {
    const { o } = this;
    await this.sourceFor(mode);
    const t = this.targetOf.get(mode)!;
    const logFile = join(o.work, `drain-${o.major}-${mode}-${round}${tag}.log`);
    const prof = o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : [];
    // Node flags for the drains only (an A/B of V8 settings): PGSHIFT_BENCH_NODE_FLAGS="--max-semi-space-size=64".
    prof.push(...(process.env.PGSHIFT_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean));
    const before = await targetCounters(t.admin);
    const cpu0 = await this.serversCpu();
    const p: RunResult = await runOne(
      { bin: process.execPath, args: [...prof, o.pgshiftBin, ...this.pgshiftArgs(mode, ['--log-level', 'debug'])] },
      { logFile },
    );
    await flushStats();
    const cpu = await this.serversCpu(cpu0);
    const target = minus(await targetCounters(t.admin), before);
    const reported = JSON.parse(p.stdout) as { ok: boolean; changes: number; transactions: number };
    if (!reported.ok) throw new Error(`pgshift replicate (${mode}) reported ok=false (see ${logFile})`);
    const steps = readFileSync(logFile, 'utf8')
      .split('\n')
      .flatMap((l) => {
        const s = /"ms":(\d+),"msg":"replicate: ([^"]+)"/.exec(l);
        if (s) return [`${s[1]} ms ${s[2]}`];
        // Where the apply loop waited (applier.ts): for the source, for the target, and its own CPU.
        const w = /"loopMs":(\d+),"sourceWaitMs":(\d+),"targetWaitMs":(\d+),"cpuMs":(\d+)/.exec(l);
        return w ? [`apply loop ${w[1]} ms: waited ${w[2]} ms for the source, ${w[3]} ms for the target; ${w[4]} ms CPU`] : [];
      });
    return {
      subscriber: `pgshift ${mode}`,
      wallSeconds: p.seconds,
      cpuSeconds: p.cpuSeconds,
      peakRssBytes: p.peakRssBytes,
      changes: reported.changes,
      transactions: reported.transactions,
      steps,
      target,
      ...cpu,
      matches: false,
    };
  }

  /** The native subscription enabled, timed until its slot confirmed the source's position at the workload's end; disabled again. */
  async drainNative(endLsn: string): Promise<Drain> {
    const before = await targetCounters(this.nativeDb);
    const cpu0 = await this.serversCpu();
    const t0 = process.hrtime.bigint();
    await sql(this.nativeDb, `ALTER SUBSCRIPTION ${SUB} ENABLE`);
    let seconds = 0;
    for (;;) {
      const r = await sql<{ ok: boolean }>(
        this.sourceDb,
        `SELECT coalesce(confirmed_flush_lsn >= '${endLsn}', false) AS ok FROM pg_replication_slots WHERE slot_name = '${SUB}'`,
      );
      seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (r[0]?.ok) break;
      if (seconds > 3600) throw new Error('native subscription did not catch up within an hour');
      await new Promise((res) => setTimeout(res, 50));
    }
    await sql(this.nativeDb, `ALTER SUBSCRIPTION ${SUB} DISABLE`);
    await flushStats();
    const cpu = await this.serversCpu(cpu0);
    const target = minus(await targetCounters(this.nativeDb), before);
    return { subscriber: 'native subscription', wallSeconds: seconds, target, ...cpu, matches: false };
  }

  /** The floor of any logical subscriber: the walsender decodes and sends the backlog, nobody applies it. */
  async drainWalsender(endLsn: string): Promise<Drain> {
    const cpu0 = await this.serversCpu();
    const t0 = process.hrtime.bigint();
    execFileSync(
      this.o.pgRecvlogical,
      ['-d', this.sourceDb, '-S', PROBE, '--start', '-E', endLsn, '-o', 'proto_version=1', '-o', `publication_names=${PUB}`, '-f', '/dev/null'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await flushStats();
    const cpu = await this.serversCpu(cpu0);
    const none = { walRecords: 0, walBytes: 0, walWrites: 0, walSyncs: 0, walSyncMs: 0, commits: 0 };
    return { subscriber: RECV, wallSeconds: seconds, target: none, ...cpu, matches: true };
  }

  /**
   * CPU seconds of both servers so far, or (given an earlier reading) spent since it. Read after flushStats() so
   * a backend that just disconnected has ended and been counted.
   */
  private async serversCpu(since?: {
    sourceCpuSeconds?: number;
    targetCpuSeconds?: number;
  }): Promise<{ sourceCpuSeconds?: number; targetCpuSeconds?: number }> {
    const s = await serverCpuSeconds(this.o.sourceAdmin);
    const t = await serverCpuSeconds(this.o.targetAdmin);
    if (s === undefined || t === undefined) return {};
    if (!since || since.sourceCpuSeconds === undefined || since.targetCpuSeconds === undefined) return { sourceCpuSeconds: s, targetCpuSeconds: t };
    return { sourceCpuSeconds: s - since.sourceCpuSeconds, targetCpuSeconds: t - since.targetCpuSeconds };
  }

  /** Independent comparison of every target with the source (superuser connections; SQL written here). */
  async compare(drains: Drain[]): Promise<string> {
    const src = await fingerprint(this.sourceDb);
    for (const d of drains) {
      if (d.subscriber === RECV) continue;
      const url = d.subscriber === 'native subscription' ? this.nativeDb : this.targetOf.get(d.subscriber.slice('pgshift '.length) as Mode)!.admin;
      const fp = await fingerprint(url);
      d.matches = fp === src;
      if (!d.matches) log(`verify: MISMATCH on PG${this.o.major} ${d.subscriber}: source ${src}, target ${fp}`);
    }
    return src;
  }

  /** For the live-lag part (pgoutput only). */
  liveTarget(): { source: string; target: string; slot: string; nativeDb: string; sub: string } {
    return { source: this.sourceUrl, target: this.targetOf.get('pgoutput')?.url ?? '', slot: this.slot, nativeDb: this.nativeDb, sub: SUB };
  }

  async dropNative(): Promise<void> {
    await sql(this.nativeDb, `ALTER SUBSCRIPTION ${SUB} DISABLE`);
    await sql(this.nativeDb, `ALTER SUBSCRIPTION ${SUB} SET (slot_name = NONE)`);
    await sql(this.nativeDb, `DROP SUBSCRIPTION ${SUB}`);
    await sql(this.sourceDb, `SELECT pg_drop_replication_slot('${SUB}')`);
    await sql(this.sourceDb, `SELECT pg_drop_replication_slot('${PROBE}')`);
  }
}
