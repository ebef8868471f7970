// The benchmark's record (JSON in bench/results/) and its Markdown rendering for docs/benchmarks.md.
import { formatBytes } from '../src/format.js';

export interface PeerResult {
  id: string;
  label: string;
  command: string;
  status: 'ok' | 'failed' | 'skipped' | 'wrong-result';
  seconds?: number;
  mbPerSecond?: number;
  /** Peer seconds / pgshift seconds: above 1 means slower than pgshift. */
  ratioVsPgshift?: number;
  peakRssBytes?: number;
  /** Why skipped/failed, or what the independent row-count check found. */
  note?: string;
  reported?: unknown;
  /** Seconds of every round, when run more than once (seconds is the median of 3 or more, else the best). */
  runs?: number[];
  pick?: 'median' | 'best';
  /** User + system CPU seconds of every client process of the peer (the floor: only its schema step). */
  cpuSeconds?: number;
  cpuRuns?: number[];
  /** WAL the target server wrote during the peer's run, and its WAL fsyncs (pg_stat_wal.wal_sync). */
  targetWalBytes?: number;
  targetWalSyncs?: number;
  /** Seconds the target spent in WAL fsyncs and WAL writes (track_wal_io_timing), checkpoints it started. */
  targetWalSyncSeconds?: number;
  targetWalWriteSeconds?: number;
  targetCheckpoints?: number;
  /** Relation I/O on the target during the run, by backend type, in 8 kB blocks (pg_stat_io, PostgreSQL 16+). */
  targetIo?: Record<string, { reads: number; writes: number; extends: number; writebacks: number; fsyncs: number }>;
  /** Through the latency proxy (--rtt/--bandwidth): what crossed the link to the source during the run. */
  sourceLink?: {
    roundTrips: number;
    queries: number;
    connections: number;
    downBytes: number;
    upBytes: number;
    /** The proxy's 100 ms slots that carried data down at ≥ 10 % of the cap: seconds, bytes, bytes ÷ (cap × seconds). */
    downStreamingSeconds?: number;
    downStreamingBytes?: number;
    downStreamingUse?: number;
  };
  /**
   * pgshift's data phase as it reported it (copy --json `stream`): bytes on the wire, seconds streaming and, with
   * a capped link, its use = wireBytes ÷ (cap × seconds); seconds with 1, 2, … streams at once.
   */
  stream?: { wireBytes: number; seconds: number; linkUse?: number; concurrency: Record<string, number> };
}

export interface VerifyResult {
  status: 'ok' | 'failed' | 'skipped' | 'differences';
  command: string;
  seconds?: number;
  /** verify seconds / pgshift copy seconds. */
  ratioVsCopy?: number;
  note?: string;
  reported?: unknown;
  /** Through the latency proxy: what crossed the link to the source during the verify. */
  sourceLink?: { roundTrips: number; connections: number; downBytes: number };
  /** --verify-also BIN: the same verify by another pgshift build (before a change), on the same footing. */
  also?: VerifyResult & { bin: string };
}

export interface BenchRecord {
  startedAt: string;
  shape: string;
  footing: string;
  machine: { cpus: number; cpuModel: string; memoryBytes: number; node: string; loadAverage?: number[] };
  servers: { source: string; target: string; embedded: boolean; note: string };
  fairness: string;
  /** The roles the peers connected as (bench --source-tls-owner / --target-nonsuper); absent: superuser. */
  roles?: { sourceOwner?: { replication: boolean }; targetNonSuper?: boolean };
  loadAverageAtStart?: number[];
  dataset: { requestedMb: number; sourceBytes: number; tables: Array<{ name: string; rows: number; bytes: number }>; generatedSeconds?: number };
  jobs: number;
  /** The link between the clients and the source (bench --rtt/--bandwidth); absent: a direct connection. */
  link?: { rttMs: number; bytesPerSecond: number };
  peers: PeerResult[];
  verify: VerifyResult;
}

/** One bench invocation: a record per (shape, target). */
export interface BenchFile {
  startedAt: string;
  finishedAt: string;
  footing: string;
  runs: BenchRecord[];
}

const GB = 1024 ** 3;

