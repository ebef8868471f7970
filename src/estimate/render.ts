// The estimate for people: phases, total and range, critical path, connections, the freeze under each strategy,
// and on a terminal a text timeline of the simulated schedule (which connection copies or builds what, when).
import { formatBytes, formatDuration, renderTable } from '../format.js';
import type { EstimateReport } from './index.js';

/** Durations under a minute keep a decimal: a 4.2 s copy is not "4s". */
export function seconds(s: number): string {
  return s < 10 ? `${s.toFixed(1)}s` : formatDuration(s);
}

const SYMBOLS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** One row per connection, one column per time slice; each table gets a letter (legend below). */
export function renderTimeline(r: EstimateReport, width = 60): string {
  const segs = r.schedule;
  if (segs.length === 0) return '';
  const dataPhase = r.phases.find((p) => p.name === 'data')!;
  const t0 = dataPhase.start;
  const t1 = Math.max(...segs.map((s) => s.end), t0 + 1e-6);
  const step = (t1 - t0) / width;
  const lanes = [...new Set(segs.map((s) => s.lane))].sort((a, b) =>
    a.startsWith('copy') === b.startsWith('copy') ? a.localeCompare(b, 'en', { numeric: true }) : a.startsWith('copy') ? -1 : 1,
  );
  // Letters by total time on the table, so the tables that matter get A, B, C.
  const weight = new Map<string, number>();
  for (const s of segs) weight.set(s.table, (weight.get(s.table) ?? 0) + (s.end - s.start));
  const order = [...weight.entries()].sort((a, b) => b[1] - a[1]).map(([t]) => t);
  const letter = new Map(order.map((t, i) => [t, SYMBOLS[i] ?? '+']));
  const rows = lanes.map((lane) => {
    const cells = Array.from({ length: width }, () => ' ');
    for (const s of segs.filter((x) => x.lane === lane)) {
      const a = Math.floor((s.start - t0) / step);
      const b = Math.max(a + 1, Math.ceil((s.end - t0) / step));
      const ch = s.kind === 'chunk' ? letter.get(s.table)! : s.kind === 'foreign key' ? '~' : letter.get(s.table)!.toLowerCase();
      for (let i = Math.max(0, a); i < Math.min(width, b); i++) cells[i] = ch;
    }
    return `  ${lane.padEnd(8)} |${cells.join('')}|`;
  });
  const shown = order.slice(0, 12).map((t) => `${letter.get(t)} ${t}`);
  const legend = `  ${shown.join('   ')}${order.length > 12 ? `   (+ ${order.length - 12} more as other letters)` : ''}`;
  return [
    `Timeline of the data phase (${seconds(t0)} → ${seconds(t1)}, one column ≈ ${step < 1 ? `${(step * 1000).toFixed(0)} ms` : seconds(step)}; capital = COPY, small = its index builds, ~ = foreign key)`,
    ...rows,
    legend,
  ].join('\n');
}

/** The phase table with the total and its range, and what the range rests on: live and archive estimates alike. */
export function renderPhases(r: {
  phases: { name: string; seconds: number; start: number }[];
  totalSeconds: number;
  low: number;
  high: number;
  rangeBasis: string;
}): string[] {
  return [
    renderTable(
      ['phase', 'time', 'starts at'],
      [
        ...r.phases.map((p) => [p.name, seconds(p.seconds), seconds(p.start)]),
        ['total', seconds(r.totalSeconds), `range ${seconds(r.low)} – ${seconds(r.high)}`],
      ],
      [false, true, false],
    ),
    `  range: ${r.rangeBasis}`,
  ];
}

