// The estimate, from a plan and rates: copy's data phase simulated (simulate.ts), the sequential phases around
// it, verify, the total with its range, and the choice between dump/restore, replication and trigger capture. Pure: no I/O.
import { tableKey } from '../catalog/table-id.js';
import type { TableInfo } from '../catalog/tables.js';
import { SEQUENCE_BATCH } from '../catalog/sequences.js';
import { analyzeJobs, type AnalyzeMode } from '../copy/analyze.js';
import { copyFormat } from '../copy/pipeline.js';
import type { CopyPlan } from '../copy/plan.js';
import type { Rates } from './rates.js';
import type { SchemaTiming } from './schema.js';
import { buildSeconds, checksRows, simulateDataPhase, type DataPhaseSim, type ModelTable, type Segment } from './simulate.js';
import { modelTriggerCapture, type TriggerCapture, type TriggerCaptureStatus } from './trigger-capture.js';

/** What the model needs beyond the plan: sizes the plan does not carry. */
export interface PlanSizes {
  /** Index bytes on the source by indexKey(schema, name). */
  indexBytes: Record<string, number>;
  /** Objects the schema dump and the pre-data restore handle (tables, types, functions, views, sequences…). */
  schemaObjects: number;
  /** Objects the post-data restore handles after the data (triggers, rules, policies, partitioned indexes…). */
  postDataObjects: number;
  largeObjectBytes: number;
  /** Heap bytes of each populated materialized view (what a refresh writes). */
  matviewBytes: number[];
  /** Per view (same order): bytes of the tables its query reads (through plain views), and of its own indexes. */
  matviewInputBytes?: number[];
  matviewIndexBytes?: number[];
  /** Measured by estimate itself: planning and reading sequences under the snapshot (copy's "snapshot" phase). */
  planSeconds?: number;
  /** Measured: pg_dump and the rendering of both sections, with their statement counts. */
  schema?: SchemaTiming;
}

export type PlanLike = Pick<CopyPlan, 'data' | 'chunks' | 'builds' | 'sequences' | 'matviews' | 'largeObjects'> & { tables: { length: number } };

export interface Phase {
  name: 'schema' | 'data' | 'indexes and constraints' | 'large objects' | 'materialized views' | 'sequences' | 'analyze';
  seconds: number;
  /** When it starts, seconds from the start of the copy. */
  start: number;
}

export interface CriticalStep {
  table: string;
  step: string;
  start: number;
  seconds: number;
}

export interface CopyModel {
  seconds: number;
  phases: Phase[];
  data: DataPhaseSim;
  criticalPath: CriticalStep[];
  /** What verify would take after the copy (both sides hashed at once, --jobs connections each). */
  verifySeconds: number;
  /** What replicate's finish takes to check the foreign keys it dropped while applying (--index-jobs at once). */
  foreignKeySeconds: number;
  /** Refreshing the populated materialized views (copy's phase; also replicate's finish, inside the freeze). */
  matviewSeconds: number;
  bytes: number;
}

export interface ModelOptions {
  jobs: number;
  indexJobs: number;
  /** As copy --analyze (default overlap: ANALYZE runs as build jobs in the data phase). */
  analyze?: AnalyzeMode;
}

export function modelTables(data: TableInfo[]): ModelTable[] {
  return data.map((t) => ({
    key: tableKey(t),
    display: t.display,
    heapBytes: t.tableBytes,
    toastBytes: t.toastBytes,
    rows: t.rows,
    columns: t.columns.length,
    format: copyFormat(t),
  }));
}

/** n tasks of the given lengths on `lanes` parallel connections, longest first: when the last one ends. */
export function listSchedule(lengths: number[], lanes: number): number {
  const free = Array.from({ length: Math.max(1, lanes) }, () => 0);
  for (const len of [...lengths].sort((a, b) => b - a)) {
    const i = free.indexOf(Math.min(...free));
    free[i]! += len;
  }
  return Math.max(0, ...free);
}

