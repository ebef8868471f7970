// The probe of `pgshift estimate --source FILE --target URL`: the target's rates measured with the archive's own
// schema and rows. On one session, inside ONE transaction that is always rolled back: the archive's pre-data
// (as copy would render it) is run and timed, then sample rows read from the archive (archive/sample.ts) are
// COPYed into the freshly created tables, their indexes and keys built from the archive's definitions, the
// sample scanned and ANALYZEd — each under a savepoint rolled back before the next. Nothing outlives the probe:
// Ctrl-C, a crash or a lost connection rolls the transaction back on the server.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { Archive, ArchiveEntry, ArchiveTable } from '../archive/index.js';
import { sampleRows, type RowSample } from '../archive/sample.js';
import type { ConnectionSpec } from '../config.js';
import { requireEmptyTarget } from '../copy/preflight.js';
import { sourceObjectsOf } from '../archive/extensions.js';
import { checkExtensionsAgainst, skippedByExtensionCheck } from '../schema/extensions.js';
import { connect, type Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import { classifyError, PgshiftError } from '../errors.js';
import { listToc, renderedEntries, sectionSql, type TocEntry } from '../schema/dump.js';
import type { PgTools } from '../schema/pgdump.js';
import { median } from './median.js';

const MB = 1024 * 1024;

export interface ArchiveProbeInput {
  archive: Archive;
  tools: PgTools;
  target: ConnectionSpec;
  /** The entries copy would restore (its filter of schemas and event triggers). */
  keep: (e: TocEntry) => boolean;
  /** The tables copy would load. */
  tables: ArchiveTable[];
  seconds: number;
  signal: AbortSignal;
}

export interface ArchiveProbeSample {
  table: string;
  /** Plain (inflated) COPY bytes and rows loaded, and how long the COPY took. */
  bytes: number;
  rows: number;
  seconds: number;
}

export interface ArchiveRates {
  /** Opening a connection; one round trip; starting pg_restore to list the archive. */
  connect: number;
  roundTrip: number;
  toolStart: number;
  /** Rendering the pre-data section with pg_restore, and running it on the target. */
  renderPreData: number;
  preData: { seconds: number; entries: number };
  /** One schema entry restored, seconds (pre-data's measured average: post-data's statements are charged the same). */
  perEntry: number;
  /** Plain COPY bytes one session loads per second, inflating included; the fixed cost of one table's load. */
  copy: number;
  perTable: number;
  /** Plain bytes one session inflates per second. */
  inflate: number;
  /** An index or key build: fixed cost, and seconds per plain byte of its table's rows. */
  build: { overhead: number; perByte: number };
  /** Plain bytes a sequential scan reads per second (a foreign key's validation scans its tables). */
  scan: number;
  analyze: { perTable: number; perRow: number };
  /** Plain bytes per stored byte: by TABLE DATA dump id for sampled tables, and over all samples. */
  ratio: Record<number, number>;
  defaultRatio: number;
  /** Plain bytes per row over the samples (ANALYZE's cost follows rows). */
  bytesPerRow: number;
}

export interface ArchiveProbeResult {
  rates: ArchiveRates;
  samples: ArchiveProbeSample[];
  /** Relative disagreement between the two rounds of samples. */
  noise: number;
  seconds: number;
  notes: string[];
}

const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [v, Number(process.hrtime.bigint() - t0) / 1e9];
};

const tableName = (t: ArchiveTable) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;

/** COPY the sample's rows with the entry's own COPY statement, in 1 MB pieces (as copy's reader hands them on). */
async function copyRows(c: Client, entry: ArchiveEntry, rows: Buffer): Promise<number> {
  const copy = (entry.copyStmt ?? '').trim().replace(/;$/, '');
  const pieces = function* () {
    for (let i = 0; i < rows.length; i += MB) yield rows.subarray(i, i + MB);
  };
  const [, s] = await timed(() => pipeline(Readable.from(pieces(), { objectMode: false }), c.query(copyFrom(copy))));
  return s;
}

