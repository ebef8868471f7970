// The proof inside the freeze: verifyDatabases on the tables to check. `--verify changed` checks only the tables
// changed since the online verify's baseline once that exists (issue #24, branch onlineverify); until then it
// checks every replicated table and says so. Foreign keys the finish put back NOT VALID (validated after the
// freeze) are not a difference: the report lists them as owed instead.
import type { ConnectionSpec } from '../config.js';
import type { Client } from '../db/connect.js';
import type { Logger } from '../log.js';
import { loadSwitches } from '../replicate/apply/switches.js';
import { renderReport, verifyDatabases, type VerifyReport } from '../verify/index.js';
import type { Capture } from './engine.js';

export interface VerifyOutcome {
  mode: 'changed' | 'full';
  ok: boolean;
  tables: number;
  seconds: number;
  /** Why fewer or more tables than asked were checked (null: as asked). */
  fallback: string | null;
  /** Foreign keys left NOT VALID for after the freeze (their "[not validated]" is not counted as a difference). */
  owedForeignKeys: string[];
  /** Materialized views whose contents differ only because the finish refreshed the target's (not a difference). */
  refreshedViews: string[];
  /** verify's own rendering of the differences (empty when equal). */
  differences: string;
  report: VerifyReport;
}

export interface TableName {
  schema: string;
  name: string;
}

/** The replicated tables, from the publication or the capture plan. */
export async function replicatedTables(src: Client, ctl: Client, capture: Capture): Promise<TableName[]> {
  if (capture === 'triggers') {
    const { loadCapture } = await import('../state/replication.js');
    const state = await loadCapture(ctl);
    return (state?.tables ?? []).map((t) => ({ schema: t.schema, name: t.name }));
  }
  const { loadReplication } = await import('../state/replication.js');
  const state = await loadReplication(ctl);
  const { rows } = await src.query(`SELECT schemaname AS s, tablename AS t FROM pg_catalog.pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2`, [
    state!.publication,
  ]);
  return rows.map((r) => ({ schema: r.s, name: r.t }));
}

export async function proveInsideFreeze(
  source: ConnectionSpec,
  target: ConnectionSpec,
  tables: TableName[],
  mode: 'changed' | 'full',
  jobs: number,
  ctl: Client,
  logger: Logger,
): Promise<VerifyOutcome> {
  const started = Date.now();
  const fallback = mode === 'changed' ? 'no online verify baseline in this pgshift yet: every replicated table checked' : null;
  const include = mode === 'changed' ? tables.map(pattern) : undefined;
  // Offline: writes are frozen and the cutover holds the target's run lock itself; verify's auto mode would take
  // that lock for a running replicate and wait for an applier that has stopped.
  const report = await verifyDatabases(source, target, { jobs, include, logger, mode: 'offline' });
  const owed = (await loadSwitches(ctl)).filter((s) => s.kind === 'foreign-key' && s.validateOwed);
  const isOwed = (object: string, src: string | null, tgt: string | null) =>
    owed.some((o) => object.startsWith(`${o.name} on `)) && src !== null && (tgt === `${src} NOT VALID [not validated]` || tgt === `${src} [not validated]`);
  const schema = report.schema.filter((d) => !(d.kind === 'constraint' && d.difference === 'different' && isOwed(d.object, d.source, d.target)));
  const schemaDiffs = schema.filter((d) => d.severity === 'difference').length;
  // The finish refreshed the target's materialized views from its (equal) tables: contents that differ with the
  // same definition say the source's is as stale as its last REFRESH, not that data was lost.
  const refreshed = report.derived.filter((d) => !d.match && d.definition === 'equal' && d.populated.source === d.populated.target);
  const derivedDiffering = report.derived.filter((d) => !d.match).length - refreshed.length;
  const s = report.summary;
  const ok = s.tablesDiffering === 0 && derivedDiffering === 0 && s.sequencesDiffering === 0 && schemaDiffs === 0 && report.largeObjects.match;
  const adjusted: VerifyReport = {
    ...report,
    ok,
    schema,
    summary: { ...s, schemaDifferences: schemaDiffs, derivedDiffering },
    nextSteps: ok ? [] : report.nextSteps.filter((n) => n.about !== 'schema' || schemaDiffs > 0),
  };
  return {
    mode,
    ok,
    tables: report.tables.length,
    seconds: (Date.now() - started) / 1000,
    fallback,
    owedForeignKeys: owed.map((o) => `${o.name} on ${o.tbl}`),
    refreshedViews: refreshed.map((d) => d.table),
    differences: ok ? '' : renderReport(adjusted),
    report: adjusted,
  };
}

/** An --include pattern for this table (a name holding the filter's wildcards * or ? matches a little more: harmless). */
function pattern(t: TableName): string {
  return `${t.schema}.${t.name}`;
}
