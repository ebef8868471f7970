// The replication engine: ONE orchestrator for both change sources (source.ts). In order:
//   1. the run lock on the target, control connections to both sides (control.ts);
//   2. the source's preflight and state (nothing created until it passes; recorded before created);
//   3. the initial copy under the snapshot that matches the start of the change stream;
//   4. the target's user triggers, foreign keys and identity ALWAYS columns switched off (apply/switches.ts);
//   5. the apply loop in the background (retried by retry.ts), sampled for lag/status every --status-interval;
//   6. catch-up: everything committed on the source before the call is applied; then the finish: sequences, the
//      switches restored, materialized views refreshed, the catch-up recorded.
// A `Replication` is the handle: `startReplication()` returns it after step 5; `replicate()` (index.ts) drives it.
import type { ConnectionSpec } from '../config.js';
import { syncSequences } from '../copy/sequences.js';
import { acquireApplyLock } from '../db/lock.js';
import { roundTripCounts, roundTripsSince, setRoundTripPhase, type RoundTripCounts } from '../db/roundtrips.js';
import { classifyError, InterruptedError, StoppedError, UsageError } from '../errors.js';
import { sleep } from '../sleep.js';
import { restoreSwitches, switchOff, type Switched } from './apply/switches.js';
import { isTransient } from './retry.js';
import { Control } from './control.js';
import { refreshAtFinish, type MatviewRefresh } from './matviews.js';
import type { ReplicateOptions } from './options.js';
import type { ChangeSource, EndOfRun, Mark, Sample, SourceContext, StartKind } from './source.js';
import type { CopySummary } from '../copy/index.js';
import { refuseEndedByReverse } from './preflight.js';

export interface RunStatus {
  lagSeconds: number;
  lagBytes: number | null;
  pending: number | null;
  position: string;
  at: Date;
}

export interface CatchUpOptions {
  timeoutMs?: number;
  /** Absolute time (ms since the epoch) to give up at; the earlier of it and timeoutMs counts. */
  deadline?: number;
  maxLagSeconds?: number;
  /** pgoutput only. */
  maxLagBytes?: number;
  signal?: AbortSignal;
}

export interface CaughtUp {
  /** The source position everything is applied up to (an LSN, or the capture's applied snapshot). */
  position: string;
  at: Date;
  lastCommit: Date | null;
}

/** catchUp() gave up at its timeout: everything applied so far is kept, the apply loop goes on (exit 1). */
export class CatchUpTimeout extends StoppedError {}

/** What the engine reports for both sources; each adds its own fields (report()). */
export interface EngineSummary {
  ok: boolean;
  capture: 'pgoutput' | 'triggers';
  caughtUp: boolean;
  timedOut: boolean;
  seconds: number;
  start: StartKind;
  initialCopy: CopySummary | null;
  sequences: number;
  restored: Switched | null;
  /** Materialized views refreshed by the finish, and how long it took (null: not refreshed). */
  matviews: MatviewRefresh | null;
  /**
   * Round trips per side and phase of this run (preflight, start, catch-up, finish; apply: the applier's own
   * connections; the initial copy's phases by name); connections opened per side. A rerun's fixed cost.
   */
  roundTrips: RoundTripCounts;
}

type Detail = unknown;

export class Replication {
  private failure: unknown;
  private readonly stopApply = new AbortController();
  private readonly stopSampler = new AbortController();
  private running: Promise<void> = Promise.resolve();
  private settled: Promise<void> = Promise.resolve();
  private sampler: Promise<void> = Promise.resolve();
  private last: { sample: Sample; detail: Detail } | null = null;
  private caught: EndOfRun<Detail>['caught'] = null;
  private timedOut = false;
  private ended = false;
  private closed = false;
  private readonly onAbort = () => this.stopApply.abort();

  private constructor(
    readonly startedAt: number,
    private readonly roundTripsBefore: RoundTripCounts,
    private readonly ctx: SourceContext,
    private readonly cs: ChangeSource<Detail>,
    private readonly init: { how: StartKind; copy: CopySummary | null },
  ) {}