/** The INDEX and CONSTRAINT (key) entries built on a table, by the TABLE entry they depend on. */
export function buildsOf(archive: Archive, keep: (e: ArchiveEntry) => boolean): Map<number, ArchiveEntry[]> {
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  const out = new Map<number, ArchiveEntry[]>();
  for (const e of archive.entries) {
    if ((e.desc !== 'INDEX' && e.desc !== 'CONSTRAINT') || !keep(e)) continue;
    const table = e.dependencies.find((d) => byId.get(d)?.desc === 'TABLE');
    if (table !== undefined) out.set(table, [...(out.get(table) ?? []), e]);
  }
  return out;
}

/** TABLE DATA entry → its TABLE entry. */
export function tableEntryOf(archive: Archive, data: ArchiveEntry): number | undefined {
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  return data.dependencies.find((d) => byId.get(d)?.desc === 'TABLE');
}

export async function probeArchive(o: ArchiveProbeInput): Promise<ArchiveProbeResult> {
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const { archive, signal } = o;
  const notes: string[] = [];
  const samples: ArchiveProbeSample[] = [];
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  const dump = { dir: '', path: archive.path };
  let c: Client | undefined;
  try {
    const [client, connectSeconds] = await timed(() => connect(o.target, { applicationName: runApplicationName('estimate') }));
    c = client;
    await acquireRunLock(c, { command: 'estimate', side: 'target', display: o.target.display });
    // copy restores into an empty database only: the probe's pre-data would collide with what is there.
    await requireEmptyTarget(c, o.target.display);
    // As copy: what only an extension's owner may run is skipped when an admin installed it beforehand.
    const extensions = await checkExtensionsAgainst(sourceObjectsOf(archive.entries), c, o.target.display);
    notes.push(...extensions.warnings);
    const trips: number[] = [];
    for (let k = 0; k < 5; k++) trips.push((await timed(() => c!.query('SELECT 1')))[1]);
    const rtt = median(trips);

    // The pre-data section exactly as copy renders it (pg_restore -L, --no-owner --no-acl), in one transaction.
    const [toc, firstList] = await timed(() => listToc(o.tools, dump as never, o.target, 'pre-data'));
    // A process start is jumpy (the first one also loads the binary from disk): the faster of two.
    const toolStart = Math.min(firstList, (await timed(() => listToc(o.tools, dump as never, o.target, 'post-data')))[1]);
    const kept = toc.filter((e) => o.keep(e) && !skippedByExtensionCheck(extensions, e));
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    dump.dir = mkdtempSync(join(tmpdir(), 'pgshift-estimate-'));
    let sql: string;
    let renderPreData: number;
    try {
      [sql, renderPreData] = await timed(() => sectionSql(o.tools, dump as never, o.target, kept, { section: 'pre-data', signal }));
    } finally {
      rmSync(dump.dir, { recursive: true, force: true });
    }
    const entries = renderedEntries(sql);
    await c.query('BEGIN');
    let preDataSeconds: number;
    try {
      [, preDataSeconds] = await timed(() => c!.query(sql));
    } catch (err) {
      throw classifyError(err, `estimate: the archive's pre-data (its tables, types, functions…) failed on the target ${o.target.display}`, {
        phase: 'estimate probe',
        hint: 'copy would stop there too: fix the cause on the target (often a missing extension or role) and run pgshift estimate again; nothing was left on the target',
      });
    }
    const perEntry = preDataSeconds / Math.max(1, entries);
    notes.push(
      `pre-data: ${entries} entries rendered by pg_restore in ${renderPreData.toFixed(2)}s and run on the target in ${preDataSeconds.toFixed(2)}s (rolled back)`,
    );

    // The largest tables, whose rows the data phase is mostly about.
    const candidates = [...o.tables]
      .filter((t) => t.bytes > 0)
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 3);
    const encoding = archive.encoding && /^\w+$/.test(archive.encoding) ? archive.encoding : null;
    if (encoding) await c.query(`SET LOCAL client_encoding = '${encoding}'`);
    const builds = buildsOf(archive, () => true);
    const ratio: Record<number, number> = {};
    let stored = 0;
    let plain = 0;
    let inflateBytes = 0;
    let inflateSeconds = 0;
    const sampleOf = (t: ArchiveTable, bytes: number): RowSample | null => {
      const s = sampleRows(archive, byId.get(t.dumpId)!, bytes);
      if (s && s.storedBytes > 0) {
        ratio[t.dumpId] = s.ratio;
        stored += s.storedBytes;
        plain += s.plainBytes;
        if (s.plainBytes > 256 * 1024) {
          inflateBytes += s.plainBytes;
          inflateSeconds += s.inflateSeconds;
        }
      }
      return s;
    };
    /** One sample under a savepoint rolled back after: COPY, then optionally builds, a scan and ANALYZE. */
    const load = async (t: ArchiveTable, s: RowSample, extras: boolean) => {
      await c!.query('SAVEPOINT probe_sample');
      try {
        const seconds = await copyRows(c!, byId.get(t.dumpId)!, s.rows);
        const out = { seconds, builds: [] as number[], scan: 0, analyze: 0 };
        if (extras) {
          const table = tableEntryOf(archive, byId.get(t.dumpId)!);
          for (const b of (table !== undefined && builds.get(table)) || []) if (b.defn) out.builds.push((await timed(() => c!.query(b.defn!)))[1]);
          out.scan = (await timed(() => c!.query(`SELECT count(*) FROM ${tableName(t)}`)))[1];
          out.analyze = (await timed(() => c!.query(`ANALYZE ${tableName(t)}`)))[1];
        }
        return out;
      } finally {
        await c!.query('ROLLBACK TO SAVEPOINT probe_sample');
      }
    };

    let copyRate = 0;
    let perTable = 0;
    let noise = 0.5;
    let build = { overhead: 0.01, perByte: 0 };
    let scan = 0;
    let analyze = { perTable: 0.004, perRow: 0 };
    let bytesPerRow = 200;
    if (candidates.length === 0) {
      notes.push('no table in the archive holds rows: nothing to sample');
    } else if (!sampleOf(candidates[0]!, 1)) {
      notes.push(`the archive is ${archive.header.compression}-compressed: pg_restore renders its rows, the probe does not sample them (stated defaults)`);
    } else {
      const first = candidates[0]!;
      // Fixed costs on a one-row sample (medians: single millisecond timings are jumpy on a busy machine).
      const tiny = sampleOf(first, 1)!;
      const tinies = [];
      for (let k = 0; k < 3; k++) tinies.push(await load(first, { ...tiny, rows: tiny.rows.subarray(0, tiny.rows.indexOf(10) + 1) }, k === 2));
      const fixedCopy = median(tinies.map((x) => x.seconds));
      const tinyExtras = tinies[2]!;
      // A first sample sizes the others: about a sixth of the budget over two rounds of the candidates.
      const sizing = sampleOf(first, 2 * MB)!;
      const sizingSeconds = (await load(first, sizing, false)).seconds;
      const guess = sizing.rows.length / Math.max(0.001, sizingSeconds - fixedCopy, sizingSeconds / 2);
      const slice = Math.max(MB, Math.min(128 * MB, (guess * Math.max(1, o.seconds) * 0.15) / candidates.length));
      const rounds: ArchiveProbeSample[][] = [[], []];
      let big: { s: RowSample; r: Awaited<ReturnType<typeof load>> } | undefined;
      for (const [i, round] of rounds.entries()) {
        for (const t of candidates) {
          if (signal.aborted) throw signal.reason;
          const s = sampleOf(t, slice)!;
          const extras = i === 1 && t === first;
          const r = await load(t, s, extras);
          if (extras) big = { s, r };
          round.push({ table: `${t.schema}.${t.name}`, bytes: s.rows.length, rows: s.lines, seconds: r.seconds });
        }
      }
      samples.push(...rounds.flat());
      const rateOf = (xs: ArchiveProbeSample[]) =>
        xs.reduce((a, x) => a + x.bytes, 0) / xs.reduce((a, x) => a + Math.max(x.seconds * 0.2, x.seconds - fixedCopy), 0);
      const [r1, r2] = [rateOf(rounds[0]!), rateOf(rounds[1]!)];
      noise = Math.min(0.5, Math.abs(r1 - r2) / ((r1 + r2) / 2)) || 0;
      const loadRate = rateOf(samples);
      const inflate = inflateSeconds > 0 ? inflateBytes / inflateSeconds : Infinity;
      // copy inflates on the client while the server parses: counted in series, the worse case of the two.
      copyRate = 1 / (1 / loadRate + 1 / inflate);
      perTable = fixedCopy + 3 * rtt;
      bytesPerRow =
        samples.reduce((a, x) => a + x.bytes, 0) /
        Math.max(
          1,
          samples.reduce((a, x) => a + x.rows, 0),
        );
      if (big && big.r.builds.length) {
        const overhead = tinyExtras.builds.length ? median(tinyExtras.builds) : 0.01;
        const net = big.r.builds.reduce((a, s) => a + Math.max(0, s - overhead), 0) / big.r.builds.length;
        build = { overhead: overhead + 2 * rtt, perByte: net / Math.max(1, big.s.rows.length) };
        notes.push(
          `index builds: ${big.r.builds.length} on a ${(big.s.rows.length / 1e6).toFixed(1)} MB sample of ${first.schema}.${first.name} took ${(net * 1000).toFixed(0)} ms each beyond a ${(overhead * 1000).toFixed(1)} ms fixed cost`,
        );
      } else notes.push('no index or key on the sampled tables: builds use a stated rate');
      if (big) {
        scan = big.s.rows.length / Math.max(1e-4, big.r.scan - rtt);
        const rows = Math.min(30000, big.s.lines);
        analyze = { perTable: tinyExtras.analyze + rtt, perRow: Math.max(0, big.r.analyze - tinyExtras.analyze) / Math.max(1, rows) };
      }
      notes.push(
        `rows: ${(loadRate / 1e6).toFixed(1)} MB/s of COPY text into the target, inflated at ${Number.isFinite(inflate) ? `${(inflate / 1e6).toFixed(0)} MB/s` : 'no cost (uncompressed)'} on this machine; ` +
          `${(fixedCopy * 1000).toFixed(1)} ms fixed per COPY; the two rounds of samples disagreed by ${Math.round(noise * 100)} %`,
      );
    }
    await c.query('ROLLBACK');
    const defaultRatio = stored > 0 ? plain / stored : 1;
    if (archive.header.compression !== 'none')
      notes.push(`compression: the sampled rows inflate ${defaultRatio.toFixed(1)}× (tables not sampled are scaled by that)`);
    return {
      rates: {
        connect: connectSeconds,
        roundTrip: rtt,
        toolStart,
        renderPreData,
        preData: { seconds: preDataSeconds, entries },
        perEntry,
        copy: copyRate > 0 ? copyRate : 30e6,
        perTable: perTable > 0 ? perTable : 0.005,
        inflate: inflateSeconds > 0 ? inflateBytes / inflateSeconds : Infinity,
        build: build.perByte > 0 ? build : { overhead: build.overhead, perByte: 1 / 40e6 },
        scan: scan > 0 ? scan : 200e6,
        analyze,
        ratio,
        defaultRatio,
        bytesPerRow,
      },
      samples,
      noise,
      seconds: elapsed(),
      notes,
    };
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    if (err instanceof PgshiftError) throw err;
    throw classifyError(err, 'estimate probe', { phase: 'estimate probe', hint: 'nothing was left on the target; run pgshift estimate again' });
  } finally {
    // Closing the session rolls back whatever it still had open.
    await c?.end().catch(() => undefined);
  }
}
