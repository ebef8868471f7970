// The replication engine as pgshift cutover drives it: one run of the unified engine (src/replicate/engine.ts,
// startReplication → status / catchUp / finish / stop) for the whole cutover, so the stream is caught up before the
// freeze, caught up again to the freeze point and finished without a second start. Its finish adds the foreign keys
// NOT VALID and leaves their VALIDATE owed: the cutover runs those after its freeze.
import type { ConnectionSpec } from '../config.js';
import type { Logger } from '../log.js';
import { startReplication, type ReplicationRun, type RunStatus } from '../replicate/index.js';

export type Capture = 'pgoutput' | 'triggers';
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