  /** Steps 1–5; on any failure everything opened is closed again. */
  static async start(source: ConnectionSpec, target: ConnectionSpec, opts: ReplicateOptions, make: (ctx: SourceContext) => ChangeSource): Promise<Replication> {
    const startedAt = Date.now();
    const roundTripsBefore = roundTripCounts();
    setRoundTripPhase('preflight');
    const { logger } = opts;
    // --log-level debug: how long each step of the run took (where a run's fixed cost goes).
    const step = (what: string) => logger.debug({ ms: Date.now() - startedAt }, `replicate: ${what}`);
    let control: Control | undefined;
    let cs: ChangeSource | undefined;
    try {
      // One writer per target for the whole run (the initial copy runs under it: runLockHeld).
      control = await Control.open(target, source, logger);
      step('connected to both sides, target locked');
      await refuseEndedByReverse(control.targetClient, source, target);
      // control.target: written through a read-only default (the old side of a cutover, see control.ts).
      const ctx: SourceContext = { source, target: control.target, control, opts, logger };
      cs = make(ctx);
      await cs.prepare();
      step('preflight done');
      const init = await cs.initialCopy();
      if (opts.signal.aborted) throw new InterruptedError('replicate interrupted by signal', { hint: 'run the same command again to continue' });
      step(`initial copy: ${init.how}`);
      setRoundTripPhase('start');
      const switched = await switchOff(control.targetClient, await cs.appliedTables());
      if (switched.triggers + switched.foreignKeys + switched.identities > 0) {
        logger.info(
          `replicate: on the target while applying: ${switched.triggers} user triggers disabled, ${switched.foreignKeys} foreign keys dropped, ${switched.identities} identity ALWAYS columns set BY DEFAULT (recorded in pgshift.replication_switch; restored by --until-caught-up or pgshift cleanup)`,
        );
      }
      step('target triggers and foreign keys switched off');
      const run = new Replication(startedAt, roundTripsBefore, ctx, cs, init);
      await run.begin();
      setRoundTripPhase('catch-up');
      return run;
    } catch (err) {
      await cs?.close().catch(() => undefined);
      await control?.end();
      throw classify(err);
    }
  }

  private async begin(): Promise<void> {
    const { control, target, opts } = this.ctx;
    opts.signal.addEventListener('abort', this.onAbort, { once: true });
    if (opts.signal.aborted) this.stopApply.abort();
    // Every (re)connection of the applier: this run still holds the target, and no other applier is alive.
    const onConnect = async (client: Parameters<typeof acquireApplyLock>[0]) => {
      await control.holdTarget();
      await acquireApplyLock(client, target.display);
    };
    const { running } = await this.cs.startApply(onConnect, this.stopApply.signal);
    this.running = running.catch((err) => {
      this.failure ??= err;
      throw err;
    });
    // Made once: a reaction added to `running` on every 10 ms wait would live until the run ends.
    this.settled = this.running.catch(() => undefined);
    await this.sampleNow().catch((err) => this.fail(err));
    this.sampler = this.sampleEvery(opts.statusIntervalMs ?? 5000);
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    this.cs.stopApply();
  }

  private async sampleEvery(interval: number): Promise<void> {
    const signal = this.stopSampler.signal;
    for (;;) {
      await Promise.race([sleep(interval, signal), this.settled]);
      if (signal.aborted || this.failure !== undefined) return;
      await this.sampleNow().catch((err) => this.fail(err));
    }
  }

  /** A lag sample, reported to onStatus. The run lock is re-taken if its connection was lost (a target still down is the applier's to retry). */
  private async sampleNow(): Promise<{ sample: Sample; detail: Detail }> {
    await this.ctx.control.holdTarget().catch((err) => {
      if (err instanceof UsageError) throw err;
    });
    const s = await this.cs.sample();
    this.last = s;
    this.ctx.opts.onStatus?.(s.detail as Parameters<NonNullable<ReplicateOptions['onStatus']>>[0]);
    return s;
  }

  status(): RunStatus {
    const s = this.last?.sample ?? { lagSeconds: 0, lagBytes: null, pending: null, position: '', at: new Date(this.startedAt) };
    return { lagSeconds: s.lagSeconds, lagBytes: s.lagBytes, pending: s.pending, position: s.position, at: s.at };
  }

  /** Resolves once every change committed on the source before the call is applied (and no selected table is missing). */
  async catchUp(o: CatchUpOptions = {}): Promise<CaughtUp> {
    const deadline = Math.min(o.deadline ?? Infinity, o.timeoutMs !== undefined ? Date.now() + o.timeoutMs : Infinity);
    let mark: Mark | null = null;
    this.timedOut = false;
    for (;;) {
      await this.throwIfEnded(o.signal);
      try {
        // The check: the source's present; caught up once everything up to it is applied.
        mark ??= await this.cs.mark();
        this.cs.poke();
        if (this.cs.reached(mark)) {
          const s = await this.sampleNow();
          const withinBytes = o.maxLagBytes === undefined || (s.sample.lagBytes ?? 0) <= o.maxLagBytes;
          const withinSeconds = o.maxLagSeconds === undefined || s.sample.lagSeconds <= o.maxLagSeconds;
          if (withinBytes && withinSeconds) {
            await this.throwIfEnded(o.signal);
            await this.cs.checkComplete();
            this.ctx.logger.debug({ ms: Date.now() - this.startedAt }, 'replicate: caught up');
            this.caught = { mark, ...s };
            return { ...this.cs.describe(mark, s.sample.at), lastCommit: this.cs.lastCommit() };
          }
          mark = null;
        }
      } catch (err) {
        // A source or target that cannot be reached right now: the apply loop retries it, and so does this check.
        if (!isTransient(err)) throw err;
        await sleep(500, o.signal);
      }
      if (Date.now() >= deadline) {
        this.timedOut = true;
        throw new CatchUpTimeout('replicate: not caught up within the timeout; everything applied so far is kept', {
          phase: 'catch-up',
          hint: 'run the same command again (it resumes), raise --timeout or --max-lag-*, or reduce the write load on the source',
        });
      }
      // Checked often: a catch-up ends within ~10 ms of the position being applied (a run's fixed cost).
      await Promise.race([this.settled, sleep(10, o.signal)]);
    }
  }

