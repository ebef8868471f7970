// One benchmark run: for each dataset shape and each target server, the same source database copied by
// pgshift, by each peer and by the no-client floor into a fresh, empty target database (dropped and
// recreated between peers). Every result is checked independently (row counts, indexes, foreign keys,
// sequence values) so a fast-but-wrong peer can't win. Durable servers by default (like a hosted target).
//
//   npm run bench -- --mb 1000
//   npm run bench -- --mb 1000 --shape mixed,narrow --targets 17,15 --rounds 2
//   npm run bench -- --mb 200 --peers pgshift,pg_dump_pipe --fast-servers
//   npm run bench -- --source-admin postgres://postgres:pw@host1/postgres --target-admin postgres://…
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConnectionUrl } from '../src/config.js';
import { connect, type Client } from '../src/db/connect.js';
import { pickPgTools } from '../src/schema/pgdump.js';
import { PEERS, type PeerContext } from './peers.js';
import { runOne } from './proc.js';
import { markdown, markdownAll, type BenchFile, type BenchRecord, type PeerResult, type VerifyResult } from './report.js';
import { nonSuperTarget, roleNote, sourceAsOwner, type RoleFooting } from './footing.js';
import { footingNote, removeOnExit, setExitCode, startBenchServers, withDatabase, type BenchServers, type Footing } from './servers.js';
import { parseBandwidth, startLatencyProxy, throughProxy, type LatencyProxy, type LinkCounts } from './latency-proxy.js';
import { generateShape, SHAPES, type ManyTablesOptions, type Shape as DatasetShape } from './shapes.js';
import { MAJORS, type Major } from '../test/support/pg-binaries.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PGSHIFT_BIN = join(ROOT, 'bin', 'pgshift.js');
const TARGET_DB = 'pgshift_bench_target';
const MB = 1024 * 1024;

interface Options {
  mb: number;
  jobs: number;
  rounds: number;
  peers: string[];
  shapes: DatasetShape[];
  targets: Major[];
  footing: Footing;
  pgshiftArgs: string[];
  verify: boolean;
  keepSource?: boolean;
  /** Copy every peer's log (stderr of all its rounds; pgshift's debug log with --pgshift-args "--log-level debug") here. */
  keepLogs?: string;
  /** many-tables shape: table count and rows per table (0: empty tables, to measure per-table overhead). */
  many?: ManyTablesOptions;
  sourceAdmin?: string;
  targetAdmin?: string;
  sourceDb?: string;
  out: string;
  /** A latency proxy between every peer and the source: round trip (ms) and bandwidth per direction (bytes/s). */
  link?: { rttMs: number; bytesPerSecond: number };
  /** Which roles the peers connect as (default: superuser on both sides). */
  roles: RoleFooting;
  /** Another pgshift build (its bin/pgshift.js) whose verify is timed too, right after this one's: before/after a change. */
  verifyAlso?: string;
}

/** The middle value (the lower middle of an even count). */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export async function sql<T extends Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = await connect(parseConnectionUrl(url, 'source'), { applicationName: 'pgshift-bench' });
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** What must be equal on both sides after any correct copy. Read outside the timed section. */
export interface Shape {
  counts: Record<string, number>;
  indexes: number;
  foreignKeys: number;
  sequences: Record<string, string | null>;
}

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgshift') AND n.nspname !~ '^pg_'`;

export async function tablesBySize(c: Client): Promise<Array<{ name: string; bytes: number }>> {
  const { rows } = await c.query<{ name: string; bytes: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name, pg_total_relation_size(c.oid) AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND ${USER_SCHEMAS} ORDER BY 2 DESC, 1`,
  );
  return rows.map((r) => ({ name: r.name, bytes: Number(r.bytes) }));
}

export async function shapeOf(url: string, tables: string[]): Promise<Shape> {
  const c = await connect(parseConnectionUrl(url, 'target'), { applicationName: 'pgshift-bench-check' });
  try {
    const counts: Record<string, number> = {};
    for (const t of tables) {
      // Table names come from format('%I.%I') on the source: already quoted.
      counts[t] = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`).then(
        (r) => Number(r.rows[0]!.n),
        () => -1,
      );
    }
    const one = async (q: string) => Number((await c.query<{ n: string }>(q)).rows[0]!.n);
    const indexes = await one(
      `SELECT count(*) AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_SCHEMAS}`,
    );
    const foreignKeys = await one(
      `SELECT count(*) AS n FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace WHERE k.contype = 'f' AND ${USER_SCHEMAS}`,
    );
    const seq = await c.query<{ name: string; v: string | null }>(
      `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS v FROM pg_sequences WHERE schemaname <> 'pgshift'`,
    );
    return { counts, indexes, foreignKeys, sequences: Object.fromEntries(seq.rows.map((r) => [r.name, r.v])) };
  } finally {
    await c.end().catch(() => undefined);
  }
}

