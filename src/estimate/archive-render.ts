// `pgshift estimate --source FILE` for people: copy's phases with their times, the total with its range, the
// largest tables (their size in the archive and as COPY text), and what the probe measured.
import { formatBytes, renderTable } from '../format.js';
import type { ArchiveEstimateReport } from './archive.js';
import { renderPhases, seconds } from './render.js';

export function renderArchiveEstimate(r: ArchiveEstimateReport): string {
  const out: string[] = [];
  out.push(`Estimate for pgshift copy --source ${r.source} → ${r.target}`);
  out.push(
    `  archive: pg_dump ${r.archive.pgDumpVersion ?? '?'}, ${r.archive.format} format, ${r.archive.compression}; ` +
      `${r.tables.length} tables, ${formatBytes(r.bytes.archive)} of rows in the file ≈ ${formatBytes(r.bytes.plain)} as COPY text; ` +
      `${r.builds} index/key builds, ${r.foreignKeys} foreign keys; --jobs ${r.jobs}, --index-jobs ${r.indexJobs}; calibrated by a ${seconds(r.probe.seconds)} probe`,
  );
  out.push('');
  out.push(...renderPhases(r));
  out.push('');
  const shown = r.tables.slice(0, 10);
  out.push(`Largest tables${r.tables.length > shown.length ? ` (${shown.length} of ${r.tables.length})` : ''}:`);
  out.push(
    renderTable(
      ['table', 'in the archive', 'as COPY text', 'rows in at', 'builds'],
      shown.map((t) => [
        t.table,
        formatBytes(t.archiveBytes),
        `${formatBytes(t.plainBytes)}${t.sampled ? '' : ' (scaled)'}`,
        seconds(t.loadedAt),
        String(t.builds),
      ]),
      [false, true, true, true, true],
    ),
  );
  out.push('');
  out.push(`Connections: target ${r.connections.target} (--jobs + --index-jobs + 1); the source is the file`);
  if (r.probe.notes.length) {
    out.push('');
    out.push('Probe (one transaction on the target, rolled back):');
    for (const n of r.probe.notes) out.push(`  - ${n}`);
  }
  return out.join('\n');
}