const cell = (s: string) => s.replace(/\|/g, '\\|');
const secs = (s?: number) => (s === undefined ? '–' : s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`);

export function markdown(r: BenchRecord): string {
  const pgshift = r.peers.find((p) => p.id === 'pgshift' && p.status === 'ok');
  const floor = r.peers.find((p) => p.id === 'floor' && p.status === 'ok');
  const lines = [
    `**${r.shape}**, ${r.footing} servers${r.link ? `, source through a ${r.link.rttMs} ms round-trip link${r.link.bytesPerSecond ? ` capped at ${(r.link.bytesPerSecond / 1e6).toFixed(0)} MB/s` : ''}` : ''}, ` +
      `PostgreSQL ${r.servers.source} → ${r.servers.target}: ${formatBytes(r.dataset.sourceBytes)} ` +
      `(${r.dataset.tables.length > 4 ? `${r.dataset.tables.length} tables` : r.dataset.tables.map((t) => `${t.name} ${t.rows.toLocaleString('en-US')} rows`).join(', ')}). ` +
      `${r.roles ? `${r.roles.sourceOwner ? `Source: non-superuser owner over TLS${r.roles.sourceOwner.replication ? ' with REPLICATION' : ''}. ` : ''}${r.roles.targetNonSuper ? 'Target: non-superuser owner over TLS. ' : ''}` : ''}` +
      `${r.machine.cpus} cores, parallelism ${r.jobs}, load average ${r.loadAverageAtStart ? `at the start ${r.loadAverageAtStart.map((x) => x.toFixed(1)).join(' / ')}, ` : ''}at the end ${r.machine.loadAverage?.map((x) => x.toFixed(1)).join(' / ') ?? '?'}.`,
    '',
    '| Tool | Wall time | MB/s | vs pgshift | vs floor | Client CPU | CPU s/GB | Peak RSS | Target WAL | Notes |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const p of r.peers) {
    const notes = [
      ...(p.sourceLink
        ? [
            `${p.sourceLink.roundTrips} source round trips, ${p.sourceLink.connections} connections, ${formatBytes(p.sourceLink.downBytes)} down / ${formatBytes(p.sourceLink.upBytes)} up` +
              `${p.sourceLink.downStreamingUse !== undefined ? `, link ${(p.sourceLink.downStreamingUse * 100).toFixed(1)} % full over its ${p.sourceLink.downStreamingSeconds!.toFixed(1)} s of streaming (proxy)` : ''}`,
          ]
        : []),
      ...(p.stream
        ? [
            `data: ${formatBytes(p.stream.wireBytes)} on the wire in ${p.stream.seconds.toFixed(1)} s streaming` +
              `${p.stream.linkUse !== undefined ? ` = ${(p.stream.linkUse * 100).toFixed(1)} % of the link` : ''}` +
              ` (${Object.entries(p.stream.concurrency)
                .map(([k, v]) => `${v.toFixed(1)} s with ${k}`)
                .join(', ')})`,
          ]
        : []),
      p.runs && p.runs.length > 1 ? `${p.pick ?? 'best'} of ${p.runs.map((x) => x.toFixed(1)).join(' / ')} s` : '',
      p.id === 'floor' ? 'CPU: schema step only' : '',
      p.targetWalSyncSeconds !== undefined && p.targetWalSyncs ? `target WAL fsync ${p.targetWalSyncSeconds.toFixed(1)} s (${p.targetWalSyncs}×)` : '',
      p.targetCheckpoints ? `${p.targetCheckpoints} checkpoint${p.targetCheckpoints > 1 ? 's' : ''}` : '',
      p.status === 'ok' ? '' : `${p.status}${p.note ? `: ${p.note.split('\n')[0]}` : ''}`,
    ].filter(Boolean);
    const gb = r.dataset.sourceBytes / GB;
    lines.push(
      `| ${cell(p.label)} | ${secs(p.seconds)} | ${p.mbPerSecond?.toFixed(1) ?? '–'} | ` +
        `${p.ratioVsPgshift === undefined ? '–' : `${p.ratioVsPgshift.toFixed(2)}×`} | ` +
        `${p.seconds && floor?.seconds ? `${(p.seconds / floor.seconds).toFixed(2)}×` : '–'} | ` +
        `${p.cpuSeconds === undefined ? '–' : `${p.cpuSeconds.toFixed(2)} s`} | ${p.cpuSeconds === undefined ? '–' : (p.cpuSeconds / gb).toFixed(2)} | ` +
        `${p.peakRssBytes ? formatBytes(p.peakRssBytes) : '–'} | ${p.targetWalBytes === undefined ? '–' : formatBytes(p.targetWalBytes)} | ${cell(notes.join('; '))} |`,
    );
  }
  // Per-table overhead (issue #14): what each tool pays per table, most telling with empty tables.
  if (r.dataset.tables.length >= 100) {
    const n = r.dataset.tables.length;
    const per = r.peers.filter((p) => p.status === 'ok' && p.seconds !== undefined && p.id !== 'floor');
    if (per.length) {
      lines.push(
        '',
        `Per table (${n} tables): ${per.map((p) => `${p.label} ${((p.seconds! / n) * 1000).toFixed(1)} ms wall${p.cpuSeconds === undefined ? '' : `, ${((p.cpuSeconds / n) * 1000).toFixed(1)} ms client CPU`}`).join('; ')}.`,
      );
    }
  }
  const phases = (pgshift?.reported as { phases?: Record<string, number> } | undefined)?.phases;
  if (phases)
    lines.push(
      '',
      `pgshift phases: ${Object.entries(phases)
        .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
        .join(', ')}.`,
    );
  const v = r.verify;
  if (v.status !== 'skipped') {
    lines.push(
      '',
      v.status === 'ok' || v.status === 'differences'
        ? `pgshift verify on the copied database: ${secs(v.seconds)} (${v.ratioVsCopy?.toFixed(2) ?? '?'}× the copy time)` +
            `${v.status === 'differences' ? ' — it reported DIFFERENCES' : ', source and target equal'}.`
        : `pgshift verify: ${v.status}${v.note ? ` (${v.note.split('\n')[0]})` : ''}.`,
    );
    const link = (x: VerifyResult) => (x.sourceLink ? `, ${x.sourceLink.roundTrips} source round trips over ${x.sourceLink.connections} connections` : '');
    if (v.sourceLink) lines.push(`Through the link${link(v)}.`);
    if (v.also) lines.push(`The same verify by ${v.also.bin}: ${v.also.seconds !== undefined ? secs(v.also.seconds) : v.also.status}${link(v.also)}.`);
  }
  return `${lines.join('\n')}\n`;
}

export function markdownAll(f: BenchFile): string {
  const first = f.runs[0];
  const out = f.runs.map((r) => markdown(r));
  if (first) {
    out.push(
      `${first.servers.note} ${first.fairness}`,
      '',
      `Commands ($SOURCE/$TARGET are ${first.roles ? 'the URLs of the roles above' : 'superuser URLs'}):`,
      '',
    );
    for (const p of first.peers) out.push(`- ${cell(p.label)}: \`${p.command}\``);
  }
  return `${out.join('\n')}\n`;
}