export function differences(want: Shape, got: Shape): string[] {
  const out: string[] = [];
  for (const [t, n] of Object.entries(want.counts)) {
    if (got.counts[t] !== n) out.push(`${t}: ${got.counts[t] === -1 ? 'missing' : `${got.counts[t]} rows`}, source has ${n}`);
  }
  if (got.indexes !== want.indexes) out.push(`${got.indexes} indexes, source has ${want.indexes}`);
  if (got.foreignKeys !== want.foreignKeys) out.push(`${got.foreignKeys} foreign keys, source has ${want.foreignKeys}`);
  for (const [s, v] of Object.entries(want.sequences)) {
    if (got.sequences[s] !== v) out.push(`sequence ${s} at ${got.sequences[s] ?? 'missing'}, source at ${v}`);
  }
  return out;
}

/** What crossed the proxy, with how full its down direction ran while data streamed (a capped link). */
function linkNote(c: LinkCounts, cap: number): NonNullable<PeerResult['sourceLink']> {
  return {
    roundTrips: c.roundTrips,
    queries: c.queries,
    connections: c.connections,
    downBytes: c.down,
    upBytes: c.up,
    ...(cap > 0 && c.downStreaming.seconds > 0
      ? {
          downStreamingSeconds: c.downStreaming.seconds,
          downStreamingBytes: c.downStreaming.bytes,
          downStreamingUse: c.downStreaming.bytes / (cap * c.downStreaming.seconds),
        }
      : {}),
  };
}

/** pgshift's own account of its data streams (copy --json `stream`) and the link use it implies. */
function streamNote(reported: unknown, cap: number): Pick<PeerResult, 'stream'> {
  const st = (reported as { stream?: { wireBytes: number; seconds: number; concurrency: Record<string, number> } } | undefined)?.stream;
  if (!st || !(st.seconds > 0)) return {};
  return {
    stream: {
      wireBytes: st.wireBytes,
      seconds: st.seconds,
      ...(cap > 0 ? { linkUse: st.wireBytes / (cap * st.seconds) } : {}),
      concurrency: st.concurrency,
    },
  };
}

/** Subcommands the built CLI registers (`pgshift --help`), so missing ones are skipped, not failed. */
function pgshiftCommands(): string[] {
  try {
    const help = execFileSync(process.execPath, [PGSHIFT_BIN, '--help'], { encoding: 'utf8' });
    const section = help.split(/^Commands:\s*$/m)[1] ?? '';
    return [...section.matchAll(/^\s{2}(\w[\w-]*)/gm)].map((m) => m[1]!);
  } catch {
    return [];
  }
}

