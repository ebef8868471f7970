// The benchmark's record (JSON in bench/results/) and its Markdown rendering for the README.
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
  /** Seconds of every round, when run more than once (seconds is the best). */
  runs?: number[];
}

export interface VerifyResult {
  status: 'ok' | 'failed' | 'skipped' | 'differences';
  command: string;
  seconds?: number;
  /** verify seconds / pgshift copy seconds. */
  ratioVsCopy?: number;
  note?: string;
  reported?: unknown;
}

export interface BenchRecord {
  startedAt: string;
  machine: { cpus: number; cpuModel: string; memoryBytes: number; node: string };
  servers: { source: string; target: string; embedded: boolean; note: string };
  fairness: string;
  dataset: { requestedMb: number; sourceBytes: number; tables: Array<{ name: string; rows: number; bytes: number }>; generatedSeconds?: number };
  jobs: number;
  peers: PeerResult[];
  verify: VerifyResult;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');
const secs = (s?: number) => (s === undefined ? '–' : s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`);

export function markdown(r: BenchRecord): string {
  const lines = [
    `Source: PostgreSQL ${r.servers.source}, ${formatBytes(r.dataset.sourceBytes)} ` +
      `(${r.dataset.tables.map((t) => `${t.name} ${t.rows.toLocaleString('en-US')} rows`).join(', ')}); ` +
      `target: PostgreSQL ${r.servers.target}. ${r.machine.cpus} cores (${r.machine.cpuModel}), parallelism ${r.jobs}. ` +
      `${r.servers.note} ${r.fairness}`,
    '',
    '| Tool | Wall time | MB/s | vs pgshift | Notes |',
    '|---|---:|---:|---:|---|',
  ];
  for (const p of r.peers) {
    const notes = [
      p.runs && p.runs.length > 1 ? `best of ${p.runs.map((x) => x.toFixed(1)).join(' / ')} s` : '',
      p.peakRssBytes ? `peak RSS ${formatBytes(p.peakRssBytes)}` : '',
      p.status === 'ok' ? '' : `${p.status}${p.note ? `: ${p.note.split('\n')[0]}` : ''}`,
    ].filter(Boolean);
    lines.push(
      `| ${cell(p.label)} | ${secs(p.seconds)} | ${p.mbPerSecond?.toFixed(1) ?? '–'} | ` +
        `${p.ratioVsPgshift === undefined ? '–' : `${p.ratioVsPgshift.toFixed(2)}×`} | ${cell(notes.join('; '))} |`,
    );
  }
  const v = r.verify;
  lines.push(
    '',
    v.status === 'ok' || v.status === 'differences'
      ? `pgshift verify on the copied database: ${secs(v.seconds)} (${v.ratioVsCopy?.toFixed(2) ?? '?'}× the copy time)` +
        `${v.status === 'differences' ? ' — it reported DIFFERENCES' : ', source and target equal'}.`
      : `pgshift verify: ${v.status}${v.note ? ` (${v.note.split('\n')[0]})` : ''}.`,
  );
  lines.push('', 'Commands ($SOURCE/$TARGET are superuser URLs):', '');
  for (const p of r.peers) lines.push(`- ${cell(p.label)}: \`${p.command}\``);
  return `${lines.join('\n')}\n`;
}
