// The proof inside the freeze: verifyDatabases on the tables to check. `--verify changed` compares the rows of
// only the tables changed since the online verify's baseline (src/verify/baseline.ts: the last online verify that
// passed, and the changes the applier counted since), plus the tables the finish put switches back on and every
// materialized view; the schema of every replicated table is still compared. Without a baseline it compares
// every replicated table and says how to get one. Foreign keys the finish put back NOT VALID (validated after the
// freeze) are not a difference: the report lists them as owed instead.
import type { ConnectionSpec } from '../config.js';
import type { Client } from '../db/connect.js';
import type { Logger } from '../log.js';
import { displayName } from '../db/ident.js';
import { loadSwitches } from '../replicate/apply/switches.js';
import { changedSinceBaseline } from '../verify/baseline.js';
import { renderReport, verifyDatabases, type VerifyReport } from '../verify/index.js';
import type { Capture } from './engine.js';

export interface VerifyOutcome {
  mode: 'changed' | 'full';
  ok: boolean;
  tables: number;
  seconds: number;
  /** Why fewer or more tables than asked were checked (null: as asked). */
  fallback: string | null;
  /** --verify changed with a baseline: where the last online verify found source and target equal. */
  baseline: { position: string; at: string } | null;
  /** The tables whose rows were compared (schema.table). */
  compared: string[];
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

/** The rows --verify changed compares, and why (computed before the finish: it deletes the switches it put back). */
export interface ProofScope {
  /** schema.table of the tables whose rows are compared. */
  rows: string[];
  fallback: string | null;
  baseline: { position: string; at: string } | null;
}

export const NO_BASELINE =
  'no online verify has passed on this target since replication started (no baseline): every replicated table checked; run pgshift verify --source … --target … while pgshift replicate runs to make one';

/**
 * --verify changed: the replicated tables changed since the baseline (a TRUNCATE is counted by the applier as a
 * change of each table it names) and those with switches to put back. A counted table that is not among the
 * replicated ones (renamed, dropped, re-created) means the set cannot be trusted: every table is compared.
 */
export async function proofScope(ctl: Client, tables: TableName[], mode: 'changed' | 'full'): Promise<ProofScope> {
  const all = tables.map((t) => displayName(t.schema, t.name));
  if (mode === 'full') return { rows: all, fallback: null, baseline: null };
  const b = await changedSinceBaseline(ctl);
  if (!b) return { rows: all, fallback: NO_BASELINE, baseline: null };
  const baseline = { position: b.position, at: new Date(b.at).toISOString() };
  const known = new Set(all);
  const unknown = [...b.tables.keys()].filter((k) => !known.has(k));
  if (unknown.length)
    return {
      rows: all,
      baseline,
      fallback: `changes were applied since the baseline to ${unknown.join(', ')}, not replicated now: every replicated table checked`,
    };
  const switched = new Set((await loadSwitches(ctl)).map((s) => s.tbl));
  const rows = tables
    .filter((t) => b.tables.has(displayName(t.schema, t.name)) || switched.has(displayName(t.schema, t.name)) || switched.has(qualifiedText(t)))
    .map((t) => displayName(t.schema, t.name));
  return { rows, fallback: null, baseline };
}

/** How regclass prints a table under search_path = pg_catalog (the switches' tbl column). */
function qualifiedText(t: TableName): string {
  const q = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : `"${s.replace(/"/g, '""')}"`);
  return `${q(t.schema)}.${q(t.name)}`;
}

export async function proveInsideFreeze(
  source: ConnectionSpec,
  target: ConnectionSpec,
  tables: TableName[],
  scope: ProofScope | null,
  jobs: number,
  ctl: Client,
  logger: Logger,
  /** Before the freeze, to time it: each table read once, as an equal verify reads it (writes make sides differ). */
  timingOnly = false,
): Promise<VerifyOutcome> {
  const started = Date.now();
  const mode = scope === null ? 'full' : 'changed';
  const fallback = scope?.fallback ?? null;
  const include = scope ? tables.map(pattern) : undefined;
  // Offline: writes are frozen and the cutover holds the target's run lock itself; verify's auto mode would take
  // that lock for a running replicate and wait for an applier that has stopped. No row compared at all is still a
  // verify of the schema and the materialized views.
  const rowsOf = scope && !scope.fallback ? scope.rows : undefined;
  const report = await verifyDatabases(source, target, { jobs, include, rowsOf, logger, mode: 'offline', totalsOnly: timingOnly });
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
    baseline: scope?.baseline ?? null,
    compared: report.tables.map((t) => t.table),
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
