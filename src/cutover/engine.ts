// The replication engine as pgshift cutover drives it, in the shape of the unified engine's handle
// (startReplication → status / catchUp / finish / stop; issue #24). Until that engine is merged this adapter runs
// today's orchestrators: each catchUp() is an --until-caught-up run without its finish, finish() is one with it
// (foreign keys added NOT VALID, their VALIDATE left owed). Each call is a run of its own (its own run lock,
// preflight and connections): a fixed cost per call, which the cutover measures and counts in its prediction.
import type { ConnectionSpec } from '../config.js';
import { connect, type Client } from '../db/connect.js';
import type { Logger } from '../log.js';
import type { Switched } from '../replicate/apply/switches.js';
import type { MatviewRefresh } from '../replicate/matviews.js';
import { loadReplication } from '../replicate/state.js';
import { loadCapture } from '../replicate/triggers/state.js';

export type Capture = 'pgoutput' | 'triggers';

export interface EngineOptions {
  capture: Capture;
  logger: Logger;
  signal: AbortSignal;
  indexJobs?: number;
}

/** What is still to apply, as the change source counts it. */
export interface EngineStatus {
  capture: Capture;
  /** pgoutput: WAL bytes between the slot's confirmed position and the source's current one. */
  pendingBytes: number | null;
  /** triggers: captured changes not yet applied. */
  pendingChanges: number | null;
  /** triggers: age of the oldest pending change. */
  oldestSeconds: number | null;
}

export interface CatchUpResult {
  caughtUp: boolean;
  seconds: number;
  changes: number;
}

export interface FinishResult extends CatchUpResult {
  sequences: number;
  restored: Switched | null;
  matviews: MatviewRefresh | null;
}

export interface ReplicationRun {
  readonly capture: Capture;
  status(): Promise<EngineStatus>;
  catchUp(o?: { timeoutMs?: number; maxLagSeconds?: number }): Promise<CatchUpResult>;
  finish(o?: { timeoutMs?: number }): Promise<FinishResult>;
  stop(): Promise<void>;
}

export function startReplication(source: ConnectionSpec, target: ConnectionSpec, opts: EngineOptions): ReplicationRun {
  let src: Client | undefined;
  let ctl: Client | undefined;
  const common = {
    untilCaughtUp: true,
    jobs: 1,
    indexJobs: opts.indexJobs ?? 2,
    splitBytes: 512 * 1024 ** 2,
    filter: {},
    logger: opts.logger,
    signal: opts.signal,
    statusIntervalMs: 60_000,
    idleMs: 50,
    deferForeignKeyChecks: true,
  };
  const once = async (finish: boolean, timeoutMs?: number, maxLagSeconds?: number): Promise<FinishResult> => {
    const timeoutSeconds = timeoutMs === undefined ? undefined : timeoutMs / 1000;
    if (opts.capture === 'triggers') {
      const { replicateByTriggers } = await import('../replicate/triggers/index.js');
      const s = await replicateByTriggers(source, target, { ...common, finish, timeoutSeconds, maxLagSeconds });
      return { caughtUp: s.caughtUp, seconds: s.seconds, changes: s.changes, sequences: s.sequences, restored: s.restored, matviews: s.matviews };
    }
    const { replicate } = await import('../replicate/index.js');
    const s = await replicate(source, target, { ...common, finish, timeoutSeconds, maxLagSeconds, fixReplicaIdentity: false });
    return { caughtUp: s.caughtUp, seconds: s.seconds, changes: s.changes, sequences: s.sequences, restored: s.restored, matviews: s.matviews };
  };
  return {
    capture: opts.capture,
    async status() {
      src ??= await connect(source, { applicationName: 'pgshift cutover status' });
      ctl ??= await connect(target, { applicationName: 'pgshift cutover status' });
      if (opts.capture === 'triggers') {
        const state = await loadCapture(ctl);
        const { pendingStats } = await import('../replicate/triggers/index.js');
        const p = await pendingStats(src, state!.appliedSnapshot!);
        return { capture: 'triggers', pendingBytes: null, pendingChanges: p.pending, oldestSeconds: p.ageSeconds };
      }
      const state = await loadReplication(ctl);
      const { rows } = await src.query(
        `SELECT GREATEST(pg_catalog.pg_current_wal_lsn() - confirmed_flush_lsn, 0)::float8 AS b FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
        [state!.slot],
      );
      return { capture: 'pgoutput', pendingBytes: rows[0]?.b ?? null, pendingChanges: null, oldestSeconds: null };
    },
    async catchUp(o = {}) {
      const r = await once(false, o.timeoutMs, o.maxLagSeconds);
      return { caughtUp: r.caughtUp, seconds: r.seconds, changes: r.changes };
    },
    finish: (o = {}) => once(true, o.timeoutMs),
    async stop() {
      await Promise.all([src?.end().catch(() => undefined), ctl?.end().catch(() => undefined)]);
      src = ctl = undefined;
    },
  };
}
