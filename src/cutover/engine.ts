// The replication engine as pgshift cutover drives it: one run of the unified engine (src/replicate/engine.ts,
// startReplication → status / catchUp / finish / stop) for the whole cutover, so the stream is caught up before the
// freeze, caught up again to the freeze point and finished without a second start. Its finish adds the foreign keys
// NOT VALID and leaves their VALIDATE owed: the cutover (and rollback) run those after the freeze (validateOwed).
import type { ConnectionSpec } from '../config.js';
import type { Client } from '../db/connect.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { restoreSwitches } from '../replicate/apply/switches.js';
import { startReplication, type ReplicationRun, type RunStatus } from '../replicate/index.js';
import { loadCapture, loadReplication } from '../state/replication.js';

export type Capture = 'pgoutput' | 'triggers';

/** The foreign keys' checks owed after a freeze (cutover's and rollback's reports). */
export interface OwedForeignKeys {
  validated: number;
  lastPassedAt: string | null;
  failure: string | null;
}
export type { ReplicationRun, RunStatus };

export function startEngine(
  source: ConnectionSpec,
  target: ConnectionSpec,
  o: { capture: Capture; logger: Logger; signal: AbortSignal; indexJobs: number },
): Promise<ReplicationRun> {
  return startReplication(source, target, {
    capture: o.capture,
    untilCaughtUp: true,
    jobs: 1,
    indexJobs: o.indexJobs,
    splitBytes: 512 * 1024 ** 2,
    // The filter, slot and publication are the ones recorded on the target by the first run.
    filter: {},
    deferForeignKeyChecks: true,
    statusIntervalMs: 1000,
    idleMs: 50,
    logger: o.logger,
    signal: o.signal,
  });
}

/** What is pending, in the change source's unit: WAL bytes (pgoutput) or captured changes (triggers). */
export function pendingUnits(s: RunStatus): number {
  return s.lagBytes ?? s.pending ?? 0;
}

/** The capture mode recorded on the target, with a finished initial copy. */
export async function recordedCapture(ctl: Client, source: ConnectionSpec, target: ConnectionSpec, want: Capture | undefined): Promise<Capture> {
  const repl = await loadReplication(ctl);
  const cap = repl ? null : await loadCapture(ctl);
  const state = repl ?? cap;
  const capture: Capture = repl ? 'pgoutput' : 'triggers';
  if (!state)
    throw new UsageError(`cutover: no replication is recorded on the target ${target.display}; nothing was frozen`, {
      phase: 'preflight',
      hint: 'start one first: pgshift replicate --source … --target … (add --capture triggers without REPLICATION)',
    });
  if (state.source !== source.display)
    throw new UsageError(`cutover: the target ${target.display} replicates from ${state.source}, not ${source.display}; nothing was frozen`, {
      phase: 'preflight',
      hint: 'pass the same --source as pgshift replicate',
    });
  if (!state.copyDone)
    throw new UsageError(`cutover: the initial copy of the replication into ${target.display} is not finished; nothing was frozen`, {
      phase: 'preflight',
      hint: 'let it finish: pgshift replicate --source … --target … --until-caught-up',
    });
  if (want && want !== capture)
    throw new UsageError(`cutover: --capture ${want}, but the replication recorded on the target uses ${capture}; nothing was frozen`, {
      phase: 'preflight',
      hint: `drop --capture (it is read from the target), or pass --capture ${capture}`,
    });
  return capture;
}

/** The foreign keys left NOT VALID by the finish, validated now; a failure names the key and the rows' message. */
export async function validateOwed(ctl: Client, target: ConnectionSpec, jobs: number): Promise<OwedForeignKeys> {
  try {
    const r = await restoreSwitches(ctl, { target, jobs });
    return { validated: r.foreignKeys, lastPassedAt: new Date().toISOString(), failure: null };
  } catch (err) {
    return { validated: 0, lastPassedAt: null, failure: (err as Error).message };
  }
}