/** Copy's state: DDL statements of the migrations, and round trips of preflight and bookkeeping. */
const STATE_DDL = 12;
const STATE_ROUND_TRIPS = 60;
/**
 * copy's queries on the source besides planning and reading sequences (which estimate times itself): exporting
 * the snapshot (BEGIN, search_path, export), server identity, connection budget, server major, extension check,
 * the sequence connection's read, readability check, change counters. Through a slow link each is a round trip.
 */
export const COPY_SOURCE_ROUND_TRIPS = 10;

/** ANALYZE samples 300 × default_statistics_target rows. */
const ANALYZE_SAMPLE_ROWS = 30_000;

/** ANALYZE reads up to one page per sampled row, then computes statistics per sampled value. */
export function analyzeSeconds(t: ModelTable, r: Rates): number {
  const pagesRead = Math.min(t.heapBytes, ANALYZE_SAMPLE_ROWS * 8192);
  return r.analyze.perTable + pagesRead / r.scan + Math.min(Math.max(t.rows, 1), ANALYZE_SAMPLE_ROWS) * Math.max(1, t.columns) * r.analyze.perValue;
}

/**
 * replicate drops the target's foreign keys while it applies and restores them at its finish, with writes frozen:
 * each comes back NOT VALID and is checked again (the same check copy's VALIDATE jobs run), --index-jobs at once.
 */
export function foreignKeySeconds(plan: PlanLike, tables: ModelTable[], indexBytes: Record<string, number>, r: Rates, lanes: number): number {
  const checks = plan.builds.jobs.filter(checksRows);
  if (checks.length === 0) return 0;
  const byKey = new Map(tables.map((t) => [t.key, t]));
  return listSchedule(
    checks.map((j) => buildSeconds(j, byKey, indexBytes, r)),
    Math.max(1, lanes),
  );
}

export function verifySeconds(tables: ModelTable[], jobs: number, r: Rates): number {
  if (tables.length === 0) return 0;
  // Each side hashes its copy with --jobs connections; both sides run at once. Per table: a count+hash pass
  // plus catalog and schema comparison (a fixed cost per table).
  const perSide = listSchedule(
    tables.map((t) => 0.003 + (t.heapBytes + t.toastBytes) / r.verifyHash),
    Math.min(jobs, Math.max(1, r.capacity)),
  );
  return r.setup.base + 0.3 + perSide;
}

