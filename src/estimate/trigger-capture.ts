// The trigger-capture path in the estimate (`pgshift replicate --capture triggers`, issue #28 item 4): it needs
// neither REPLICATION nor wal_level=logical, only a role that may create the _pgshift schema and a trigger on
// every copied table (their owner on Heroku). Modelled here: whether it is open to this role, its freeze (the
// applier drains what the capture log holds when writes stop, then replicate's finish and the verify), how fast
// it drains, and what it costs the source's writes.
import type { Client } from '../db/connect.js';
import type { WriteRate } from './model.js';

export interface TriggerCaptureStatus {
  available: boolean;
  reason: string | null;
}

/**
 * Changes per second the trigger applier drained on a local pair (bench/capture-overhead.ts, docs/benchmarks.md
 * "Trigger capture: cost on the source": 48,048 captured pgbench changes in 4.4 s on the project's 2-core machine).
 */
export const TRIGGER_DRAIN_CHANGES_PER_SECOND = 10_800;
/** How far the applier runs behind while the source is live: its idle wait (500 ms) plus about one batch. */
export const TRIGGER_LAG_SECONDS = 1;
/** Round trips one apply batch makes to each side (snapshot, log read, rows per table, state row, commit, forget). */
export const TRIGGER_BATCH_ROUND_TRIPS = 12;
/**
 * Source CPU per captured writing statement, microseconds: the statement-level trigger with its transition table
 * writing the key log (70 µs against 20 µs without capture, one session, PostgreSQL 15; docs/benchmarks.md).
 */
export const TRIGGER_STATEMENT_OVERHEAD_US = 50;
/** pgbench tpcb-like lost this share of its transactions per second with capture on (fsync off, the worst case). */
export const TRIGGER_BENCH_TPS_DROP = 0.288;

export interface TriggerCapture {
  available: boolean;
  /** Why not, when not. */
  reason: string | null;
  /** Rows inserted, updated or deleted per second on the source while sampled (pg_stat_database); null: unknown. */
  changesPerSecond: number | null;
  /** Changes per second the applier drains (a batch takes everything pending), and where that figure comes from. */
  drainChangesPerSecond: number;
  /** What one batch pays in round trips to both sides, whatever its size (the probe's round trips). */
  batchRoundTripSeconds: number;
  drainBasis: string;
  /** Writes frozen: the applier drains the log's last batch (catch-up), replicate's finish, the verify. */
  freezeSeconds: number;
  catchUpSeconds: number;
  finishSeconds: number;
  /** The log's backlog once the initial copy is done (the source stays live), and how long draining it takes. */
  backlogAfterCopy: { changes: number | null; drainSeconds: number | null };
  /** False: the source writes faster than the applier drains, so the log never empties. */
  keepsUp: boolean | null;
  /** What the capture adds to the source's writes. */
  sourceOverhead: { microsecondsPerStatement: number; coreShare: number | null; benchTpsDrop: number; basis: string };
  fits: boolean | null;
}

/** Whether this role may install trigger capture for these tables: not a standby, CREATE on the database, TRIGGER and SELECT on each. */
export async function triggerCaptureStatus(c: Client, tableOids: number[]): Promise<TriggerCaptureStatus> {
  const { rows: r } = await c.query<{ standby: boolean; create: boolean }>(
    `SELECT pg_catalog.pg_is_in_recovery() AS standby, pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') AS "create"`,
  );
  if (r[0]!.standby)
    return { available: false, reason: 'trigger capture is not available: the source is a read-only standby (triggers are installed on the primary)' };
  if (!r[0]!.create) {
    return {
      available: false,
      reason:
        'trigger capture is not available: the role may not create the schema _pgshift in the source database (connect as the database owner, or GRANT CREATE ON DATABASE)',
    };
  }
  const { rows } = await c.query<{ name: string }>(
    `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = ANY($1::pg_catalog.oid[]) AND NOT (pg_catalog.has_table_privilege(c.oid, 'TRIGGER') AND pg_catalog.has_table_privilege(c.oid, 'SELECT'))
      ORDER BY 1 LIMIT 4`,
    [tableOids],
  );
  if (rows.length) {
    const names = rows.slice(0, 3).map((x) => x.name);
    return {
      available: false,
      reason: `trigger capture is not available: the role may not create triggers on ${names.join(', ')}${rows.length > 3 ? ' and more' : ''} (connect as their owner, GRANT TRIGGER, SELECT, or --exclude them)`,
    };
  }
  return { available: true, reason: null };
}