  private async throwIfEnded(signal?: AbortSignal): Promise<void> {
    if (this.failure !== undefined) throw await this.explained();
    if (this.ended || this.stopApply.signal.aborted || signal?.aborted)
      throw new InterruptedError('replicate interrupted by signal', { hint: 'run the same command again to continue' });
  }

  /** Until the apply loop ends (the signal, or a failure: thrown). */
  async untilStopped(): Promise<void> {
    await this.settled;
    if (this.failure !== undefined) throw await this.explained();
  }

  /**
   * Stops the apply loop (complete transactions committed, position persisted), then sequences, switches, matviews,
   * caught up. Covers what the LAST catchUp() covered (a fresh one if none ran): call catchUp() right before, with
   * writes frozen, as replicate() and the cutover do; writes committed after that catchUp may not be on the target.
   */
  async finish(): Promise<EngineSummary & Record<string, unknown>> {
    this.refuseEnded('finish');
    try {
      if (!this.caught) await this.catchUp();
      await this.endApply();
      setRoundTripPhase('finish');
      const { control, target, opts } = this.ctx;
      // Either control connection may have been lost while applying: re-opened (the lock re-taken), not fatal.
      const [tgt, src] = [await control.holdTarget(), await control.holdSource()];
      await this.cs.beforeFinish(src);
      const sequences = await syncSequences(src, tgt);
      const restored = await restoreSwitches(tgt, { target, jobs: opts.indexJobs, deferChecks: opts.deferForeignKeyChecks });
      const matviews = opts.refreshMatviews !== false ? await refreshAtFinish(src, tgt) : null;
      await this.cs.markCaughtUp(tgt);
      this.ctx.logger.debug({ ms: Date.now() - this.startedAt }, 'replicate: sequences set, target switches restored');
      return await this.summary({ sequences, restored, matviews }, src);
    } catch (err) {
      throw classify(err);
    } finally {
      await this.close();
    }
  }

  /** Stops the apply loop and leaves the state resumable (no finish); releases the lock. */
  async stop(): Promise<EngineSummary & Record<string, unknown>> {
    this.refuseEnded('stop');
    try {
      await this.endApply();
      this.caught = null;
      this.last = await this.cs.sample();
      return await this.summary({ sequences: 0, restored: null, matviews: null }, null);
    } catch (err) {
      throw classify(err);
    } finally {
      await this.close();
    }
  }

  private refuseEnded(what: string): void {
    if (this.closed)
      throw new UsageError(`replicate: ${what}() on a run that has ended already`, { phase: 'replicate', hint: 'start a new run with startReplication()' });
  }

  private async endApply(): Promise<void> {
    this.stopSampler.abort();
    this.cs.stopApply();
    await this.running.catch(() => undefined);
    await this.sampler;
    this.ended = true;
    this.ctx.opts.signal.removeEventListener('abort', this.onAbort);
    if (this.failure !== undefined) throw await this.explained();
  }

  private async explained(): Promise<unknown> {
    return (await this.cs.explainFailure(this.failure).catch(() => undefined)) ?? this.failure;
  }

  private async summary(
    finish: { sequences: number; restored: Switched | null; matviews: MatviewRefresh | null },
    src: EndOfRun<Detail>['finishedSource'],
  ): Promise<EngineSummary & Record<string, unknown>> {
    const caughtUp = this.caught !== null;
    const own = await this.cs.report({ caughtUp, timedOut: this.timedOut, caught: this.caught, last: this.last, finishedSource: src });
    return {
      ok: !this.timedOut,
      capture: this.cs.capture,
      caughtUp,
      timedOut: this.timedOut,
      seconds: (Date.now() - this.startedAt) / 1000,
      start: this.init.how,
      initialCopy: this.init.copy,
      ...finish,
      roundTrips: roundTripsSince(this.roundTripsBefore),
      ...own,
    };
  }

  /** Closes everything without a word (a run that failed is left as its state says). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ended) {
      this.stopSampler.abort();
      this.cs.stopApply();
      await this.running.catch(() => undefined);
      await this.sampler;
      this.ended = true;
      this.ctx.opts.signal.removeEventListener('abort', this.onAbort);
    }
    await this.cs.close().catch(() => undefined);
    await this.ctx.control.end();
  }
}

function classify(err: unknown): unknown {
  return classifyError(err, 'replicate', { phase: 'replicate', hint: 'fix the cause, then run the same command again (it resumes from the target state)' });
}