export async function modelCopy(plan: PlanLike, sizes: PlanSizes, rates: Rates, opts: ModelOptions): Promise<CopyModel> {
  const tables = modelTables(plan.data);
  const analyzeMode = opts.analyze ?? 'overlap';
  // copy --analyze overlap hands its builders one ANALYZE per plain table (copy's own analyzeJobs): they take
  // builder time during the data phase instead of a phase of their own at the end.
  const analyses = analyzeMode === 'overlap' ? analyzeJobs(plan.data, plan.builds.jobs) : [];
  const builds = [...plan.builds.jobs, ...analyses];
  const data = await simulateDataPhase(
    { tables, chunks: plan.chunks, builds, indexBytes: sizes.indexBytes, jobs: opts.jobs, indexJobs: opts.indexJobs },
    rates,
  );
  const r = rates;
  // Setup: copy's control connection, run lock, snapshot and planning (estimate timed its own planCopy), finding
  // pg_dump, preflight queries, and the state schema: its migrations (about ten DDL statements) and a few dozen
  // round trips of bookkeeping.
  const m = sizes.schema;
  const setup =
    (sizes.planSeconds ?? r.setup.base + r.setup.perTable * plan.tables.length) +
    2 * r.connect +
    (m?.discovery ?? 0) +
    r.preflight +
    STATE_DDL * r.ddl +
    STATE_ROUND_TRIPS * r.roundTrip +
    COPY_SOURCE_ROUND_TRIPS * r.sourceRoundTrip;
  const schema =
    setup +
    (m ? m.dump + m.preData + m.batches * (r.ddl + r.roundTrip) : r.schema.dumpBase + r.schema.restoreBase) +
    r.schema.perObject * (m ? m.preStatements : sizes.schemaObjects);
  const builtAfterData = Math.max(0, data.seconds - data.dataSeconds);
  const postData = (m ? m.postData : r.schema.restoreBase) + r.schema.perObject * (m ? m.postStatements : sizes.postDataObjects);
  const lo = plan.largeObjects.length ? r.connect * 2 + plan.largeObjects.length * r.largeObjectOverhead + sizes.largeObjectBytes / r.largeObject : 0;
  const mv = plan.matviews.length ? matviewRefreshSeconds(sizes, r) : 0;
  const seq = Math.ceil(plan.sequences.length / SEQUENCE_BATCH) * r.roundTrip;
  // What copy analyzes at the end: everything (--analyze end), or what overlap left (partitions, parents). Copy
  // opens its analyze connection even when nothing is left.
  const overlapped = new Set(analyses.map((j) => tableKey({ schema: j.schema, name: j.table })));
  const rest = tables.filter((t) => !overlapped.has(t.key));
  const analyze =
    tables.length && analyzeMode !== 'none'
      ? r.connect +
        listSchedule(
          rest.map((t) => analyzeSeconds(t, r)),
          opts.indexJobs,
        )
      : 0;
  const parts: [Phase['name'], number][] = [
    ['schema', schema],
    ['data', data.dataSeconds],
    ['indexes and constraints', builtAfterData + postData],
    ['large objects', lo],
    ['materialized views', mv],
    ['sequences', seq],
    ['analyze', analyze],
  ];
  let at = 0;
  const phases = parts.map(([name, seconds]) => {
    const p = { name, seconds, start: at };
    at += seconds;
    return p;
  });
  const shift = (s: Segment): CriticalStep => ({
    table: s.table,
    step: s.kind === 'chunk' ? `copy${s.label === 'whole' ? '' : ` (${s.label})`}` : `${s.kind} ${s.label}`,
    start: schema + s.start,
    seconds: s.end - s.start,
  });
  return {
    seconds: at,
    phases,
    data,
    criticalPath: data.criticalPath.map(shift),
    verifySeconds: verifySeconds(tables, opts.jobs, rates),
    foreignKeySeconds: foreignKeySeconds(plan, tables, sizes.indexBytes, rates, opts.indexJobs),
    matviewSeconds: mv,
    bytes: tables.reduce((s, t) => s + t.heapBytes + t.toastBytes, 0),
  };
}

/**
 * REFRESH MATERIALIZED VIEW of every populated view, one after the other (as copy and replicate's finish run them).
 * Modelled from sizes at the probe's rates: the query reads its input tables (scan rate), writes its result into a
 * new heap (at the rate the probe's COPYs wrote into the target: binary, the faster), and rebuilds each of its
 * indexes (a scan of the result plus the index written). Measured on this machine, calibrated (a 600k-row,
 * 65 MB table; an aggregate, a join with a unique index, a full projection; PG15 → 17): 5.2 s modelled for 5.7 s
 * taken, and 5.8 s for 5.8 s; sizes at the scan rate alone (the first version) gave 0.9 s for 4.7 s.
 * Not EXPLAIN: planner costs are in units that need a per-server calibration the probe does not make; not by
 * running the query: estimate stays light on the source, and a view's query may run for minutes.
 */
export function matviewRefreshSeconds(
  sizes: Pick<PlanSizes, 'matviewBytes' | 'matviewInputBytes' | 'matviewIndexBytes'>,
  r: Pick<Rates, 'scan' | 'indexWrite' | 'copy'>,
): number {
  const write = Math.max(r.copy.binary, r.copy.text);
  return sizes.matviewBytes.reduce((s, b, i) => {
    const input = sizes.matviewInputBytes?.[i] ?? 0;
    const index = sizes.matviewIndexBytes?.[i] ?? 0;
    return s + 0.005 + input / r.scan + b / write + (index > 0 ? b / r.scan + index / r.indexWrite : 0);
  }, 0);
}

// ---- strategy

export interface WriteRate {
  /** WAL bytes per second on the source while sampled; null when it could not be read (a standby). */
  walBytesPerSecond: number | null;
  /** Committed transactions per second in the source database. */
  commitsPerSecond: number | null;
  /** Rows inserted, updated or deleted per second in the source database (what trigger capture logs); absent: not read. */
  changesPerSecond?: number | null;
  sampledSeconds: number;
}