function have(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function recreate(adminUrl: string, db: string): Promise<void> {
  await sql(adminUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await sql(adminUrl, `CREATE DATABASE ${db}`);
}

/** WAL written and WAL fsyncs on a server so far (pg_stat_wal: PostgreSQL 14+). */
interface WalMark {
  lsn: string;
  syncs: number;
  syncMs: number;
  writeMs: number;
  checkpoints: number;
}

async function walMark(adminUrl: string): Promise<WalMark> {
  const [r] = await sql<{ lsn: string; syncs: string; sync_ms: string; write_ms: string; ckpt: string }>(
    adminUrl,
    `SELECT pg_current_wal_lsn()::text AS lsn, w.wal_sync AS syncs, w.wal_sync_time AS sync_ms, w.wal_write_time AS write_ms,
            (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS ckpt
       FROM pg_stat_wal w`,
  ).catch(async () =>
    // PostgreSQL 17 moved the checkpoint counters to pg_stat_checkpointer.
    sql<{ lsn: string; syncs: string; sync_ms: string; write_ms: string; ckpt: string }>(
      adminUrl,
      `SELECT pg_current_wal_lsn()::text AS lsn, w.wal_sync AS syncs, w.wal_sync_time AS sync_ms, w.wal_write_time AS write_ms,
              (SELECT num_timed + num_requested FROM pg_stat_checkpointer) AS ckpt
         FROM pg_stat_wal w`,
    ),
  );
  return { lsn: r!.lsn, syncs: Number(r!.syncs), syncMs: Number(r!.sync_ms), writeMs: Number(r!.write_ms), checkpoints: Number(r!.ckpt) };
}

/** Relation I/O by backend type (pg_stat_io, PostgreSQL 16+), in blocks; empty before 16. */
type IoMark = Record<string, { reads: number; writes: number; extends: number; writebacks: number; fsyncs: number }>;

async function ioMark(adminUrl: string): Promise<IoMark> {
  const rows = await sql<{ backend_type: string; reads: string; writes: string; extends: string; writebacks: string; fsyncs: string }>(
    adminUrl,
    `SELECT backend_type, sum(reads)::int8 AS reads, sum(writes)::int8 AS writes, sum(extends)::int8 AS extends,
            sum(writebacks)::int8 AS writebacks, sum(fsyncs)::int8 AS fsyncs
       FROM pg_stat_io WHERE object = 'relation' GROUP BY backend_type`,
  ).catch(() => []);
  const out: IoMark = {};
  for (const r of rows) {
    out[r.backend_type] = {
      reads: Number(r.reads),
      writes: Number(r.writes),
      extends: Number(r.extends),
      writebacks: Number(r.writebacks),
      fsyncs: Number(r.fsyncs),
    };
  }
  return out;
}

/** The change of pg_stat_io between two marks, backend types that did nothing left out. */
function ioSince(from: IoMark, now: IoMark): IoMark {
  const out: IoMark = {};
  for (const [k, v] of Object.entries(now)) {
    const f = from[k] ?? { reads: 0, writes: 0, extends: 0, writebacks: 0, fsyncs: 0 };
    const d = {
      reads: v.reads - f.reads,
      writes: v.writes - f.writes,
      extends: v.extends - f.extends,
      writebacks: v.writebacks - f.writebacks,
      fsyncs: v.fsyncs - f.fsyncs,
    };
    if (Object.values(d).some((x) => x !== 0)) out[k] = d;
  }
  return out;
}

/** What the target's WAL cost during one peer's run. */
async function walSince(
  adminUrl: string,
  from: WalMark,
): Promise<{ bytes: number; syncs: number; syncSeconds: number; writeSeconds: number; checkpoints: number }> {
  const now = await walMark(adminUrl);
  const [r] = await sql<{ b: string }>(adminUrl, `SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) AS b`, [now.lsn, from.lsn]);
  return {
    bytes: Number(r!.b),
    syncs: now.syncs - from.syncs,
    syncSeconds: (now.syncMs - from.syncMs) / 1000,
    writeSeconds: (now.writeMs - from.writeMs) / 1000,
    checkpoints: now.checkpoints - from.checkpoints,
  };
}

export async function runBench(o: Options, log: (l: string) => void): Promise<BenchFile> {
  const startedAt = new Date().toISOString();
  let servers: BenchServers | undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'pgshift-bench-work-'));
  chmodSync(scratch, 0o755);
  removeOnExit(scratch); // also after Ctrl-C
  const runs: BenchRecord[] = [];
  try {
    servers = await startBenchServers({ sourceAdmin: o.sourceAdmin, targetAdmin: o.targetAdmin, log, targetMajors: o.targets, footing: o.footing });
    const commands = pgshiftCommands();
    for (const shape of o.shapes) {
      const sourceDb = o.sourceDb ?? `pgshift_bench_${shape.replace(/-/g, '_')}`;
      const source = withDatabase(servers.sourceAdmin, sourceDb);
      let generatedSeconds: number | undefined;
      if (!o.sourceDb) {
        await recreate(servers.sourceAdmin, sourceDb);
        generatedSeconds = (await generateShape(shape, { url: source, mb: o.mb, jobs: o.jobs, log, many: o.many })).seconds;
      }
      const sc = await connect(parseConnectionUrl(source, 'source'), { applicationName: 'pgshift-bench' });
      let tables: Array<{ name: string; bytes: number }>;
      let sourceBytes: number;
      let sequences: PeerContext['sequences'];
      let sourceVersion: string;
      try {
        // CHECKPOINT so no peer pays for flushing the generator's dirty buffers.
        await sc.query('CHECKPOINT');
        tables = await tablesBySize(sc);
        sourceBytes = Number((await sc.query<{ b: string }>('SELECT pg_database_size(current_database()) AS b')).rows[0]!.b);
        sequences = (
          await sc.query<{ name: string; last_value: string | null; is_called: boolean }>(
            `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS last_value, last_value IS NOT NULL AS is_called FROM pg_sequences`,
          )
        ).rows.map((r) => ({ name: r.name, lastValue: r.last_value, isCalled: r.is_called }));
        sourceVersion = (await sc.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
      } finally {
        await sc.end().catch(() => undefined);
      }
      // The peers' source: the superuser, or the Heroku-like owner over TLS (--source-tls-owner).
      const peerSourceDirect = o.roles.sourceOwner ? await sourceAsOwner(servers.sourceAdmin, sourceDb, o.roles.sourceOwner.replication) : source;
      const want = await shapeOf(
        source,
        tables.map((t) => t.name),
      );
      const tools = pickPgTools(Number(sourceVersion.split('.')[0]));
      // Every peer reaches the source through the same slow link; the checks above and below go direct.
      let link: LatencyProxy | undefined;
      let peerSource = peerSourceDirect;
      if (o.link) {
        const u = new URL(source);
        link = await startLatencyProxy({
          upstreamHost: u.hostname,
          upstreamPort: Number(u.port),
          oneWayDelayMs: o.link.rttMs / 2,
          bytesPerSecond: o.link.bytesPerSecond,
        });
        peerSource = throughProxy(peerSourceDirect, link.port);
        log(
          `bench: peers reach the source through a proxy adding ${o.link.rttMs} ms of round trip${o.link.bytesPerSecond ? `, capped at ${(o.link.bytesPerSecond / 1e6).toFixed(0)} MB/s each way` : ''}`,
        );
      }
      const psql = existsSync(join(tools.dir, 'psql')) ? join(tools.dir, 'psql') : 'psql';

      for (const targetServer of servers.targets) {
        const targetVersion = (await sql<{ v: string }>(targetServer.admin, "SELECT current_setting('server_version') AS v"))[0]!.v;
        const targetCheck = withDatabase(targetServer.admin, TARGET_DB);
        log(
          `bench: ${shape}: source ${(sourceBytes / MB).toFixed(0)} MB on PostgreSQL ${sourceVersion} → PostgreSQL ${targetVersion} (${o.footing}); pg_dump ${tools.version}`,
        );
        const attempts = new Map<string, PeerResult[]>();
        const loadAtStart = loadavg();
        let verify: VerifyResult = { status: 'skipped', command: 'pgshift verify --source $SOURCE --target $TARGET --jobs 2 --json' };
        // Rounds: a fresh server pays once for things no peer should be charged for (creating WAL segments,
        // warming caches), so every peer runs o.rounds times, in the same order, and its best time counts.
        for (let round = 1; round <= o.rounds; round++) {
          if (o.rounds > 1) log(`bench: round ${round}/${o.rounds}`);
          // Paired, alternating runs: every other round runs the peers in reverse order, so no peer always follows
          // the same one (a shared machine's load drifts over a round).
          const chosen = PEERS.filter((p) => o.peers.includes(p.id));
          for (const peer of round % 2 === 0 ? [...chosen].reverse() : chosen) {
            const peers = attempts.get(peer.id) ?? [];
            attempts.set(peer.id, peers);
            const base = { id: peer.id, label: peer.label, command: peer.command };
            const why = peer.unavailable({ pgshiftCommands: commands, have });
            if (why) {
              if (round === 1) log(`bench: ${peer.label}: skipped — ${why}`);
              peers.push({ ...base, status: 'skipped', note: why });
              if (peer.id === 'pgshift') verify = { ...verify, note: 'needs pgshift copy' };
              continue;
            }
            const target = o.roles.targetNonSuper
              ? await nonSuperTarget(targetServer.admin, TARGET_DB)
              : (await recreate(targetServer.admin, TARGET_DB), targetCheck);
            // No peer pays for flushing the previous peer's writes (dropping a 1 GB database leaves dirty buffers).
            await sql(targetServer.admin, 'CHECKPOINT');
            await sql(servers.sourceAdmin, 'CHECKPOINT');
            const workDir = join(scratch, peer.id);
            mkdirSync(workDir, { recursive: true });
            const logFile = join(scratch, `${peer.id}.log`);
            log(`bench: ${peer.label} …`);
            try {
              const wal0 = await walMark(targetServer.admin);
              const io0 = await ioMark(targetServer.admin);
              link?.reset();
              const r = await peer.run({
                source: peerSource,
                target,
                sourceAdmin: source,
                targetAdmin: targetCheck,
                pgDump: tools.pgDump,
                pgRestore: tools.pgRestore,
                psql,
                jobs: o.jobs,
                workDir,
                logFile,
                tables: tables.map((t) => t.name),
                sequences,
                pgshiftBin: PGSHIFT_BIN,
                pgshiftArgs: o.pgshiftArgs,
                sharedDir: scratch,
              });
              const crossed = link?.counts();
              const wal = await walSince(targetServer.admin, wal0);
              const io = ioSince(io0, await ioMark(targetServer.admin));
              rmSync(workDir, { recursive: true, force: true }); // dump folders can be as big as the database
              const diff = differences(
                want,
                await shapeOf(
                  targetCheck,
                  tables.map((t) => t.name),
                ),
              );
              peers.push({
                ...base,
                status: diff.length ? 'wrong-result' : 'ok',
                seconds: r.seconds,
                mbPerSecond: sourceBytes / MB / r.seconds,
                ...(r.peakRssBytes ? { peakRssBytes: r.peakRssBytes } : {}),
                ...(r.cpuSeconds !== undefined ? { cpuSeconds: r.cpuSeconds } : {}),
                targetWalBytes: wal.bytes,
                targetWalSyncs: wal.syncs,
                targetWalSyncSeconds: wal.syncSeconds,
                targetWalWriteSeconds: wal.writeSeconds,
                targetCheckpoints: wal.checkpoints,
                ...(Object.keys(io).length ? { targetIo: io } : {}),
                ...(diff.length ? { note: diff.join('; ') } : {}),
                ...(r.reported ? { reported: r.reported } : {}),
                ...(crossed ? { sourceLink: linkNote(crossed, o.link?.bytesPerSecond ?? 0) } : {}),
                ...streamNote(r.reported, o.link?.bytesPerSecond ?? 0),
              });
              log(
                `bench: ${peer.label}: ${r.seconds.toFixed(1)}s` +
                  `${r.cpuSeconds !== undefined ? `, client CPU ${r.cpuSeconds.toFixed(2)}s` : ''}` +
                  `${r.peakRssBytes ? `, peak RSS ${(r.peakRssBytes / MB).toFixed(0)} MB` : ''}` +
                  `, target WAL ${(wal.bytes / MB).toFixed(0)} MB (${wal.syncs} fsyncs, ${wal.syncSeconds.toFixed(2)} s syncing, ${wal.writeSeconds.toFixed(2)} s writing, ${wal.checkpoints} checkpoints)` +
                  `${crossed ? `, ${crossed.roundTrips} source round trips over ${crossed.connections} connections, ${(crossed.down / 1e6).toFixed(1)} MB down / ${(crossed.up / 1e6).toFixed(1)} MB up through the proxy` : ''}` +
                  `${diff.length ? ` — WRONG RESULT: ${diff.join('; ')}` : ''}`,
              );
              if (peer.id === 'pgshift' && o.verify) {
                // Through the same link as the copy: a remote source is remote for verify too.
                const v = { target, jobs: o.jobs, copySeconds: r.seconds, commands, logFile: join(scratch, 'verify.log'), link };
                verify = await timeVerify({ ...v, source: peerSource, bin: PGSHIFT_BIN }, log);
                if (o.verifyAlso) verify.also = { ...(await timeVerify({ ...v, source: peerSource, bin: o.verifyAlso }, log)), bin: o.verifyAlso };
              }
            } catch (err) {
              const note = err instanceof Error ? err.message : String(err);
              log(`bench: ${peer.label}: FAILED — ${note}`);
              peers.push({ ...base, status: 'failed', note });
            }
          }
        }
        const peers: PeerResult[] = [...attempts.values()].map((all) => {
          const failed = all.find((r) => r.status !== 'ok');
          if (failed) return failed;
          // Three rounds or more: the median run counts (its CPU, RSS and WAL with it); fewer: the best.
          const pick =
            all.length >= 3
              ? all.find((r) => r.seconds === median(all.map((x) => x.seconds ?? Infinity)))!
              : all.reduce((a, b) => ((b.seconds ?? Infinity) < (a.seconds ?? Infinity) ? b : a));
          return {
            ...pick,
            pick: all.length >= 3 ? ('median' as const) : ('best' as const),
            runs: all.map((r) => Number((r.seconds ?? 0).toFixed(2))),
            cpuRuns: all.map((r) => Number((r.cpuSeconds ?? 0).toFixed(2))),
          };
        });
        const pgshiftSeconds = peers.find((p) => p.id === 'pgshift' && p.status === 'ok')?.seconds;
        if (pgshiftSeconds) for (const p of peers) if (p.seconds) p.ratioVsPgshift = p.seconds / pgshiftSeconds;
        runs.push({
          startedAt,
          shape,
          footing: o.footing,
          machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? '?', memoryBytes: totalmem(), node: process.version, loadAverage: loadavg() },
          servers: {
            source: sourceVersion,
            target: targetVersion,
            embedded: servers.embedded,
            note: servers.embedded ? footingNote(o.footing) : 'External servers given with --source-admin/--target-admin.',
          },
          fairness: `${roleNote(o.roles)}, without compression, with parallelism ${o.jobs}, into a freshly created empty database${o.rounds > 1 ? `; ${o.rounds} rounds, every other one in reverse peer order` : ''}.`,
          ...(o.roles.sourceOwner || o.roles.targetNonSuper ? { roles: o.roles } : {}),
          loadAverageAtStart: loadAtStart,
          dataset: {
            requestedMb: o.mb,
            sourceBytes,
            tables: tables.map((t) => ({ name: t.name, rows: want.counts[t.name] ?? 0, bytes: t.bytes })),
            ...(generatedSeconds ? { generatedSeconds } : {}),
          },
          jobs: o.jobs,
          ...(o.link ? { link: o.link } : {}),
          peers,
          verify,
        });
        log(markdown(runs[runs.length - 1]!));
      }
      await link?.close();
      if (!o.sourceDb && !o.keepSource) await sql(servers.sourceAdmin, `DROP DATABASE IF EXISTS ${sourceDb} WITH (FORCE)`);
    }
    return { startedAt, finishedAt: new Date().toISOString(), footing: o.footing, runs };
  } finally {
    await servers?.stop();
    if (o.keepLogs) {
      mkdirSync(o.keepLogs, { recursive: true });
      for (const f of readdirSync(scratch).filter((n) => n.endsWith('.log'))) copyFileSync(join(scratch, f), join(o.keepLogs, f));
    }
    rmSync(scratch, { recursive: true, force: true });
  }
}