export function renderEstimate(r: EstimateReport, o: { timeline: boolean }): string {
  const out: string[] = [];
  out.push(`Estimate for pgshift copy ${r.source} → ${r.target ?? '(no target given)'}`);
  out.push(
    `  ${r.tables} tables, ${formatBytes(r.bytes)} in ${r.chunks} chunks, ${r.builds} index/key builds; --jobs ${r.jobs}, --index-jobs ${r.indexJobs}; ` +
      (r.calibrated ? `calibrated by a ${seconds(r.probe.seconds)} probe` : 'UNCALIBRATED'),
  );
  out.push('');
  out.push(...renderPhases(r));
  out.push('');
  if (r.criticalPath.length) {
    out.push('Critical path of the data phase (each step waited for the one before):');
    out.push(
      renderTable(
        ['table', 'step', 'from', 'takes'],
        r.criticalPath.map((c) => [c.table, c.step, seconds(c.start), seconds(c.seconds)]),
        [false, false, true, true],
      ),
    );
    out.push('');
  }
  out.push(`Connections: source ${r.connections.source} (--jobs + 2), target ${r.connections.target} (--jobs + --index-jobs + 2)`);
  out.push('');
  if (o.timeline && r.schedule.length) {
    out.push(renderTimeline(r));
    out.push('');
  }
  const s = r.strategy;
  const w = s.writeRate;
  out.push('Freeze (writes to the source stopped)');
  out.push(
    `  source writes now: ${w.walBytesPerSecond === null ? 'WAL rate unknown (standby?)' : `${formatBytes(w.walBytesPerSecond)}/s of WAL`}, ` +
      `${w.commitsPerSecond === null ? '?' : w.commitsPerSecond.toFixed(1)} commits/s (sampled over ${w.sampledSeconds.toFixed(1)}s)`,
  );
  out.push(`  logical replication: ${s.logicalReplication.available ? 'available' : `not available — ${s.logicalReplication.reason}`}`);
  const mv = s.replication.matviews;
  out.push(`  dump/restore: copy ${seconds(r.totalSeconds)} + verify ${seconds(r.verifySeconds)} = ${seconds(s.dumpRestore.freezeSeconds)} frozen`);
  if (mv.views > 0) out.push(`    materialized views: ${seconds(mv.seconds)} of the copy (${mv.views} populated view(s) refreshed on the target)`);
  out.push(
    `  replication:  catch-up ${seconds(s.replication.catchUpSeconds)} + sequences${mv.views > 0 ? ` + materialized views ${seconds(mv.seconds)}` : ''} + verify ${seconds(r.verifySeconds)} = ${seconds(s.replication.freezeSeconds)} frozen` +
      (s.replication.available ? '' : ' (not available from this source)') +
      (s.replication.retainedWalBytes !== null ? `; the slot keeps ~${formatBytes(s.replication.retainedWalBytes)} of WAL on the source during the copy` : ''),
  );
  if (mv.views > 0) {
    out.push(
      `    materialized views: ${seconds(mv.seconds)} at replicate's finish (${mv.views} populated view(s), refreshed in dependency order); ` +
        `--no-refresh-matviews removes it from the freeze (then refresh them on the target after cutover)`,
    );
  }
  out.push(...renderTriggerCapture(s.triggers, r.verifySeconds));
  out.push(`  ${s.verdict}`);
  if (r.probe.notes.length) {
    out.push('');
    out.push('Probe:');
    for (const n of r.probe.notes) out.push(`  - ${n}`);
  }
  if (!r.calibrated) {
    out.push('');
    out.push(`UNCALIBRATED: the target side uses stated defaults. To calibrate, ${r.howToCalibrate}.`);
  }
  return out.join('\n');
}

/** The trigger-capture line of the freeze section: its freeze, its drain, what it costs the source. */
function renderTriggerCapture(t: EstimateReport['strategy']['triggers'], verifySeconds: number): string[] {
  const line =
    `  trigger capture: catch-up ${seconds(t.catchUpSeconds)} + finish ${seconds(t.finishSeconds)} + verify ${seconds(verifySeconds)} = ${seconds(t.freezeSeconds)} frozen` +
    (t.available ? '' : ` (${t.reason ?? 'not available'})`);
  if (!t.available) return [line];
  const rate = t.changesPerSecond;
  const backlog = t.backlogAfterCopy;
  return [
    line,
    `    drains about ${Math.round(t.drainChangesPerSecond).toLocaleString('en-US')} changes/s (+ ${seconds(t.batchRoundTripSeconds)} of round trips a batch); the source changes ${rate === null ? '? rows/s' : `${rate.toFixed(1)} rows/s`}` +
      (backlog.changes === null
        ? ''
        : backlog.drainSeconds === null
          ? ' — faster than the applier drains: the capture log would never empty'
          : `, so the log holds ~${Math.round(backlog.changes).toLocaleString('en-US')} changes after the copy, drained in ${seconds(backlog.drainSeconds)} while the source stays live`),
    `    source overhead: ${t.sourceOverhead.basis}${t.sourceOverhead.coreShare === null ? '' : `; at the sampled rate ${t.sourceOverhead.coreShare < 0.001 ? 'under 0.1 %' : `at most ${(t.sourceOverhead.coreShare * 100).toFixed(1)} %`} of one source core`}`,
  ];
}