export interface Strategy {
  writeRate: WriteRate;
  logicalReplication: { available: boolean; reason: string | null };
  budgetSeconds: number | null;
  dumpRestore: { freezeSeconds: number; fits: boolean | null };
  replication: {
    available: boolean;
    /** Writes frozen: the replicator applies what is left, sequences are set, foreign keys re-checked, verify runs. */
    freezeSeconds: number;
    catchUpSeconds: number;
    foreignKeySeconds: number;
    /** The finish's refresh of the populated materialized views (0 views: nothing to refresh). */
    matviews: { views: number; seconds: number };
    /** WAL the slot keeps on the source while the initial copy runs. */
    retainedWalBytes: number | null;
    fits: boolean | null;
  };
  /** pgshift replicate --capture triggers: open to a database owner without REPLICATION (trigger-capture.ts). */
  triggers: TriggerCapture;
  recommendation: 'dump-restore' | 'replication' | 'trigger-capture' | 'none fits';
  verdict: string;
}

/** How far behind a replicator runs in steady state (its apply batches), seconds: what is left at freeze. */
export const REPLICATION_LAG_SECONDS = 3;
/** WAL bytes per second a replicator applies (stated default; the mix of inserts/updates decides). */
export const REPLICATION_APPLY_BYTES_PER_SECOND = 8e6;

