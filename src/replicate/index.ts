// `pgshift replicate`: one pipeline for both ways of reading changes.
//
//   command (cli/replicate.ts) → replicate() / startReplication() (here) → Replication (engine.ts: lock, preflight,
//   state, initial copy, switch-off, apply loop, status, catch-up, finish) → a ChangeSource (source.ts):
//     - pgoutput (pgoutput/change-source.ts): slot + publication, the slot's stream → Applier (apply/applier.ts);
//     - trigger capture (triggers/change-source.ts): a log on the source → CaptureApplier batches (triggers/apply.ts);
//   → the target, with the applied position in the target's state (state.ts, triggers/state.ts) in the same
//   transaction as the changes it covers.
//
// --until-caught-up: stop once every change committed on the source before the check is applied, then set the
// sequences and restore what was switched off on the target. A second run resumes from the position persisted on
// the target.
import type { ConnectionSpec } from '../config.js';
import type { CopySummary } from '../copy/index.js';
import { classifyError, InterruptedError } from '../errors.js';
import type { RoundTripCounts } from '../db/roundtrips.js';
import type { Switched } from './apply/switches.js';
import { CatchUpTimeout, Replication, type EngineSummary } from './engine.js';
import type { MatviewRefresh } from './matviews.js';
import type { ReplicateOptions } from './options.js';
import { PgoutputChangeSource } from './pgoutput/change-source.js';
import type { SourceWrites } from './source-writes.js';
import type { SourceContext } from './source.js';
import { CaptureChangeSource } from './triggers/change-source.js';

export type { ReplicateOptions } from './options.js';
export { CatchUpTimeout, Replication, type CatchUpOptions, type CaughtUp, type RunStatus } from './engine.js';

export interface PgoutputSummary {
  ok: boolean;
  capture: 'pgoutput';
  caughtUp: boolean;
  /** --until-caught-up gave up at --timeout (exit 1). */
  timedOut: boolean;
  appliedLsn: string;
  sourceLsn: string;
  lagBytes: number;
  lagSeconds: number;
  transactions: number;
  changes: number;
  seconds: number;
  slot: string;
  publication: string;
  /** How this run began: fresh initial copy, finished/redone an interrupted one, or resumed streaming. */
  start: 'fresh' | 'resumed' | 'recopied' | 'none';
  initialCopy: CopySummary | null;
  reconnects: number;
  missingRows: number;
  /** Transactions applied while they were still running on the source (streamed), among `transactions`. */
  streamedTransactions: number;
  sequences: number;
  restored: Switched | null;
  /** Materialized views refreshed by the finish, and how long it took (null: not refreshed). */
  matviews: MatviewRefresh | null;
  /** --until-caught-up: the source position everything was applied up to, when it was read, the last commit applied. */
  caughtUpTo: { position: string; at: string; lastCommit: string | null } | null;
  /** Rows written to the replicated tables on the source around the catch-up and finish (null: not measured). */
  sourceWrites: SourceWrites | null;
  notReplicated: string[];
  metricsPort: number | null;
  /** Round trips per side and phase (a rerun's fixed cost). */
  roundTrips: RoundTripCounts;
}

export interface CaptureSummary {
  ok: boolean;
  capture: 'triggers';
  caughtUp: boolean;
  /** --until-caught-up gave up at --timeout (exit 1); everything applied so far is kept. */
  timedOut: boolean;
  /** pg_snapshot of the source: every change committed in it is on the target. */
  appliedSnapshot: string;
  pendingChanges: number;
  lagSeconds: number;
  /** Batches applied by this run (one target transaction each). */
  transactions: number;
  /** Log rows (captured statements' row changes) consumed by this run. */
  changes: number;
  rowsWritten: number;
  seconds: number;
  start: 'fresh' | 'resumed' | 'none';
  initialCopy: CopySummary | null;
  capturedTables: number;
  reconnects: number;
  sequences: number;
  restored: Switched | null;
  /** Materialized views refreshed by the finish, and how long it took (null: not refreshed). */
  matviews: MatviewRefresh | null;
  /** --until-caught-up: the moment everything committed before was applied, and changes captured since (pending after the finish). */
  caughtUpTo: { at: string; pendingSince: number } | null;
  notReplicated: string[];
  /** Round trips per side and phase (a rerun's fixed cost). */
  roundTrips: RoundTripCounts;
}

/** What a replication run reports: `capture` says which of the two shapes it is. */
export type ReplicateSummary = PgoutputSummary | CaptureSummary;

/** The handle another command drives (cutover): typed summaries on top of the engine's. */
export interface ReplicationRun {
  status: Replication['status'];
  catchUp: Replication['catchUp'];
  finish(): Promise<ReplicateSummary>;
  stop(): Promise<ReplicateSummary>;
  /** Resolves when the apply loop ends (signal), rejects with what ended it. */
  untilStopped(): Promise<void>;
  readonly startedAt: number;
}

function changeSource(opts: ReplicateOptions): (ctx: SourceContext) => PgoutputChangeSource | CaptureChangeSource {
  return opts.capture === 'triggers' ? (ctx) => new CaptureChangeSource(ctx) : (ctx) => new PgoutputChangeSource(ctx);
}

/**
 * After it resolves: the run lock is held, preflight and the initial copy are done, the target's switches are off
 * and the apply loop is running. End it with finish() (after catchUp()) or stop().
 */
export async function startReplication(source: ConnectionSpec, target: ConnectionSpec, opts: ReplicateOptions): Promise<ReplicationRun> {
  const run = await Replication.start(source, target, opts, changeSource(opts));
  const asSummary = (s: EngineSummary & Record<string, unknown>) => s as unknown as ReplicateSummary;
  return {
    startedAt: run.startedAt,
    status: () => run.status(),
    catchUp: (o) => run.catchUp(o),
    finish: async () => asSummary(await run.finish()),
    stop: async () => asSummary(await run.stop()),
    untilStopped: () => run.untilStopped(),
  };
}

/**
 * `pgshift replicate`: start; then with --until-caught-up catch up and finish (or give up at --timeout, counted from
 * the start of the run), else apply until the signal aborts.
 */
export async function replicate(source: ConnectionSpec, target: ConnectionSpec, opts: ReplicateOptions): Promise<ReplicateSummary> {
  const run = await startReplication(source, target, opts);
  try {
    if (!opts.untilCaughtUp) {
      await run.untilStopped();
      return await run.stop();
    }
    const deadline = opts.timeoutSeconds !== undefined ? run.startedAt + opts.timeoutSeconds * 1000 : undefined;
    try {
      await run.catchUp({ deadline, maxLagSeconds: opts.maxLagSeconds, maxLagBytes: opts.maxLagBytes });
    } catch (err) {
      // Not caught up in time, or stopped by a signal: what was applied is kept, and the summary says how far it got.
      if (err instanceof CatchUpTimeout || (err instanceof InterruptedError && opts.signal.aborted)) return await run.stop();
      throw err;
    }
    return await run.finish();
  } catch (err) {
    await run.stop().catch(() => undefined);
    throw classifyError(err, 'replicate', { phase: 'replicate', hint: 'fix the cause, then run the same command again (it resumes from the target state)' });
  }
}
