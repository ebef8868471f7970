// `pgshift estimate`: plan exactly as copy would (planCopy under an exported snapshot), measure the pair
// (probe.ts) and the source's write rate (writerate.ts), simulate copy's schedule (model.ts, simulate.ts) and
// answer how long the copy takes and how long writes must be frozen under each strategy.
import { relayEnabled } from '../schema/relay/index.js';
import type { TableFilter } from '../catalog/filter.js';
import type { AnalyzeMode } from '../copy/analyze.js';
import { logicalReplicationStatus } from '../catalog/inventory.js';
import type { ConnectionSpec } from '../config.js';
import { planCopy } from '../copy/plan.js';
import { readSequences } from '../copy/sequences.js';
import { connect, serverMajor, withClient } from '../db/connect.js';
import { batchSizeFor, lockSlots } from '../copy/restore.js';
import { exportSnapshot } from '../db/snapshot.js';
import { classifyError, InterruptedError } from '../errors.js';
import { formatDuration } from '../format.js';
import { silentLogger, type Logger } from '../log.js';
import { planSizes } from './catalog.js';
import { timeSchema } from './schema.js';
import { linkCost, type LinkCost } from './latency.js';
import { chooseStrategy, COPY_SOURCE_ROUND_TRIPS, modelCopy, type CopyModel, type CriticalStep, type Phase, type Strategy, type WriteRate } from './model.js';
import { probe, type ProbeSample } from './probe.js';
import { DEFAULT_RATES, scaleRates, usableRates, type Rates } from './rates.js';
import type { Segment } from './simulate.js';
import { sampleWriteRate } from './writerate.js';
import { triggerCaptureStatus } from './trigger-capture.js';
import { secondHalf } from '../copy/schedule.js';

export interface EstimateOptions {
  jobs: number;
  indexJobs: number;
  splitBytes: number;
  filter: Partial<TableFilter>;
  probeSeconds: number;
  /** Seconds of write freeze the team can accept; null: no yes/no answer. */
  budgetSeconds: number | null;
  /** Seconds over which the source's write rate is sampled. */
  writeSampleSeconds?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** Folder with pg_dump/pg_restore (as copy --pg-bin). */
  pgBin?: string;
  /** As copy --analyze (default overlap). */
  analyze?: AnalyzeMode;
  /** Replace measured or default rates (tests, benchmarks). */
  rates?: Partial<Rates>;
}

export interface EstimateReport {
  ok: true;
  source: string;
  target: string | null;
  calibrated: boolean;
  /** The source link: its measured round trip, the round trips copy makes there by step, and their cost. */
  link: LinkCost;
  totalSeconds: number;
  low: number;
  high: number;
  /** Where the range comes from. */
  rangeBasis: string;
  phases: { name: Phase['name']; seconds: number; start: number }[];
  criticalPath: CriticalStep[];
  verifySeconds: number;
  connections: { source: number; target: number };
  jobs: number;
  indexJobs: number;
  tables: number;
  chunks: number;
  builds: number;
  bytes: number;
  /** The simulated schedule of the data phase (seconds from the start of the copy). */
  schedule: Segment[];
  probe: { seconds: number; samples: ProbeSample[]; notes: string[] };
  rates: Rates;
  strategy: Strategy;
  /** Without --target: how to calibrate. */
  howToCalibrate: string | null;
}

/**
 * Worst error bench/estimate.ts measured on this project's shared 2-core machine (docs/benchmarks.md, "Estimate accuracy"):
 * the calibrated range is at least this wide. Lower it when a quieter machine measures less.
 */
export const MODEL_ERROR = 0.3;
/** Without a target the target's speed and the network are unknown: the range spans this factor each way. */
const UNCALIBRATED_SPREAD = { faster: 1.5, slower: 2.5 };
/** Without a target, the target is assumed to take rows at this share of the source's read rate. */
export const UNCALIBRATED_WRITE_SHARE = 0.5;

const CALIBRATE_HINT =
  'run pgshift estimate again with --target URL of the new (empty) database: a short probe (--probe-seconds, default 10) times real COPYs into rolled-back scratch tables there, so the rates include the network, TLS and both servers';

