// Human rendering of a verify report: a table of tables, the differences under it, sequences, schema, and
// one closing line that says what to do next.
import { renderTable, formatCount } from '../format.js';
import { derivedStatus } from './derived.js';
import type { RowDifference, TableReport, VerifyReport } from './types.js';

/** Differences printed per table; the JSON carries all that were located. */
const SHOWN_PER_TABLE = 10;

const num = (n: number | null) => (n === null ? '—' : formatCount(n));

function keyText(key: Record<string, string | null>): string {
  return Object.entries(key)
    .map(([k, v]) => `${k}=${v ?? 'NULL'}`)
    .join(', ');
}

function describeDifference(d: RowDifference): string {
  const label = { missing: 'missing on target', extra: 'extra on target', different: 'different' }[d.kind];
  if (d.key) {
    const cols = d.columns?.length ? `: ${d.columns.map((c) => `${c.column} ${c.source ?? 'NULL'} → ${c.target ?? 'NULL'}`).join('; ')}` : '';
    return `${label.padEnd(17)} ${keyText(d.key)}${cols}`;
  }
  return `${label.padEnd(17)} ${d.count} × ${d.row ?? '(row not shown)'}`;
}

function tableStatus(t: TableReport): string {
  if (t.comparedAs === 'not compared') return t.notes.join('; ');
  if (t.match) return 'equal';
  const parts: string[] = [];
  if (t.missingRows) parts.push(`${t.missingRows} missing`);
  if (t.extraRows) parts.push(`${t.extraRows} extra`);
  if (t.differentRows) parts.push(`${t.differentRows} different`);
  if (t.truncated) parts.push('not all listed');
  return parts.join(', ') || t.notes.join('; ') || 'differs';
}

