// The estimate benchmark's results and their summary per case (issue #28's yardstick): shared by the bench
// (estimate.ts) and by estimate-summary.ts, which merges the result files of several locked runs.
import { median } from '../src/estimate/median.js';
import type { StepTimes } from './estimate-steps.js';

export interface TargetCounters {
  checkpoints: number;
  walMB: number;
  /** WAL segment files in pg_wal when the copy started (a fresh server has few: new ones are zero-filled first). */
  walSegments?: number;
}

export interface CaseResult {
  case: string;
  /** Which estimate→copies round of this case (--rounds). */
  round: number;
  describe: string;
  sourceMB: number;
  flags: string[];
  predicted: number;
  low: number;
  high: number;
  /** Median of the copies' durations. */
  actual: number;
  /** Every copy's duration (the same copy run --copies times). */
  actuals: number[];
  /** (predicted - actual) / actual */
  error: number;
  /** Whether each copy fell inside the printed range. */
  inRange: boolean[];
  /** Seconds the target took to settle after the estimate (settle()). */
  settleSeconds: number;
  /** Per copy, on the target: checkpoints that started and WAL MB written while it ran (the server's own counters). */
  targetServer: TargetCounters[];
  /** Load average (1 min) when each copy ended. */
  loadAfter: number[];
  /** The machine's speed and the cores' shares around the estimate and each copy (estimate-machine.ts). */
  machine?: {
    estimate: { cpuTaskMs: number; share?: { busy: number; iowait: number; steal: number } };
    copies: { cpuTaskMs: number; share?: { busy: number; iowait: number; steal: number } }[];
  };
  calibrated: boolean;
  probeSeconds: number;
  estimateWallSeconds: number;
  phases: { predicted: Record<string, number>; actual: Record<string, number> };
  criticalPath: string[];
  loadBefore: number;
  /** The data phase step by step: summed seconds per kind of step (chunk, index, foreign key, analyze). */
  steps: { predicted: StepTimes; actual: StepTimes };
  /** The median copy's data phase as copy --json accounts it: each split chunk's wire bytes and seconds, pipes at once. */
  copyStream?: {
    wireBytes: number;
    seconds: number;
    concurrency: Record<string, number>;
    chunks: { table: string; chunk: number; chunks: number; wireBytes: number; seconds: number; startedAt: number }[];
  };
  /** What the probe measured (its notes): where a prediction that missed went wrong. */
  probeNotes: string[];
  probeSamples?: Array<{ table: string; format: string; bytes: number; rows: number; seconds: number; parallel: number }>;
  /** The rates the estimate ran on (per-table and per-index maps left out). */
  rates: Record<string, unknown>;
}

export const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;

/**
 * Per case, issue #28's yardstick for "an estimate that holds the first time": every round's error, the median of
 * the signed errors and of their sizes (|error|), the worst |error|, how many copies fell inside the printed range,
 * and the load average each round started under.
 */
export interface CaseSummary {
  case: string;
  median: number;
  medianAbs: number;
  worst: number;
  inside: number;
  copies: number;
  errors: number[];
  loads: number[];
  /**
   * Per phase and per kind of data-phase step: the median over rounds of actual / predicted (1.3: that part took
   * 30 % longer than predicted). A part that misses the same way every round is the model's; one that swings
   * from round to round is the machine's.
   */
  ratios: Record<string, { median: number; every: number[] }>;
}

export function partRatios(rs: CaseResult[]): Record<string, { median: number; every: number[] }> {
  const parts: Record<string, number[]> = {};
  const add = (k: string, p: number | undefined, a: number | undefined) => {
    if (p === undefined || a === undefined || p < 0.05 || a < 0.05) return;
    (parts[k] ??= []).push(a / p);
  };
  for (const r of rs) {
    for (const k of Object.keys(r.phases.actual)) add(k, r.phases.predicted[k], r.phases.actual[k]);
    for (const k of Object.keys(r.steps.actual.byKind)) add(`step: ${k}`, r.steps.predicted.byKind[k], r.steps.actual.byKind[k]);
    add('step: span of the data phase', r.steps.predicted.span, r.steps.actual.span);
  }
  return Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, { median: median(v), every: v }]));
}

export function medianErrors(rs: CaseResult[]): CaseSummary[] {
  return [...new Set(rs.map((r) => r.case))].map((c) => {
    const mine = rs.filter((r) => r.case === c);
    const errors = mine.map((r) => r.error);
    const inRange = mine.flatMap((r) => r.inRange);
    return {
      case: c,
      median: median(errors),
      medianAbs: median(errors.map(Math.abs)),
      worst: Math.max(...errors.map(Math.abs)),
      inside: inRange.filter(Boolean).length,
      copies: inRange.length,
      errors,
      loads: mine.map((r) => r.loadBefore),
      ratios: partRatios(mine),
    };
  });
}

/** The summary tables per case: error, worst, inside the range (with each round's load), then part by part. */
export function summaryMarkdown(rs: CaseResult[]): string[] {
  const ms = medianErrors(rs);
  return [
    '| case | rounds | median \\|error\\| | worst \\|error\\| | inside the range | median error | every round (load at its start) |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...ms.map(
      (m) =>
        `| ${m.case} | ${m.errors.length} | ${(m.medianAbs * 100).toFixed(1)} % | ${(m.worst * 100).toFixed(1)} % | ${m.inside}/${m.copies} | ${pct(m.median)} | ${m.errors.map((e, i) => `${pct(e)} (${m.loads[i]!.toFixed(1)})`).join(', ')} |`,
    ),
    '',
    '| case | part | actual / predicted: median over rounds | every round |',
    '|---|---|---:|---|',
    ...ms.flatMap((m) =>
      Object.entries(m.ratios).map(([k, v]) => `| ${m.case} | ${k} | ${v.median.toFixed(2)} | ${v.every.map((x) => x.toFixed(2)).join(', ')} |`),
    ),
    '',
  ];
}