interface VerifyRun {
  source: string;
  target: string;
  jobs: number;
  copySeconds: number;
  commands: string[];
  logFile: string;
  /** The latency proxy the source is reached through: its counts are the verify's. */
  link?: LatencyProxy;
  bin: string;
}

async function timeVerify(v: VerifyRun, log: (l: string) => void): Promise<VerifyResult> {
  const command = 'pgshift verify --source $SOURCE --target $TARGET --jobs 2 --json';
  if (!v.commands.includes('verify')) return { status: 'skipped', command, note: '`pgshift verify` is not registered in this build yet' };
  log(`bench: pgshift verify${v.bin === PGSHIFT_BIN ? '' : ` (${v.bin})`} …`);
  try {
    v.link?.reset();
    const r = await runOne(
      { bin: process.execPath, args: [v.bin, 'verify', '--source', v.source, '--target', v.target, '--jobs', String(v.jobs), '--json'] },
      { logFile: v.logFile, okCodes: [0, 1] },
    );
    const crossed = v.link?.counts();
    let reported: unknown;
    try {
      // What it found and counted, not its per-table lists (thousands of tables: megabytes).
      const { ok, summary, seconds, roundTrips } = JSON.parse(r.stdout) as Record<string, unknown>;
      reported = { ok, summary, seconds, roundTrips };
    } catch {
      reported = undefined;
    }
    log(
      `bench: pgshift verify: ${r.seconds.toFixed(1)}s, exit ${r.code}${crossed ? `, ${crossed.roundTrips} source round trips over ${crossed.connections} connections` : ''}`,
    );
    return {
      status: r.code === 0 ? 'ok' : 'differences',
      command,
      seconds: r.seconds,
      ratioVsCopy: r.seconds / v.copySeconds,
      ...(crossed ? { sourceLink: { roundTrips: crossed.roundTrips, connections: crossed.connections, downBytes: crossed.down } } : {}),
      reported,
    };
  } catch (err) {
    return { status: 'failed', command, note: err instanceof Error ? err.message : String(err) };
  }
}

