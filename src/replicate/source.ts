// What the engine (engine.ts) asks of a change source: pgoutput (a slot and a publication, pgoutput/change-source.ts)
// or trigger capture (a log on the source, triggers/change-source.ts). Everything mode-specific — what is created
// on the source and recorded on the target first, the ACL check, the snapshot the initial copy reads, how changes
// are read and applied, what a position is — lives behind this interface; the lock, the switches on the target,
// the apply loop's lifetime, status, catch-up and finish are the engine's, the same for both.
import type { ConnectionSpec } from '../config.js';
import type { CopySummary } from '../copy/index.js';
import type { Client } from '../db/connect.js';
import type { Logger } from '../log.js';
import type { Control } from './control.js';
import type { ReplicateOptions } from './options.js';

export type CaptureMode = 'pgoutput' | 'triggers';

/** How this run began: fresh initial copy, finished/redone an interrupted one, or resumed applying. */
export type StartKind = 'fresh' | 'resumed' | 'recopied' | 'none';

export interface SourceContext {
  source: ConnectionSpec;
  target: ConnectionSpec;
  control: Control;
  opts: ReplicateOptions;
  logger: Logger;
}

/** One status sample, the same shape for both sources; `detail` is the source's own sample (status lines, metrics). */
export interface Sample {
  at: Date;
  lagSeconds: number;
  /** pgoutput: source WAL position − position applied; null for trigger capture. */
  lagBytes: number | null;
  /** Trigger capture: log rows not applied yet; null for pgoutput. */
  pending: number | null;
  /** Opaque: an LSN, or the capture's applied snapshot. */
  position: string;
}

/** A point in the source's history: every change committed before it. Opaque to the engine. */
export type Mark = bigint | number;

export interface ChangeSource<Detail = unknown> {
  readonly capture: CaptureMode;
  /**
   * Preflight and state: checks (nothing is created until they pass), then what will be created on the source is
   * recorded on the target before it is, then created (capture install; the slot comes with the initial copy).
   */
  prepare(): Promise<void>;
  /** The initial copy under a snapshot that matches the start of the change stream (or what is left of one). */
  initialCopy(): Promise<{ how: StartKind; copy: CopySummary | null }>;
  /** Tables on the target that the apply writes (their triggers, foreign keys and identities are switched off). */
  appliedTables(): Promise<string[]>;
  /**
   * Start applying in the background. `onConnect` runs on every (re)connection to the target. Resolves once the loop
   * is started, with `running`: settles when the apply loop ends (after stopApply(), or rejects with what ended it).
   */
  startApply(onConnect: (target: Client) => Promise<void>, signal: AbortSignal): Promise<{ running: Promise<void> }>;
  /** Finish what is in hand, persist, and end the apply loop. */
  stopApply(): void;
  /** The source's present: a mark covering every change committed before this call. */
  mark(): Promise<Mark>;
  /** Everything up to `mark` is applied on the target. */
  reached(mark: Mark): boolean;
  /** Let the apply loop notice soon (a keepalive asked for, an idle wait cut short). */
  poke(): void;
  /** A lag sample (queries the source). */
  sample(): Promise<{ sample: Sample; detail: Detail }>;
  /** The position `mark` stands for, as text, and the moment it was caught up to (`sampledAt`: when that was seen). */
  describe(mark: Mark, sampledAt: Date): { position: string; at: Date };
  /** Last source commit applied, if known. */
  lastCommit(): Date | null;
  /** Never "caught up" while a selected table is missing from the stream: throws a StoppedError naming it. */
  checkComplete(): Promise<void>;
  /** An apply failure that the source's state explains better (a table created or truncated), or undefined. */
  explainFailure(err: unknown): Promise<unknown>;
  /** Before the finish's statements on the source connection (session settings). */
  beforeFinish(src: Client): Promise<void>;
  /** Record the catch-up on the target. */
  markCaughtUp(target: Client): Promise<void>;
  /** The summary's mode-specific part, built after the run ended (finished or stopped). */
  report(end: EndOfRun<Detail>): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface EndOfRun<Detail> {
  caughtUp: boolean;
  timedOut: boolean;
  /** The catch-up that the run finished at. */
  caught: { mark: Mark; sample: Sample; detail: Detail } | null;
  /** The last sample (null: none yet). */
  last: { sample: Sample; detail: Detail } | null;
  /** Source connection after the finish (null when not finished). */
  finishedSource: Client | null;
}
