// Calibration on the real pair: time sample COPYs of the largest tables from the source into scratch tables in
// the target's `pgshift` schema (same format, FREEZE and session settings as copy), then a sample scan and
// index build, the verify hash on the source, and COPYs and builds side by side (probe-contention.ts).
// Bounded by --probe-seconds.
//
// Nothing the probe creates outlives it: each scratch table is created, loaded, indexed and measured inside one
// transaction that is rolled back — a crash, SIGKILL or Ctrl-C leaves nothing behind (the server rolls back a
// transaction whose connection is gone). The one commit it times creates and drops its table in the same
// transaction. Only the `pgshift` schema itself, when the target had none, is created for the probe, and dropped
// again at the end.
import { STATE_SCHEMA } from '../catalog/system.js';
import { tableKey } from '../catalog/table-id.js';
import type { TableInfo } from '../catalog/tables.js';
import type { ConnectionSpec } from '../config.js';
import { copyFormat } from '../copy/pipeline.js';
import { targetObjects } from '../copy/preflight.js';
import { largestFirst, tableBytes } from '../copy/plan.js';
import { connect, type Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { classifyError } from '../errors.js';
import type { Logger } from '../log.js';
import { buildRates, maintenanceSettings, sampleIndexes } from './probe-builds.js';
import { schemaRates, timeSchemaSample, type SchemaProbe } from './probe-schema.js';
import { contentionFrom, measureContention, together, whileAllBusy } from './probe-contention.js';
import { sampleCopy, sampleRead, scratchColumns, timeCommit, timeHash, timeTruncate, type Prepared, type TimedCopy } from './probe-sample.js';
import { median } from './median.js';
import { DEFAULT_RATES, type Rates } from './rates.js';
import type { SchemaSample } from './schema.js';

const MB = 1024 * 1024;
/** Seconds of one contention build (probe step 4), and at most the seconds of COPY that loads a builder's table. */
const CONTENTION_BUILD_SECONDS = 0.2;
const CONTENTION_LOAD_SECONDS = 0.5;

export { scratchName } from './probe-sample.js';

export interface ProbeSample {
  table: string;
  format: 'text' | 'binary';
  /** Source table bytes the sample stands for (rows × the table's bytes per row). */
  bytes: number;
  rows: number;
  seconds: number;
  /** COPY pipes running at the same time. */
  parallel: number;
}

export interface ProbeResult {
  calibrated: boolean;
  rates: Partial<Rates>;
  samples: ProbeSample[];
  /** Relative disagreement between repeated measurements of the same table (0.05 = 5 %). */
  noise: number;
  seconds: number;
  /** What was measured and what was assumed, for people. */
  notes: string[];
  /** Without a target: source table bytes one connection reads per second (COPY to nowhere). */
  sourceRead?: number;
}

export interface ProbeOptions {
  source: ConnectionSpec;
  /** Without a target, only the source side is measured. */
  target?: ConnectionSpec;
  data: TableInfo[];
  jobs: number;
  /** copy's --index-jobs: with more than one, two builds at once are measured too. */
  indexJobs: number;
  seconds: number;
  signal: AbortSignal;
  logger: Logger;
  /** A prefix of the source's pre-data SQL: applied on the target and rolled back, it times one statement. */
  schemaSample?: SchemaSample;
}

async function openSource(spec: ConnectionSpec, n: number): Promise<Client> {
  // As copy's workers: pooled socket reads (plaintext), and never a silent subset.
  const c = await connect(spec, { applicationName: `pgshift estimate probe ${n}`, pooledReads: true });
  await c.query(`SET row_security = off`);
  return c;
}

async function openTarget(spec: ConnectionSpec, n: number): Promise<Client> {
  const c = await connect(spec, { applicationName: `pgshift estimate probe ${n}` });
  // As copy's workers.
  await c.query(`SET synchronous_commit = off`);
  return c;
}

async function closeQuietly(c: Client | undefined): Promise<void> {
  if (!c) return;
  await Promise.race([c.end().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
}

const bytesOf = (p: Prepared, rows: number, scratchBytes: number) => (p.bytesPerRow > 0 ? rows * p.bytesPerRow : scratchBytes);
const rowsFor = (p: Prepared, bytes: number) => Math.max(1, Math.ceil(bytes / Math.max(1, p.bytesPerRow || 200)));

export async function probe(o: ProbeOptions): Promise<ProbeResult> {
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const { signal } = o;
  const notes: string[] = [];
  const samples: ProbeSample[] = [];
  const opened: Client[] = [];
  const track = async (p: Promise<Client>) => {
    const c = await p;
    opened.push(c);
    return c;
  };
  let ctl: Client | undefined;
  let createdSchema = false;
  // Sample the largest tables: they decide the data phase.
  const candidates = largestFirst(
    o.data.filter((t) => tableBytes(t) > 0 && t.columns.some((c) => !c.generated)),
    tableBytes,
  ).slice(0, 4);
  try {
    if (candidates.length === 0) {
      notes.push('no table holds data: nothing to sample');
      return { calibrated: Boolean(o.target), rates: {}, samples, noise: 0, seconds: elapsed(), notes };
    }
    const c0 = Date.now();
    const src0 = await track(openSource(o.source, 1));
    const connectSeconds = (Date.now() - c0) / 1000;
    const prepared: Prepared[] = [];
    for (const t of candidates) {
      const columns = await scratchColumns(src0, t);
      // Binary as copy would use it, unless the scratch table cannot take a column's binary form unchanged.
      const format = copyFormat(t) === 'binary' && columns.every((c) => c.binaryOk) ? 'binary' : 'text';
      // Only the largest table's indexes are sampled (its sample is the one that measures builds).
      const indexes =
        prepared.length === 0 && o.target
          ? await sampleIndexes(
              src0,
              t,
              columns.map((c) => c.attnum),
              columns.map((c) => c.type !== 'text' || c.binaryOk),
            )
          : [];
      prepared.push({ table: t, columns, format, bytesPerRow: t.rows > 0 ? tableBytes(t) / t.rows : 0, indexes });
    }
    const budget = Math.max(1, o.seconds);
    // Sizes the samples; the solo rounds (step 2) stop taking samples after 40 % of the budget, the rest is for
    // the pipes (step 3) and contention (step 4), which run for fixed windows.
    const sampling = budget * 0.6;
    const soloUntil = budget * 0.4;

    if (!o.target) {
      // Uncalibrated: the source side only — its read rate and its hashing rate.
      const p = prepared[0]!;
      const small = await sampleRead(src0, p, rowsFor(p, 256 * 1024), signal);
      // A table never analyzed has no bytes per row: its wire bytes stand in.
      const smallRate = bytesOf(p, small.rows, small.wireBytes) / Math.max(0.001, small.seconds);
      const want = Math.min(tableBytes(p.table), smallRate * budget * 0.5);
      const big = await sampleRead(src0, p, rowsFor(p, want), signal);
      const readBytes = bytesOf(p, big.rows, big.wireBytes);
      const read = readBytes / Math.max(0.001, big.seconds);
      samples.push({ table: p.table.display, format: p.format, bytes: readBytes, rows: big.rows, seconds: big.seconds, parallel: 1 });
      const hashSeconds = await timeHash(src0, p, big.rows);
      notes.push(`source read rate ${(read / 1e6).toFixed(1)} MB/s (${p.table.display}, ${p.format}); the target side is assumed, not measured`);
      return {
        calibrated: false,
        rates: { connect: connectSeconds, verifyHash: readBytes / Math.max(0.001, hashSeconds) },
        sourceRead: read,
        samples,
        noise: 0,
        seconds: elapsed(),
        notes,
      };
    }

    // ---- calibrated: target side too
    ctl = await connect(o.target, { applicationName: runApplicationName('estimate') });
    // One writer per target: never probe while a copy runs (it would slow the copy and the numbers would lie).
    await acquireRunLock(ctl, { command: 'estimate', side: 'target', display: o.target.display });
    const { rows: ns } = await ctl.query<{ present: boolean }>(`SELECT to_regnamespace($1) IS NOT NULL AS present`, [STATE_SCHEMA]);
    if (!ns[0]!.present) {
      try {
        await ctl.query(`CREATE SCHEMA ${quoteIdent(STATE_SCHEMA)}`);
      } catch (err) {
        throw classifyError(err, `estimate probe: creating the ${STATE_SCHEMA} schema on the target ${o.target.display}`, {
          phase: 'estimate probe',
          hint: `grant CREATE on the target database to the target role (copy needs it too), or run pgshift estimate without --target for an uncalibrated estimate`,
        });
      }
      createdSchema = true;
    }
    const tgt0 = await track(openTarget(o.target, 1));
    // copy's preflight reads the target's catalog (is it empty?): timed as it runs there.
    const q0 = process.hrtime.bigint();
    await targetObjects(ctl);
    const preflightQuery = Number(process.hrtime.bigint() - q0) / 1e9;

    // 1. Solo: a tiny sample gives the fixed cost of one COPY; a small one per table sizes the real samples.
    const p0 = prepared[0]!;
    // Fixed costs are small and a busy machine makes single timings jumpy: medians of a few.
    const tinies: TimedCopy[] = [];
    for (let k = 0; k < 5; k++) tinies.push(await sampleCopy(src0, tgt0, p0, 0, 1, signal, true));
    const tiny = tinies.sort((a, b) => a.seconds - b.seconds)[2]!;
    const overhead = tiny.seconds;
    const truncate = await timeTruncate(src0, tgt0, p0, 0, signal);
    // A commit empty and one after about a MB of the largest table's rows: what the WAL flush adds per byte.
    const flushRows = rowsFor(p0, Math.min(tableBytes(p0.table), MB));
    const commits = [await timeCommit(tgt0, p0, 0, signal)];
    const loadedCommits = [await timeCommit(tgt0, p0, 0, signal, { src: src0, rows: flushRows })];
    // A round trip to the target: copy's chunks and builds add a few (BEGIN, TRUNCATE, state row, COMMIT).
    const trips: number[] = [];
    for (let k = 0; k < 5; k++) {
      const r0 = process.hrtime.bigint();
      await tgt0.query('SELECT 1');
      trips.push(Number(process.hrtime.bigint() - r0) / 1e9);
    }
    const rtt = median(trips);
    // And one to the source: copy's setup runs a dozen queries there (through a slow link, each costs one).
    const srcTrips: number[] = [];
    for (let k = 0; k < 5; k++) {
      const r0 = process.hrtime.bigint();
      await src0.query('SELECT 1');
      srcTrips.push(Number(process.hrtime.bigint() - r0) / 1e9);
    }
    // What one schema statement costs here (before the samples: the target is idle).
    const schemaProbe: SchemaProbe | undefined = o.schemaSample ? await timeSchemaSample(ctl, o.schemaSample, rtt, signal) : undefined;
    // A first rate, only to size the samples.
    const sizing = await sampleCopy(src0, tgt0, p0, 0, rowsFor(p0, 2 * MB), signal);
    const guess = bytesOf(p0, sizing.rows, sizing.scratchBytes) / Math.max(0.001, sizing.seconds - overhead, sizing.seconds / 2);

    // 2. Solo, about a third of the budget: a round of samples over the largest tables, twice (the two rounds'
    // disagreement is the probe's own noise). Small tables are copied whole, as copy would; big ones in slices.
    // At least 2 MB: a smaller sample is mostly fixed cost and tells nothing about the rate.
    const slice = (p: Prepared, scale = 1) => Math.min(tableBytes(p.table), Math.max(2 * MB, (scale * guess * sampling * 0.18) / prepared.length));
    type Done = { p: Prepared; t: TimedCopy; bytes: number };
    const round = async (measureFirst = false): Promise<Done[]> => {
      const out: Done[] = [];
      for (const [k, p] of prepared.entries()) {
        if (signal.aborted) throw signal.reason;
        // --probe-seconds bounds the probe: a round stops taking samples once its share is used up.
        if (out.length > 0 && elapsed() > soloUntil) break;
        // The sample that also gets an index build is bigger: a small sort is all fixed cost too.
        const last = measureFirst && k === 0;
        const t = await sampleCopy(src0, tgt0, p, 0, rowsFor(p, slice(p, last ? 2 : 1)), signal, last);
        out.push({ p, t, bytes: bytesOf(p, t.rows, t.scratchBytes) });
      }
      return out;
    };
    const first = await round();
    const second = await round(true);
    const solo = second[0]!.t;
    // Small tables are copied whole, and two rounds of them can be a few dozen ms of COPY in all (many-small's rate
    // swung 31–42 MB/s between probes): more rounds while they stay short, up to a third of the solo share.
    const soloDone = [...first, ...second];
    while (elapsed() < soloUntil && soloDone.reduce((a, d) => a + d.t.seconds, 0) < soloUntil / 3) {
      const r = await round();
      soloDone.push(...r);
      if (r.length < prepared.length) break;
    }
    for (const d of soloDone) samples.push({ table: d.p.table.display, format: d.p.format, bytes: d.bytes, rows: d.t.rows, seconds: d.t.seconds, parallel: 1 });
    // Variable part of a sample's time; never less than a fifth of it (a tiny sample is all fixed cost).
    const variable = (d: Done) => Math.max(d.t.seconds * 0.2, d.t.seconds - overhead);
    const rateOfRound = (ds: Done[]) => ds.reduce((a, d) => a + d.bytes, 0) / ds.reduce((a, d) => a + variable(d), 0);
    const disagreement = Math.abs(rateOfRound(first) - rateOfRound(second)) / ((rateOfRound(first) + rateOfRound(second)) / 2);
    // Two rounds that moved no bytes (samples that found no rows) disagree by 0 / 0: as unsure as it gets.
    const noise = Number.isFinite(disagreement) ? Math.min(0.5, disagreement) : 0.5;
    const hashSeconds = await timeHash(src0, p0, solo.rows);

    // Full-speed rates: per format, and per table where its samples were long enough to tell.
    const perTable: Record<string, number> = {};
    for (const p of prepared) {
      const mine = soloDone.filter((d) => d.p === p);
      const secs = mine.reduce((a, d) => a + d.t.seconds, 0);
      // An empty table's samples move no bytes: a rate of 0 tells nothing (and bytes / 0 is NaN downstream).
      if (secs >= 6 * overhead * mine.length && mine.some((d) => d.bytes > 0)) perTable[tableKey(p.table)] = rateOfRound(mine);
    }
    const fmtRate = (f: 'text' | 'binary') => {
      const mine = soloDone.filter((d) => d.p.format === f);
      return mine.length ? rateOfRound(mine) : undefined;
    };
    // A format no sampled table uses: binary COPY runs about 1.5× text between servers (DESIGN §5, measured 1.7–2×).
    const text = fmtRate('text') ?? fmtRate('binary')! / 1.5;
    const binary = fmtRate('binary') ?? fmtRate('text')! * 1.5;
    if (!fmtRate('text') || !fmtRate('binary'))
      notes.push(`no sampled table uses ${fmtRate('text') ? 'binary' : 'text'} COPY: its rate is derived (binary ≈ 1.5 × text)`);
    const fullSpeed = (d: Done) => overhead + d.bytes / (perTable[tableKey(d.p.table)] ?? (d.p.format === 'text' ? text : binary));

    // 3. --jobs pipes at once, each copying samples over and over for a fixed window: how much longer they take
    // than the full-speed model says is how much the pipes slow each other (capacity = pipes at full speed at
    // once). A window of several samples per pipe, not one round: a single pairing on a noisy machine swung the
    // capacity between 1.05 and 1.5 from run to run.
    let capacity: number | undefined;
    if (o.jobs > 1) {
      const pipes = await Promise.all(
        Array.from({ length: o.jobs }, (_, i) => Promise.all([track(openSource(o.source, i + 2)), track(openTarget(o.target!, i + 2))])),
      );
      // A fifth of the budget, less when the solo rounds ran long: --probe-seconds is a bound.
      const window = Math.max(0.5, Math.min(budget * 0.2, (budget - elapsed()) * 0.4));
      // About eight samples per pipe in the window (four gave toast's capacity from 7 samples, 1.03–1.66 between
      // probes); the pipes start on different tables.
      const lanes = pipes.map(([s, t], i) => {
        let k = i;
        return async (): Promise<Done> => {
          const p = prepared[k++ % prepared.length]!;
          const tc = await sampleCopy(s, t, p, i + 1, rowsFor(p, Math.min(tableBytes(p.table), Math.max(MB, (guess * window) / 8))), signal);
          return { p, t: tc, bytes: bytesOf(p, tc.rows, tc.scratchBytes) };
        };
      });
      const runs = await together(window, signal, lanes);
      for (const d of runs.flat())
        samples.push({
          table: d.value.p.table.display,
          format: d.value.p.format,
          bytes: d.value.bytes,
          rows: d.value.t.rows,
          seconds: d.value.t.seconds,
          parallel: o.jobs,
        });
      // Each sample's COPY against its full-speed time (the sample's own seconds: the scratch table's DDL and
      // size query are not part of a chunk).
      // A sample whose full-speed time is 0 (no rows, no fixed cost measured) has no ratio: left out, so one such
      // sample cannot turn the median, the capacity and the contention built on it into NaN (seen under CI load).
      const ratios = runs
        .flatMap((mine, i) =>
          whileAllBusy(
            mine,
            runs.filter((_, j) => j !== i),
          ).map((d) => d.value.t.seconds / fullSpeed(d.value)),
        )
        .filter((x) => Number.isFinite(x) && x > 0);
      if (ratios.length) {
        const slowdown = Math.max(1, median(ratios));
        capacity = Math.max(1, Math.min(o.jobs, o.jobs / slowdown));
        notes.push(
          `${o.jobs} pipes at once ran ${slowdown.toFixed(2)}× slower each than one alone (median of ${ratios.length} samples): capacity ${capacity.toFixed(2)} pipes`,
        );
      } else {
        notes.push(`${o.jobs} pipes at once gave no usable sample: the stated capacity is used`);
      }
    }

    // 4. COPYs and index builds side by side, as copy runs them: how much each slows the other.
    let contention: Rates['contention'];
    if (solo.index && solo.index.seconds > 0 && solo.rows > 0) {
      const copyRate = perTable[tableKey(p0.table)] ?? (p0.format === 'text' ? text : binary);
      // The builders build the table's slowest own index (else the generic one) on a sample sized for a build of
      // about CONTENTION_BUILD_SECONDS: two 0.05 s builds of the generic index ran side by side 1.00–1.16× slower
      // than alone in the probe, while copy's whole-table builds beside each other ran 1.3–1.45× slower than their
      // samples said (bench:estimate, quiet machine): builds that small fit the CPU caches and write next to
      // nothing, and the contention that matters is over memory and the disk.
      const real = p0.indexes.filter((ix) => solo.realIndexes?.[ix.key]);
      const slowest = real.sort((a, b) => solo.realIndexes![b.key]!.seconds - solo.realIndexes![a.key]!.seconds)[0];
      const per = slowest ? solo.realIndexes![slowest.key]! : { seconds: solo.index.seconds, rows: solo.rows };
      const m = await measureContention({
        src: src0,
        tgt: tgt0,
        openTarget: (k) => track(openTarget(o.target!, o.jobs + 2 + k)),
        p: p0,
        // A COPY of about 0.1 s and a build of about CONTENTION_BUILD_SECONDS: several of each fit in the window.
        copyRows: rowsFor(p0, Math.min(tableBytes(p0.table), copyRate * 0.1)),
        // Loading a builder's table is bounded too: at most what a CONTENTION_LOAD_SECONDS COPY moves (wide rows,
        // slow links), and never more than the solo sample held.
        buildRows: Math.max(
          1,
          Math.min(rowsFor(p0, copyRate * CONTENTION_LOAD_SECONDS), solo.rows, Math.round((per.rows * CONTENTION_BUILD_SECONDS) / Math.max(1e-4, per.seconds))),
        ),
        ...(slowest ? { buildIndex: { name: slowest.name, method: slowest.method, columns: slowest.columns } } : {}),
        indexJobs: o.indexJobs,
        // --jobs pipes each slowed s× (capacity jobs / s): each takes 1 / capacity of the others.
        ...(capacity !== undefined ? { copyCopy: 1 / capacity } : {}),
        window: Math.min(2, Math.max(0.5, Math.min(budget * 0.15, (budget - elapsed()) * 0.3))),
        lane: o.jobs + 1,
        signal,
      });
      contention = contentionFrom(m, capacity ?? DEFAULT_RATES.capacity);
      notes.push(...m.notes);
    }

    // Fixed costs once more at the end: millisecond timings swung 2–3× from one probe to the next with the
    // machine's state, while a copy spreads its chunks over seconds: the medians over both ends of the probe.
    for (let k = 0; k < 3; k++) tinies.push(await sampleCopy(src0, tgt0, p0, 0, 1, signal, true));
    const fixedCopy = median(tinies.map((t) => t.seconds));
    const fixedTruncate = (truncate + (await timeTruncate(src0, tgt0, p0, 0, signal))) / 2;
    commits.push(await timeCommit(tgt0, p0, 0, signal));
    loadedCommits.push(await timeCommit(tgt0, p0, 0, signal, { src: src0, rows: flushRows }));
    const fixedCommit = (commits[0]!.seconds + commits[1]!.seconds) / 2;
    const loadedCommit = (loadedCommits[0]!.seconds + loadedCommits[1]!.seconds) / 2;
    const flushBytes = bytesOf(p0, flushRows, (loadedCommits[0]!.bytes + loadedCommits[1]!.bytes) / 2);
    notes.push(
      `a chunk's fixed cost: ${(fixedCopy * 1000).toFixed(1)} ms for a one-row COPY, ${(fixedTruncate * 1000).toFixed(1)} ms for TRUNCATE, ` +
        `${(fixedCommit * 1000).toFixed(1)} ms for a COMMIT that drops the old files, plus round trips; ` +
        `that COMMIT took ${(loadedCommit * 1000).toFixed(1)} ms after ${(flushBytes / 1e6).toFixed(2)} MB of rows (the WAL it flushes)`,
    );
    const rates: Partial<Rates> = {
      ...(contention ? { contention } : {}),
      copy: { text, binary },
      perTable,
      // Most chunks are whole tables: BEGIN; TRUNCATE; COPY FREEZE, then the done mark and COMMIT (two round trips:
      // copy pipelines them; the commit's own cost timed above). A chunk's measured fixed cost in copy's debug log
      // (12–13 ms a chunk with one pipe on the project's pair) was about 3× what the probe charged without it.
      chunkOverhead: Math.max(0.001, fixedCopy + fixedTruncate + fixedCommit + 2 * rtt),
      // What a whole-table chunk's commit adds for the WAL its rows wrote (simulate.ts chunkSeconds).
      commitFlush: { bytes: flushBytes, seconds: Math.max(0, loadedCommit - fixedCommit) },
      roundTrip: rtt,
      sourceRoundTrip: median(srcTrips),
      preflight: preflightQuery,
      parallelMaintenance: await maintenanceSettings(tgt0),
      // Committing DDL costs about one more round trip than creating it inside a transaction.
      ddl: median(tinies.map((t) => t.ddl)) + rtt,
      connect: connectSeconds,
      verifyHash: bytesOf(p0, solo.rows, solo.scratchBytes) / Math.max(0.001, hashSeconds),
      ...(capacity !== undefined ? { capacity } : {}),
    };
    if (schemaProbe) {
      const sc = schemaRates(o.schemaSample!, schemaProbe);
      if (sc.perObject !== undefined) rates.schema = { ...DEFAULT_RATES.schema, perObject: sc.perObject };
      notes.push(sc.note);
    }
    const tinyBuild = median(tinies.map((t) => t.index?.seconds ?? 0));
    if (tiny.index) rates.buildOverhead = tinyBuild + 2 * rtt;
    if (tiny.analyze && solo.analyze && solo.analyze.values > tiny.analyze.values) {
      rates.analyze = {
        perTable: tiny.analyze.seconds + rtt,
        perValue: Math.max(1e-9, solo.analyze.seconds - tiny.analyze.seconds) / (solo.analyze.values - tiny.analyze.values),
      };
    }
    const builds = buildRates(solo, tinyBuild, p0.table.display);
    Object.assign(rates, builds.rates);
    notes.push(...builds.notes);
    return { calibrated: true, rates, samples, noise, seconds: elapsed(), notes };
  } catch (err) {
    throw signal.aborted
      ? signal.reason
      : classifyError(err, 'estimate probe', {
          phase: 'estimate probe',
          hint: 'nothing was left on the target; run pgshift estimate again, or without --target for an uncalibrated estimate',
        });
  } finally {
    // Closing a connection rolls back whatever it still had open; only then can the schema go.
    await Promise.all(opened.map(closeQuietly));
    if (ctl) {
      if (createdSchema) {
        await ctl.query(`SET lock_timeout = '10s'`).catch(() => undefined);
        await ctl.query(`DROP SCHEMA IF EXISTS ${quoteIdent(STATE_SCHEMA)} RESTRICT`).catch((err) => {
          o.logger.warn(
            `estimate: could not drop the ${STATE_SCHEMA} schema it created on the target (${(err as Error).message}); pgshift cleanup --target … removes it`,
          );
        });
      }
      await closeQuietly(ctl);
    }
  }
}