export function chooseStrategy(o: {
  copySeconds: number;
  verifySeconds: number;
  /** replicate's finish re-checking the foreign keys it dropped (writes frozen). */
  foreignKeySeconds: number;
  /** replicate's finish refreshing the populated materialized views (writes frozen; --no-refresh-matviews skips it). */
  matviews?: { views: number; seconds: number };
  sequences: number;
  writeRate: WriteRate;
  replication: { available: boolean; reason: string | null };
  /** Whether trigger capture is open to this role, and the round trips its batches pay; absent: not checked. */
  triggerCapture?: { status: TriggerCaptureStatus; sourceRoundTrip: number; targetRoundTrip: number };
  budgetSeconds: number | null;
  format: (s: number) => string;
}): Strategy {
  const wal = o.writeRate.walBytesPerSecond ?? 0;
  const dumpFreeze = o.copySeconds + o.verifySeconds;
  const catchUp = REPLICATION_LAG_SECONDS + (wal * REPLICATION_LAG_SECONDS) / REPLICATION_APPLY_BYTES_PER_SECOND;
  const mv = o.matviews ?? { views: 0, seconds: 0 };
  const finish = 0.5 + o.sequences * 0.005 + o.foreignKeySeconds + mv.seconds;
  const replFreeze = catchUp + finish + o.verifySeconds;
  const b = o.budgetSeconds;
  const dumpFits = b === null ? null : dumpFreeze <= b;
  const replFits = b === null ? null : o.replication.available && replFreeze <= b;
  const tc = o.triggerCapture ?? { status: { available: false, reason: 'trigger capture was not checked' }, sourceRoundTrip: 0, targetRoundTrip: 0 };
  const triggers = modelTriggerCapture({
    status: tc.status,
    writeRate: o.writeRate,
    copySeconds: o.copySeconds,
    finishSeconds: finish,
    verifySeconds: o.verifySeconds,
    sourceRoundTrip: tc.sourceRoundTrip,
    targetRoundTrip: tc.targetRoundTrip,
    budgetSeconds: b,
  });
  const trigOpen = triggers.available && triggers.keepsUp !== false;
  const f = o.format;
  let recommendation: Strategy['recommendation'];
  let verdict: string;
  const dumpLine = `dump/restore freezes writes for the whole copy plus verify: about ${f(dumpFreeze)}`;
  const fkPart = o.foreignKeySeconds >= 0.05 ? `, re-check foreign keys (${f(o.foreignKeySeconds)})` : '';
  const mvPart = mv.views > 0 ? `, refresh ${mv.views} materialized view(s) (${f(mv.seconds)})` : '';
  const replLine = `replication freezes writes only to catch up, set sequences${fkPart}${mvPart} and verify: about ${f(replFreeze)}`;
  const share = (x: number) => (x < 0.001 ? 'under 0.1 % of a core' : `at most ${(x * 100).toFixed(1)} % of a core`);
  const trigCost = `it adds about ${triggers.sourceOverhead.microsecondsPerStatement} µs of source CPU per writing statement${triggers.sourceOverhead.coreShare !== null ? ` (${share(triggers.sourceOverhead.coreShare)} at the sampled rate)` : ''}`;
  const trigLine = `trigger capture (pgshift replicate --capture triggers, no REPLICATION needed) freezes writes only to drain the capture log, set sequences${fkPart}${mvPart} and verify: about ${f(triggers.freezeSeconds)}; ${trigCost}`;
  const trigClosed = triggers.available
    ? `trigger capture would not keep up: the source changes ${Math.round(triggers.changesPerSecond ?? 0)} rows/s, the applier drains about ${Math.round(triggers.drainChangesPerSecond)}/s`
    : triggers.reason;
  if (b === null) {
    recommendation =
      o.replication.available && replFreeze < dumpFreeze
        ? 'replication'
        : !o.replication.available && trigOpen && triggers.freezeSeconds < dumpFreeze
          ? 'trigger-capture'
          : 'dump-restore';
    verdict = o.replication.available
      ? `${dumpLine}; ${replLine}. Pass --downtime-budget (e.g. 15m) for a yes/no answer.`
      : trigOpen
        ? `${dumpLine}. Logical replication is not available (${o.replication.reason ?? 'unknown reason'}), but ${trigLine}. Pass --downtime-budget for a yes/no answer.`
        : `${dumpLine}. Logical replication is not available (${o.replication.reason ?? 'unknown reason'}) and ${trigClosed ?? 'trigger capture is not available'}, so dump/restore is the path that remains. Pass --downtime-budget for a yes/no answer.`;
  } else if (dumpFits) {
    recommendation = 'dump-restore';
    verdict = `Dump/restore fits the ${f(b)} budget: ${dumpLine}. No replication needed.`;
  } else if (replFits) {
    recommendation = 'replication';
    verdict = `Dump/restore does NOT fit the ${f(b)} budget (${f(dumpFreeze)} frozen). Use replication: copy while the source stays live, then ${replLine}.`;
  } else if (triggers.fits) {
    recommendation = 'trigger-capture';
    verdict = `Dump/restore does NOT fit the ${f(b)} budget (${f(dumpFreeze)} frozen)${o.replication.available ? '' : ` and logical replication is not available (${o.replication.reason ?? 'unknown reason'})`}. Use ${trigLine.replace(' freezes', ': copy while the source stays live; it freezes')}.`;
  } else if (o.replication.available) {
    recommendation = 'none fits';
    verdict = `Neither fits the ${f(b)} budget: dump/restore needs ${f(dumpFreeze)} frozen, replication ${f(replFreeze)} (mostly verify): raise the budget, or verify fewer tables inside the window (--include) and the rest after.`;
  } else {
    recommendation = 'none fits';
    verdict =
      `Dump/restore does NOT fit the ${f(b)} budget (${f(dumpFreeze)} frozen), and logical replication is not available from this source ` +
      `(${o.replication.reason ?? 'unknown reason'}).${triggers.available ? ` Trigger capture would freeze about ${f(triggers.freezeSeconds)}${triggers.keepsUp === false ? ` and not keep up (${trigClosed})` : ''}.` : ''} What remains: a longer window for dump/restore, more --jobs if both servers have cores to spare, or replication: trigger capture (pgshift replicate --capture triggers) needs neither REPLICATION nor wal_level=logical, only the database owner; pgoutput needs a source role with REPLICATION and wal_level=logical.`;
  }
  return {
    writeRate: o.writeRate,
    logicalReplication: o.replication,
    budgetSeconds: b,
    dumpRestore: { freezeSeconds: dumpFreeze, fits: dumpFits },
    replication: {
      available: o.replication.available,
      freezeSeconds: replFreeze,
      catchUpSeconds: catchUp,
      foreignKeySeconds: o.foreignKeySeconds,
      matviews: mv,
      retainedWalBytes: o.writeRate.walBytesPerSecond === null ? null : o.writeRate.walBytesPerSecond * o.copySeconds,
      fits: replFits,
    },
    triggers,
    recommendation,
    verdict,
  };
}
