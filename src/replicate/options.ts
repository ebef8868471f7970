// The options of a replication run, for both change sources (pgoutput and trigger capture).
import type { TableFilter } from '../catalog/filter.js';
import type { Logger } from '../log.js';
import type { Progress } from '../progress.js';
import type { LagSample } from './lag.js';
import type { CaptureSample } from './triggers/lag.js';

export interface ReplicateOptions {
  /** How changes are read on the source: a slot and a publication (default), or trigger capture. */
  capture?: 'pgoutput' | 'triggers';
  /** replicate(): catch up, finish and return (else apply until the signal aborts). Not read by startReplication(). */
  untilCaughtUp?: boolean;
  /** pgoutput only. */
  maxLagBytes?: number;
  maxLagSeconds?: number;
  /** --until-caught-up gives up (exit 1) after this many seconds, counted from the start of the run. */
  timeoutSeconds?: number;
  jobs: number;
  indexJobs: number;
  splitBytes: number;
  filter: Partial<TableFilter>;
  pgBin?: string;
  /** pgoutput only: the slot and publication names (default pgshift_<random>). */
  slot?: string;
  publication?: string;
  /** pgoutput only: ALTER TABLE … REPLICA IDENTITY FULL on the source for tables without a key. */
  fixReplicaIdentity?: boolean;
  /** The finish adds foreign keys NOT VALID and leaves their VALIDATE owed (pgshift cutover runs it after its freeze). */
  deferForeignKeyChecks?: boolean;
  /** The finish refreshes the materialized views populated on the source (default true). */
  refreshMatviews?: boolean;
  /** pgoutput only: ADD COLUMN (nullable, no default) and DROP COLUMN on the source are applied to the target (writer.ts). */
  applyDdl?: boolean;
  /** pgoutput only: transactions larger than the source's logical_decoding_work_mem are applied while they run (PG ≥ 14). */
  streamLargeTransactions?: boolean;
  /** pgoutput only: Prometheus metrics and /healthz. */
  metricsPort?: number;
  /** Address the metrics server binds (default 127.0.0.1). */
  metricsHost?: string;
  /** How often lag is sampled and reported. */
  statusIntervalMs?: number;
  /** Trigger capture: pause between batches when the last one found nothing to do. */
  idleMs?: number;
  logger: Logger;
  progress?: Progress;
  /** Called with every lag sample (the CLI draws a status line or logs it): a LagSample (pgoutput) or a CaptureSample. */
  onStatus?: (s: LagSample | CaptureSample) => void;
  signal: AbortSignal;
}
