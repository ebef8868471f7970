// Derived data: a materialized view holds what its query returned when it was last refreshed, on each side. Its
// contents differing is never lost data (the tables it reads are compared on their own) but it is still a
// difference: after a cutover the application reads the target's stale rows. Reported apart from the tables, with
// the refresh that fixes it; its definition (schema comparison) and populated state are always compared.
import { displayName } from '../db/ident.js';
import type { TablePair } from './plan.js';
import type { DerivedReport, SchemaDifference, TableReport } from './types.js';

export function toDerived(report: TableReport, pair: TablePair, schema: SchemaDifference[]): DerivedReport {
  const { source: s, target: t } = pair;
  const rel = (s ?? t)!;
  const plain = `${rel.schema}.${rel.name}`; // how the schema comparison names it (schema-sql.ts, format('%s.%s'))
  const def = schema.find((d) => d.kind === 'materialized view' && d.object === plain);
  const definition = !s ? 'extra' : !t ? 'missing' : def ? 'different' : 'equal';
  const populated = { source: s ? s.populated : null, target: t ? t.populated : null };
  const match = report.match && definition === 'equal' && populated.source === populated.target;
  const out: DerivedReport = { ...report, kind: 'materialized view', match, populated, definition, remedy: null };
  out.remedy = match ? null : derivedRemedy(out, displayName(rel.schema, rel.name));
  return out;
}

/** What differs, in a few words (the text report's line for this view). */
export function derivedStatus(d: DerivedReport): string {
  if (d.definition === 'missing') return 'missing on the target';
  if (d.definition === 'extra') return 'only on the target';
  const parts: string[] = [];
  if (d.definition === 'different') parts.push('definition differs (see Schema objects)');
  if (d.populated.source !== d.populated.target)
    parts.push(
      `populated on the ${d.populated.source ? 'source' : 'target'} only (WITH ${d.populated.source ? 'DATA' : 'NO DATA'} on the source, WITH ${d.populated.target ? 'DATA' : 'NO DATA'} on the target)`,
    );
  else if (d.comparedAs !== 'not compared' && !d.match && d.definition === 'equal') {
    const rows = [d.missingRows && `${d.missingRows} row(s) only on the source`, d.extraRows && `${d.extraRows} only on the target`].filter(Boolean).join(', ');
    parts.push(`contents differ (source ${d.sourceRows ?? '—'} rows, target ${d.targetRows ?? '—'}${rows ? `: ${rows}` : ''})`);
  }
  return parts.join('; ') || 'equal';
}

function derivedRemedy(d: DerivedReport, name: string): string {
  if (d.definition === 'missing' || d.definition === 'extra' || d.definition === 'different') {
    return `recreate it on the target from the source definition (Schema objects), then REFRESH MATERIALIZED VIEW ${name} there`;
  }
  if (d.populated.source && !d.populated.target) return `derived: refresh on the target — REFRESH MATERIALIZED VIEW ${name} on the target`;
  if (!d.populated.source && d.populated.target) {
    return `derived: refresh on the source (REFRESH MATERIALIZED VIEW ${name}), or empty the target's again (REFRESH MATERIALIZED VIEW ${name} WITH NO DATA on the target)`;
  }
  return `derived: refresh on the target or the source — REFRESH MATERIALIZED VIEW ${name} on the target (and on the source, if its contents are the stale ones), then verify again`;
}