function resultFile(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const now = new Date();
  const day = now.toISOString().slice(0, 10);
  const plain = join(dir, `copy-${day}.json`);
  return existsSync(plain) ? join(dir, `copy-${day}-${now.toISOString().slice(11, 19).replace(/:/g, '')}.json`) : plain;
}

async function cli(): Promise<number> {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '200' },
      jobs: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '2' },
      peers: { type: 'string', default: PEERS.map((p) => p.id).join(',') },
      shape: { type: 'string', default: 'mixed' },
      targets: { type: 'string', default: '17,15' },
      'fast-servers': { type: 'boolean', default: false },
      'pgshift-args': { type: 'string', default: '' },
      'no-verify': { type: 'boolean', default: false },
      'verify-also': { type: 'string' },
      'source-admin': { type: 'string' },
      'target-admin': { type: 'string' },
      'source-db': { type: 'string' },
      tables: { type: 'string' },
      'rows-per-table': { type: 'string' },
      rtt: { type: 'string', default: '0' },
      'source-tls-owner': { type: 'boolean', default: false },
      'source-replication': { type: 'boolean', default: false },
      'target-nonsuper': { type: 'boolean', default: false },
      bandwidth: { type: 'string' },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
      'keep-logs': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const usage =
    'usage: npm run bench -- [--mb 200] [--jobs 2] [--rounds 2] [--peers ' +
    PEERS.map((p) => p.id).join(',') +
    ']\n' +
    '         [--shape ' +
    SHAPES.join('|') +
    '[,…]] [--targets 17,15] [--fast-servers] [--pgshift-args "--analyze end"]\n' +
    '         [--no-verify] [--source-admin URL --target-admin URL] [--source-db NAME] [--out DIR]\n' +
    '         [--tables N] [--rows-per-table N] [--rtt MS] [--bandwidth 200MB]\n' +
    '         [--source-tls-owner [--source-replication]] [--target-nonsuper] [--keep-logs DIR]\n' +
    '  Without admin URLs, starts embedded PostgreSQL 15 (source) and the --targets majors, durable (fsync on,\n' +
    '  full_page_writes on, synchronous_commit on, shared_buffers 512MB, wal_level replica on the targets);\n' +
    '  --fast-servers runs them with fsync off (the CPU-only view).\n' +
    '  --shape: mixed (accounts/documents/events), narrow (one big pgbench_accounts), wide-values (8 MB values),\n' +
    '  many-tables (1,000 tables in 20 schemas), wide-rows (1,000 columns); several run one after another.\n' +
    '  --tables N / --rows-per-table N: many-tables with N tables / N rows each (0: empty tables, for the\n' +
    '  per-table overhead: npm run bench -- --shape many-tables --tables 3000 --rows-per-table 0 --peers pgshift).\n' +
    '  --source-db uses an existing source database as is (no generation).\n' +
    '  --rounds N runs every peer N times (same order each round) and reports its best time.\n' +
    '  --rtt MS / --bandwidth 200MB: every peer reaches the source through a TCP proxy (bench/latency-proxy.ts)\n' +
    "  adding MS of round trip and capping each direction; the proxy counts each peer's source round trips.\n" +
    '  --source-tls-owner: every peer reaches the source as a non-superuser owner of the database over TLS (Heroku-like;\n' +
    '  NOREPLICATION unless --source-replication); --target-nonsuper: the target database is owned by a non-superuser,\n' +
    '  NOCREATEDB role the peers connect as, over TLS (RDS-like). The floor stays superuser (server-side COPY to a FIFO).\n' +
    '  --keep-logs DIR: keep every peer\'s log (pgshift\'s debug log with --pgshift-args "--log-level debug") in DIR.\n' +
    '  --verify-also PATH: also time the verify of another pgshift build (its bin/pgshift.js), e.g. before a change.\n' +
    '  A remote source, many small tables: npm run bench -- --shape many-tables --tables 1000 --rtt 40 --bandwidth 200MB\n';
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const mb = Number(values.mb);
  const jobs = Number(values.jobs);
  const rounds = Number(values.rounds);
  const list = (v: string) =>
    v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const peers = list(values.peers);
  const shapes = list(values.shape);
  const targets = list(values.targets).map(Number);
  const count = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const many: ManyTablesOptions = { tables: count(values.tables), rowsPerTable: count(values['rows-per-table']) };
  const badCount = [many.tables, many.rowsPerTable].some((n) => n !== undefined && !(Number.isInteger(n) && n >= 0)) || many.tables === 0;
  const unknown = [...peers.filter((p) => !PEERS.some((q) => q.id === p)), ...shapes.filter((x) => !(SHAPES as readonly string[]).includes(x))];
  if (
    !(mb > 0) ||
    !Number.isInteger(jobs) ||
    jobs < 1 ||
    unknown.length ||
    !Number.isInteger(rounds) ||
    rounds < 1 ||
    !targets.length ||
    targets.some((t) => !MAJORS.includes(t as Major)) ||
    badCount ||
    Boolean(values['source-admin']) !== Boolean(values['target-admin'])
  ) {
    process.stderr.write(`bench: bad arguments${unknown.length ? ` (unknown peer or shape ${unknown.join(', ')})` : ''}\n${usage}`);
    return 2;
  }
  const rttMs = Number(values.rtt);
  let bytesPerSecond = 0;
  try {
    bytesPerSecond = parseBandwidth(values.bandwidth);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  if (!(rttMs >= 0)) {
    process.stderr.write(`bench: bad --rtt ${values.rtt}\n${usage}`);
    return 2;
  }
  const link = rttMs > 0 || bytesPerSecond > 0 ? { rttMs, bytesPerSecond } : undefined;
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const record = await runBench(
    {
      mb,
      jobs,
      rounds,
      peers,
      shapes: shapes as DatasetShape[],
      targets: targets as Major[],
      footing: values['fast-servers'] ? 'fast' : 'durable',
      pgshiftArgs: values['pgshift-args'].split(' ').filter(Boolean),
      verify: !values['no-verify'],
      sourceAdmin: values['source-admin'],
      targetAdmin: values['target-admin'],
      sourceDb: values['source-db'],
      out: values.out,
      many,
      link,
      roles: {
        ...(values['source-tls-owner'] ? { sourceOwner: { replication: values['source-replication'] } } : {}),
        ...(values['target-nonsuper'] ? { targetNonSuper: true } : {}),
      },
      verifyAlso: values['verify-also'],
      keepLogs: values['keep-logs'],
    },
    log,
  );
  const file = resultFile(values.out);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  log(`bench: results written to ${file}`);
  process.stdout.write(markdownAll(record));
  return record.runs.some((r) => r.peers.some((p) => p.status === 'failed' || p.status === 'wrong-result')) ? 1 : 0;
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