/**
 * The trigger path's freeze and drain. A batch applies everything pending, so a backlog drains at the benchmark's
 * rate; each batch also pays the round trips it makes to each side as the probe measured them (a remote pair pays
 * them per batch). The last batch at the freeze holds TRIGGER_LAG_SECONDS of the sampled change rate.
 */
export function modelTriggerCapture(o: {
  status: TriggerCaptureStatus;
  writeRate: WriteRate;
  copySeconds: number;
  /** replicate's finish with writes frozen: sequences, foreign-key re-checks, materialized views. */
  finishSeconds: number;
  verifySeconds: number;
  /** Measured (or default) round trips to each side, seconds. */
  sourceRoundTrip: number;
  targetRoundTrip: number;
  budgetSeconds: number | null;
}): TriggerCapture {
  const perBatch = TRIGGER_BATCH_ROUND_TRIPS * (o.sourceRoundTrip + o.targetRoundTrip);
  const changes = o.writeRate.changesPerSecond ?? null;
  const rate = changes ?? 0;
  const drain = TRIGGER_DRAIN_CHANGES_PER_SECOND;
  const lastBatch = perBatch + (rate * TRIGGER_LAG_SECONDS) / TRIGGER_DRAIN_CHANGES_PER_SECOND;
  const catchUp = TRIGGER_LAG_SECONDS + lastBatch;
  const freeze = catchUp + o.finishSeconds + o.verifySeconds;
  const keepsUp = changes === null ? null : changes < drain;
  const backlog = changes === null ? null : changes * o.copySeconds;
  // A big backlog is drained in big batches: the round trips hardly count, but the source keeps writing meanwhile.
  const net = drain - rate;
  const backlogDrain = backlog === null ? null : net > 0 ? perBatch + backlog / net : null;
  return {
    available: o.status.available,
    reason: o.status.reason,
    changesPerSecond: changes,
    drainChangesPerSecond: drain,
    batchRoundTripSeconds: perBatch,
    drainBasis:
      `${TRIGGER_DRAIN_CHANGES_PER_SECOND.toLocaleString('en-US')} changes/s measured by bench/capture-overhead.ts on a local pair (a batch applies everything pending), ` +
      `plus ${TRIGGER_BATCH_ROUND_TRIPS} round trips per batch to each side as the probe measured them (${(perBatch * 1000).toFixed(1)} ms a batch)`,
    freezeSeconds: freeze,
    catchUpSeconds: catchUp,
    finishSeconds: o.finishSeconds,
    backlogAfterCopy: { changes: backlog, drainSeconds: backlogDrain },
    keepsUp,
    sourceOverhead: {
      microsecondsPerStatement: TRIGGER_STATEMENT_OVERHEAD_US,
      // At most one statement per changed row: an upper bound of the source CPU the triggers take.
      coreShare: changes === null ? null : (changes * TRIGGER_STATEMENT_OVERHEAD_US) / 1e6,
      benchTpsDrop: TRIGGER_BENCH_TPS_DROP,
      basis: `about ${TRIGGER_STATEMENT_OVERHEAD_US} µs of source CPU per writing statement (measured on PostgreSQL 15); pgbench tpcb-like, five one-row statements a transaction, lost ${Math.round(TRIGGER_BENCH_TPS_DROP * 100)} % of its tps with fsync off, less where commits wait for a disk`,
    },
    fits: o.budgetSeconds === null ? null : o.status.available && keepsUp !== false && freeze <= o.budgetSeconds,
  };
}