export async function estimateCopy(source: ConnectionSpec, target: ConnectionSpec | undefined, opts: EstimateOptions): Promise<EstimateReport> {
  try {
    return await estimate(source, target, opts);
  } catch (err) {
    if (opts.signal?.aborted) {
      throw new InterruptedError('estimate interrupted: the probe stopped and its scratch tables were rolled back; nothing was left on the target', {
        phase: 'estimate',
        hint: 'run pgshift estimate again (a shorter --probe-seconds if the probe took too long)',
      });
    }
    throw err;
  }
}

async function estimate(source: ConnectionSpec, target: ConnectionSpec | undefined, opts: EstimateOptions): Promise<EstimateReport> {
  const logger = opts.logger ?? silentLogger;
  const signal = opts.signal ?? new AbortController().signal;
  // The same plan copy would run, read under one exported snapshot, which is closed before the probe.
  const snapshot = await exportSnapshot(source, 'estimate coordinator');
  let plan, sizes, replication, triggerStatus;
  const notes: string[] = [];
  try {
    try {
      const t0 = process.hrtime.bigint();
      // The same options as copy's planCopy: --jobs also decides how a dominant table is split.
      plan = await planCopy(snapshot.client, { mode: 'full', filter: opts.filter, splitBytes: opts.splitBytes, jobs: opts.jobs });
      // Copy reads every sequence right after planning, one query each: part of its setup.
      await readSequences(snapshot.client, plan.sequences);
      const planSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      sizes = { ...(await planSizes(snapshot.client, plan)), planSeconds };
      replication = await logicalReplicationStatus(snapshot.client);
      triggerStatus = await triggerCaptureStatus(
        snapshot.client,
        plan.data.map((t) => t.oid),
      );
    } catch (err) {
      throw classifyError(err, `estimate: reading the catalog of the source ${source.display}`, { phase: 'estimate plan' });
    }
    try {
      // copy restores the schema in batches sized from the target's lock table.
      const batchSize = target ? await withClient(target, async (c) => batchSizeFor(await lockSlots(c)), { applicationName: 'pgshift estimate' }) : undefined;
      sizes.schema = await timeSchema({
        source,
        snapshotId: snapshot.id,
        serverMajor: await serverMajor(snapshot.client),
        plan,
        pgBin: opts.pgBin,
        signal,
        batchSize,
        withSample: Boolean(target),
      });
      notes.push(
        `schema: pg_dump ${sizes.schema.tool} took ${sizes.schema.dump.toFixed(2)}s for ${sizes.schema.preStatements} pre-data and ${sizes.schema.postStatements} post-data statements`,
      );
    } catch (err) {
      if (signal.aborted) throw err;
      notes.push(`schema: not measured (${(err as Error).message.split('\n')[0]}); modelled from object counts`);
    }
  } finally {
    await snapshot.close();
  }
  if (signal.aborted) throw signal.reason;

  const writer = await connect(source, { applicationName: 'pgshift estimate write rate' });
  let writeRate: WriteRate;
  let measured;
  try {
    [writeRate, measured] = await Promise.all([
      sampleWriteRate(writer, opts.writeSampleSeconds ?? 2, signal),
      probe({
        source,
        target,
        data: plan.data,
        jobs: opts.jobs,
        indexJobs: opts.indexJobs,
        seconds: opts.probeSeconds,
        signal,
        logger,
        schemaSample: sizes.schema?.sample,
      }),
    ]);
  } finally {
    await writer.end().catch(() => undefined);
  }

  let rates: Rates = { ...DEFAULT_RATES, ...measured.rates };
  if (!measured.calibrated && measured.sourceRead && Number.isFinite(measured.sourceRead) && measured.sourceRead > 0) {
    // The measured format reads at sourceRead; the other is derived (binary ≈ 1.5 × text).
    const sampledBinary = measured.samples[0]?.format === 'binary';
    const w = measured.sourceRead * UNCALIBRATED_WRITE_SHARE;
    rates.copy = sampledBinary ? { binary: w, text: w / 1.5 } : { text: w, binary: w * 1.5 };
  }
  if (opts.rates) rates = { ...rates, ...opts.rates };
  const sane = usableRates(rates);
  rates = sane.rates;
  if (sane.replaced.length) notes.push(`the probe measured no usable value for ${sane.replaced.join(', ')}: the stated default is used instead`);

  const mopts = { jobs: opts.jobs, indexJobs: opts.indexJobs, analyze: opts.analyze };
  const model: CopyModel = await modelCopy(plan, sizes, rates, mopts);
  let low: number;
  let high: number;
  let rangeBasis: string;
  if (measured.calibrated) {
    const margin = MODEL_ERROR + measured.noise;
    low = (await modelCopy(plan, sizes, scaleRates(rates, 1 + margin), mopts)).seconds;
    high = (await modelCopy(plan, sizes, scaleRates(rates, 1 / (1 + margin)), mopts)).seconds;
    rangeBasis = `rates ±${Math.round(margin * 100)} %: the model's error on the accuracy benchmark (${Math.round(MODEL_ERROR * 100)} %) plus the disagreement between repeated probe samples (${Math.round(measured.noise * 100)} %)`;
  } else {
    low = (await modelCopy(plan, sizes, scaleRates(rates, UNCALIBRATED_SPREAD.faster), mopts)).seconds;
    high = (await modelCopy(plan, sizes, scaleRates(rates, 1 / UNCALIBRATED_SPREAD.slower), mopts)).seconds;
    rangeBasis = `uncalibrated: the target and the network were not measured, so rates may be ${UNCALIBRATED_SPREAD.faster}× faster to ${UNCALIBRATED_SPREAD.slower}× slower than assumed`;
  }
  const strategy = chooseStrategy({
    copySeconds: model.seconds,
    verifySeconds: model.verifySeconds,
    foreignKeySeconds: model.foreignKeySeconds,
    matviews: { views: plan.matviews.length, seconds: model.matviewSeconds },
    sequences: plan.sequences.length,
    writeRate,
    replication,
    triggerCapture: { status: triggerStatus, sourceRoundTrip: rates.sourceRoundTrip, targetRoundTrip: rates.roundTrip },
    budgetSeconds: opts.budgetSeconds,
    format: formatDuration,
  });
  const link = linkCost({
    sourceRoundTrip: rates.sourceRoundTrip,
    chunks: plan.chunks,
    tables: plan.data.length,
    sequences: plan.sequences.length,
    pgDumpMajor: sizes.schema ? Number.parseInt(sizes.schema.tool, 10) : undefined,
    pgDumpRelay: relayEnabled(),
    // copy's setup queries plus its plan's catalog reads (about ten).
    setupRoundTrips: COPY_SOURCE_ROUND_TRIPS + 10,
    jobs: opts.jobs,
    copySeconds: model.seconds,
    format: formatDuration,
  });
  if (link.note) {
    strategy.verdict = `${strategy.verdict} ${link.note}`;
    notes.push(link.note);
  }
  const shift = model.phases[0]!.seconds;
  return {
    link,
    ok: true,
    source: source.display,
    target: target?.display ?? null,
    calibrated: measured.calibrated,
    totalSeconds: model.seconds,
    low,
    high,
    rangeBasis,
    phases: model.phases.map((p) => ({ name: p.name, seconds: p.seconds, start: p.start })),
    criticalPath: model.criticalPath,
    verifySeconds: model.verifySeconds,
    // As copy uses them: a pipe is one connection per side; the coordinator and pg_dump on the source; the
    // control connection and the index builders on the target.
    connections: { source: opts.jobs + 2, target: opts.jobs + opts.indexJobs + 2 },
    jobs: opts.jobs,
    indexJobs: opts.indexJobs,
    tables: plan.data.length,
    chunks: plan.chunks.length,
    builds: plan.builds.jobs.filter((j) => !secondHalf(j)).length,
    bytes: model.bytes,
    schedule: model.data.segments.map((s) => ({ ...s, start: s.start + shift, end: s.end + shift })),
    probe: { seconds: measured.seconds, samples: measured.samples, notes: [...notes, ...measured.notes] },
    rates,
    strategy,
    howToCalibrate: measured.calibrated ? null : CALIBRATE_HINT,
  };
}