export function renderReport(r: VerifyReport): string {
  const out: string[] = [];
  out.push(`Source  ${r.source.url} (PostgreSQL ${r.source.serverVersion})`);
  out.push(`Target  ${r.target.url} (PostgreSQL ${r.target.serverVersion})`);
  if (r.online) out.push(onlineLine(r.online));
  out.push('');
  out.push(`Tables (${r.tables.length})`);
  if (r.tables.length) {
    out.push(
      renderTable(
        ['', 'table', 'source rows', 'target rows', 'compared by', 'result'],
        r.tables.map((t) => [
          t.match ? '✓' : '✗',
          t.table,
          num(t.sourceRows),
          num(t.targetRows),
          t.comparedAs === 'key' ? `key (${t.primaryKey!.join(', ')})` : t.comparedAs,
          tableStatus(t),
        ]),
        [false, false, true, true],
      ),
    );
  }
  for (const t of r.tables.filter((x) => !x.match && (x.differences.length || x.notes.length))) {
    out.push('');
    out.push(`  ✗ ${t.table}`);
    for (const n of t.notes) out.push(`      note: ${n}`);
    for (const d of t.differences.slice(0, SHOWN_PER_TABLE)) out.push(`      ${describeDifference(d)}`);
    const more = t.differences.length - SHOWN_PER_TABLE;
    if (more > 0 || t.truncated)
      out.push(`      … ${more > 0 ? `${more} more listed in --json` : ''}${t.truncated ? `${more > 0 ? '; ' : ''}more exist beyond --max-differences` : ''}`);
  }

  // Materialized views: derived data, never lost rows — but a stale one is what the application reads after cutover.
  const badDerived = r.derived.filter((d) => !d.match && !d.expected);
  out.push('');
  out.push(
    `Derived data — materialized views (${r.derived.length}): ${badDerived.length ? `${badDerived.length} differ` : r.derived.length ? 'all equal ✓' : 'none'}`,
  );
  for (const d of badDerived) out.push(`  ✗ ${d.table}: ${derivedStatus(d)}\n      ${d.remedy}`);
  for (const d of r.derived.filter((x) => x.expected)) out.push(`  expected ${d.table}: ${d.expected} (not a difference while it runs)`);

  const badSeq = r.sequences.filter((s) => !s.match && !s.expected);
  out.push('');
  const later = r.sequences.filter((s) => s.expected).length;
  const seqHead = badSeq.length ? `${badSeq.length} differ` : later ? 'no difference' : r.sequences.length ? 'all equal ✓' : 'none';
  out.push(
    `Sequences (${r.sequences.length}): ${seqHead}${later ? `; ${later} behind the source, synced at the finish of the replication (not a difference)` : ''}`,
  );
  const seqVal = (v: { lastValue: string; isCalled: boolean } | null) => (v ? `${v.lastValue}${v.isCalled ? '' : ' (not called)'}` : 'absent');
  for (const s of badSeq) out.push(`  ✗ ${s.sequence}: source ${seqVal(s.source)}, target ${seqVal(s.target)}`);

  out.push('');
  const schemaDiffs = r.schema.filter((d) => d.severity === 'difference');
  out.push(`Schema objects: ${schemaDiffs.length ? `${schemaDiffs.length} differ` : 'all equal ✓'}`);
  for (const d of r.schema) {
    const mark = d.expected ? 'expected' : d.severity === 'note' ? 'note' : '✗';
    if (d.expected) {
      out.push(`  ${mark} ${d.kind} ${d.object}: ${d.expected}`);
      continue;
    }
    if (d.difference === 'missing') out.push(`  ${mark} ${d.kind} ${d.object}: missing on target`);
    else if (d.difference === 'extra') out.push(`  ${mark} ${d.kind} ${d.object}: only on target`);
    else out.push(`  ${mark} ${d.kind} ${d.object}: differs\n      source: ${oneLine(d.source)}\n      target: ${oneLine(d.target)}`);
  }

  out.push('');
  const lo = r.largeObjects;
  if (lo.match) out.push(`Large objects (${num(lo.sourceCount)}): ${lo.sourceCount ? 'all equal ✓' : 'none'}`);
  else {
    const parts = [
      lo.missing && `${num(lo.missing)} missing on target`,
      lo.extra && `${num(lo.extra)} only on target`,
      lo.different && `${num(lo.different)} with other contents`,
    ].filter(Boolean);
    out.push(`Large objects: source ${num(lo.sourceCount)}, target ${num(lo.targetCount)} — ${parts.join(', ')}`);
    for (const d of lo.differences.slice(0, SHOWN_PER_TABLE)) {
      const size = (n: number | null) => (n === null ? 'absent' : `${num(n)} bytes`);
      const what = { missing: 'missing on target', extra: 'only on target', different: 'contents differ' }[d.kind];
      out.push(`  ✗ large object ${d.oid}: ${what} (source ${size(d.sourceBytes)}, target ${size(d.targetBytes)})`);
    }
    const more = lo.missing + lo.extra + lo.different - Math.min(lo.differences.length, SHOWN_PER_TABLE);
    if (more > 0) out.push(`  … ${num(more)} more${lo.truncated ? ' (the list stops at --max-differences)' : ' listed in --json'}`);
  }

  out.push('');
  out.push(`Not compared: ${r.notCompared.join('; ')}.`);
  out.push(`Compared ${num(r.summary.rowsCompared)} source rows in ${r.seconds.toFixed(1)}s.`);
  out.push(nextStep(r));
  return out.join('\n');
}

function onlineLine(o: NonNullable<VerifyReport['online']>): string {
  const held = o.heldMs === null ? '' : `, held ${o.heldMs} ms for the verify's slot`;
  const lag = o.lagAfterSeconds === null ? '' : `; lag after: ${o.lagAfterSeconds.toFixed(1)} s`;
  return `Online  both sides at ${o.capture === 'pgoutput' ? 'LSN ' : 'source snapshot '}${o.position} while replication runs (apply paused ${o.pauseMs} ms${held}${lag})`;
}

const oneLine = (s: string | null) => {
  const t = (s ?? '—').replace(/\s+/g, ' ');
  return t.length > 160 ? `${t.slice(0, 160)}…` : t;
};

function nextStep(r: VerifyReport): string {
  if (r.ok && r.online)
    return `Result: target matched source at ${r.online.position} while writes went on (recorded as the baseline). Writes still go on: freeze them and let replicate finish before switching traffic.`;
  if (r.ok) return 'Result: target matches source — safe to switch traffic.';
  const lines = ['Result: target does NOT match source — DO NOT switch traffic yet.'];
  for (const s of r.nextSteps) {
    lines.push(`  ${s.text}${s.sql || s.command ? ':' : ''}`);
    if (s.sql) lines.push(`      on the target: ${s.sql}`);
    if (s.command) lines.push(`      ${s.sql ? 'then:          ' : 'run: '}${s.command}`);
  }
  return lines.join('\n');
}
