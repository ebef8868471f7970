// The freeze, predicted step by step from what this cutover measured before freezing (nothing is frozen yet):
// the engine's cost of one catch-up run, the rate it applied at, the pending changes now, the finish's work
// (sequences, switches to put back, materialized views) and the pre-freeze verify's duration.
import type { Client } from '../db/connect.js';
import { pendingUnits, type Capture, type RunStatus } from './engine.js';

export interface PredictedStep {
  step: 'freeze' | 'catch-up' | 'finish' | 'verify';
  seconds: number;
  /** What the figure comes from, in words. */
  basis: string;
}

export interface Prediction {
  steps: PredictedStep[];
  totalSeconds: number;
  /** The step that weighs most. */
  dominant: PredictedStep;
}

export interface Measured {
  capture: Capture;
  /** Seconds of the last catch-up before the freeze, which found little to apply: the cost of one catch-up round. */
  runSeconds: number;
  /** Pending units (WAL bytes for pgoutput, captured changes for triggers) applied per second, as measured. */
  applyRate: number;
  pending: RunStatus;
  /** --freeze source: sessions in a transaction now (the grace may be waited out); --freeze wait: null. */
  openTransactions: number | null;
  graceSeconds: number;
  /** Seconds the pre-freeze verify of the same tables took (null: --verify none). */
  verifySeconds: number | null;
  verifyTables: number;
}

/** Work the finish does, read from the target and the source. */
export interface FinishWork {
  sequences: number;
  switches: number;
  matviewBytes: number;
}

/** Stopping the apply loop and the finish's own statements, before any per-object work: a stated guess. */
const FINISH_BASE_SECONDS = 0.1;

/** Materialized views are refreshed at about this rate (bytes of the source's view per second): a stated guess. */
const MATVIEW_BYTES_PER_SECOND = 64 * 1024 ** 2;

export async function finishWork(src: Client, ctl: Client): Promise<FinishWork> {
  const { rows: s } = await src.query(
    `SELECT (SELECT count(*) FROM pg_catalog.pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema', '_pgshift'))::int AS seqs,
            (SELECT COALESCE(sum(pg_catalog.pg_relation_size(c.oid)), 0) FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'm' AND c.relispopulated
               AND n.nspname NOT IN ('pg_catalog', 'information_schema'))::float8 AS mv`,
  );
  const { rows: w } = await ctl.query(`SELECT count(*)::int AS n FROM pgshift.replication_switch`).catch(() => ({ rows: [{ n: 0 }] }));
  return { sequences: s[0].seqs, switches: w[0].n, matviewBytes: s[0].mv };
}

export function predictFreeze(m: Measured, work: FinishWork, freeze: 'source' | 'wait', quietSeconds: number): Prediction {
  const pending = pendingUnits(m.pending);
  const unit = m.capture === 'pgoutput' ? 'bytes of WAL' : 'captured changes';
  const applySeconds = m.applyRate > 0 ? pending / m.applyRate : 0;
  const steps: PredictedStep[] = [
    freeze === 'source'
      ? {
          step: 'freeze',
          // Open transactions are usually short (the application's); a long one may use the whole --grace.
          seconds: 0.1 + (m.openTransactions ? 0.2 : 0),
          basis: m.openTransactions
            ? `ALTER DATABASE; ${m.openTransactions} transaction(s) open now, each given up to --grace ${m.graceSeconds} s to end; then sessions terminated`
            : 'ALTER DATABASE and terminating the open sessions',
        }
      : { step: 'freeze', seconds: quietSeconds, basis: `no write seen on the replicated tables for ${quietSeconds} s` },
    {
      step: 'catch-up',
      seconds: m.runSeconds + applySeconds,
      basis: `${Math.round(pending)} ${unit} pending at ${Math.round(m.applyRate)}/s measured, plus ${m.runSeconds.toFixed(2)} s a catch-up round`,
    },
    {
      step: 'finish',
      seconds: FINISH_BASE_SECONDS + work.sequences * 0.002 + work.switches * 0.02 + work.matviewBytes / MATVIEW_BYTES_PER_SECOND,
      basis: `${work.sequences} sequences, ${work.switches} target switches to put back (foreign keys NOT VALID), ${(work.matviewBytes / 1024 ** 2).toFixed(1)} MB of materialized views`,
    },
  ];
  if (m.verifySeconds !== null)
    steps.push({
      step: 'verify',
      seconds: m.verifySeconds,
      basis: `${m.verifyTables} table(s): the verify of the same tables timed before the freeze (each read once, as an equal verify reads it)`,
    });
  const totalSeconds = steps.reduce((a, s) => a + s.seconds, 0);
  const dominant = steps.reduce((a, b) => (b.seconds > a.seconds ? b : a));
  return { steps, totalSeconds, dominant };
}
