// `pgshift estimate --source FILE --target URL`: how long `pgshift copy --source FILE` takes, phase by phase, from
// the archive's own sizes (each table's bytes in the file, scaled by how much a sample of its rows inflates)
// and the target's rates measured with the archive's schema and rows (archive-probe.ts). The phases are copy's
// (its summary's `phases`), so an estimate can be held against the run it predicted.
import { DUMP_EXCLUDED_SCHEMAS } from '../catalog/system.js';
import type { ConnectionSpec } from '../config.js';
import { openArchive, pgRestoreFor, type Archive, type ArchiveEntry, type ArchiveTable } from '../archive/index.js';
import { keepEntry } from '../archive/copy.js';
import { selectArchive } from '../archive/filter.js';
import type { TableFilter } from '../catalog/filter.js';
import { InterruptedError } from '../errors.js';
import { batchSizeFor } from '../copy/restore.js';
import { MODEL_ERROR } from './index.js';
import { listSchedule } from './model.js';
import { takeGroup } from '../archive/load-group.js';
import { DEFAULT_RATES } from './rates.js';
import { buildsOf, probeArchive, tableEntryOf, type ArchiveProbeSample, type ArchiveRates } from './archive-probe.js';

export interface ArchiveEstimateOptions {
  jobs: number;
  indexJobs: number;
  probeSeconds: number;
  pgBin?: string;
  analyze?: 'overlap' | 'end' | 'none';
  /** Tables copy would load (--include/--exclude); the schema is restored whole. */
  filter?: Partial<TableFilter>;
  signal?: AbortSignal;
}

/** copy --source FILE's phases, in the order it runs them (its summary's `phases` keys). */
export type ArchivePhaseName = 'preflight' | 'pre-data' | 'data' | 'sequences' | 'large objects' | 'indexes' | 'post-data' | 'analyze';

export interface ArchiveTableEstimate {
  table: string;
  /** Bytes of its data in the archive, as stored, and the COPY text they inflate to (estimated). */
  archiveBytes: number;
  plainBytes: number;
  /** The inflation ratio was measured on this table's own rows. */
  sampled: boolean;
  /** When its rows are in, seconds from the start of the copy, and its index/key builds. */
  loadedAt: number;
  builds: number;
}

export interface ArchiveEstimateReport {
  ok: true;
  kind: 'archive';
  source: string;
  target: string;
  archive: { format: string; compression: string; dataBytes: number; pgDumpVersion: string | null; createdAt: string | null };
  calibrated: true;
  totalSeconds: number;
  low: number;
  high: number;
  rangeBasis: string;
  phases: { name: ArchivePhaseName; seconds: number; start: number }[];
  jobs: number;
  indexJobs: number;
  connections: { target: number };
  tables: ArchiveTableEstimate[];
  bytes: { archive: number; plain: number };
  builds: number;
  foreignKeys: number;
  probe: { seconds: number; samples: ArchiveProbeSample[]; notes: string[] };
  rates: ArchiveRates;
}

/** The shape of the restore the model needs, read from the archive alone. */
export interface ArchiveShape {
  tables: Array<{ dumpId: number; table: string; archiveBytes: number; plainBytes: number; sampled: boolean; builds: number }>;
  preDataEntries: number;
  /** post-data entries other than the builds beside the data (triggers, comments, foreign keys left to post-data…). */
  postDataEntries: number;
  /**
   * Each foreign key: its referencing table's plain bytes (its validation scans it) and the TABLE DATA entries of
   * its tables. Copy builds it on the index sessions beside the data, once the rows of both tables and every build
   * on them are in (an empty `tables`: a partitioned table's, after all the data); `postData`: left to post-data
   * (it needs an index attachment first).
   */
  foreignKeys: Array<{ bytes: number; tables: number[]; postData?: boolean }>;
  sequences: number;
  largeObjectBytes: number;
  /** Seconds copy's preflight spends reading the archive (estimate timed the same work). */
  openSeconds: number;
}

export interface ArchiveModel {
  seconds: number;
  phases: { name: ArchivePhaseName; seconds: number; start: number }[];
  loadedAt: Map<number, number>;
}

/** State setup of a copy: its migrations and run row, in round trips and statements. */
const STATE_STATEMENTS = 14;

/** copy --source FILE's schedule, simulated: pure. */
export function modelArchiveCopy(
  shape: ArchiveShape,
  r: ArchiveRates,
  o: { jobs: number; indexJobs: number; analyze: 'overlap' | 'end' | 'none'; batchSize: number },
): ArchiveModel {
  const rtt = r.roundTrip;
  const phases: ArchiveModel['phases'] = [];
  let clock = 0;
  const add = (name: ArchivePhaseName, seconds: number) => {
    phases.push({ name, seconds, start: clock });
    clock += seconds;
  };
  // preflight: the archive read and proven whole, the target's lock, state and emptiness checked.
  add('preflight', shape.openSeconds + r.connect + 8 * rtt);
  // pre-data: the state schema, then pg_restore -l and one rendering + transaction per batch.
  const preBatches = Math.max(1, Math.ceil(shape.preDataEntries / o.batchSize));
  add(
    'pre-data',
    STATE_STATEMENTS * (r.perEntry + rtt) +
      r.toolStart +
      preBatches * (r.renderPreData / preBatches + r.toolStart * (preBatches > 1 ? 1 : 0) + 4 * rtt) +
      r.preData.seconds,
  );
  // data: the index builds rendered first (pg_restore -l and one rendering), then `jobs` sessions take the tables largest first.
  const lanes = Math.max(1, Math.min(o.jobs, shape.tables.length));
  // Sessions beyond what the pair runs at full speed share it (the stated capacity: the probe runs one session).
  const slowdown = Math.max(1, lanes / Math.max(1, Math.min(lanes, DEFAULT_RATES.capacity)));
  const start = 2 * r.toolStart + r.connect;
  const free = Array.from({ length: lanes }, () => start);
  const loadedAt = new Map<number, number>();
  // Small tables go in groups (archive/load-group.ts takeGroup): one transaction, two round trips for the group
  // instead of the three of a table alone; its builds and ANALYZEs then go as one item on an index session.
  const queue = [...shape.tables].sort((a, b) => b.archiveBytes - a.archiveBytes).map((t) => ({ ...t, bytes: t.archiveBytes }));
  const groups: (typeof queue)[] = [];
  const fixed = Math.max(0, r.perTable - 3 * rtt);
  for (let g = takeGroup(queue, lanes, () => true); g.length; g = takeGroup(queue, lanes, () => true)) {
    groups.push(g);
    const i = free.indexOf(Math.min(...free));
    free[i]! += (g.length > 1 ? 2 * rtt + g.length * fixed : r.perTable) + g.reduce((a, t) => a + (t.plainBytes / r.copy) * slowdown, 0);
    for (const t of g) loadedAt.set(t.dumpId, clock + free[i]!);
  }
  const dataSeconds = Math.max(start, ...free);
  add('data', dataSeconds);
  // Index and key builds start as their table's rows are committed, on --index-jobs sessions; with --analyze
  // overlap (the default) each table's ANALYZE follows its builds there.
  const analyzeOf = (t: ArchiveShape['tables'][number]) => r.analyze.perTable + Math.min(30000, t.plainBytes / Math.max(1, r.bytesPerRow)) * r.analyze.perRow;
  const builders = Array.from({ length: Math.max(1, o.indexJobs) }, () => clock - dataSeconds + start);
  const onBuilder = (at: number, seconds: number) => {
    const i = builders.indexOf(Math.min(...builders));
    builders[i] = Math.max(builders[i]!, at) + seconds;
    return builders[i]!;
  };
  const built = new Map<number, number>();
  for (const g of [...groups].sort((a, b) => loadedAt.get(a[0]!.dumpId)! - loadedAt.get(b[0]!.dumpId)!)) {
    const at = loadedAt.get(g[0]!.dumpId)!;
    if (g.length > 1) {
      // The group's builds and ANALYZEs in one transaction: their round trips once.
      const work = g.reduce(
        (a, t) => a + t.builds * (r.build.overhead - 2 * rtt + t.plainBytes * r.build.perByte) + (o.analyze === 'overlap' ? analyzeOf(t) - rtt : 0),
        2 * rtt,
      );
      const done = onBuilder(at, work);
      for (const t of g) built.set(t.dumpId, done);
      continue;
    }
    const t = g[0]!;
    let done = at;
    for (let k = 0; k < t.builds; k++) done = Math.max(done, onBuilder(at, r.build.overhead + t.plainBytes * r.build.perByte));
    built.set(t.dumpId, done);
    if (o.analyze === 'overlap') onBuilder(done, analyzeOf(t));
  }
  // Foreign keys on the same sessions, each once its tables' rows and builds are in (a table restored in an
  // earlier run, or one without rows of its own: at the end of the data).
  const beside = shape.foreignKeys
    .filter((f) => !f.postData)
    .map((f) => ({ f, at: f.tables.length ? Math.max(...f.tables.map((d) => built.get(d) ?? clock)) : clock }))
    .sort((a, b) => a.at - b.at);
  for (const { f, at } of beside) onBuilder(at, r.build.overhead + (2 * f.bytes) / r.scan);
  const buildsEnd = Math.max(0, ...builders);
  // One transaction of setval()s, run as the archive writes them.
  add('sequences', shape.sequences > 0 ? 4 * rtt + shape.sequences * r.perEntry : rtt);
  add('large objects', shape.largeObjectBytes > 0 ? r.toolStart + r.connect + shape.largeObjectBytes / r.copy : rtt);
  add('indexes', Math.max(0, buildsEnd - clock) + rtt);
  // post-data: pg_restore -l, then batches of what is left (a foreign key left here validates by scanning both tables).
  const postBatches = Math.max(1, Math.ceil(shape.postDataEntries / o.batchSize));
  const fk = shape.foreignKeys.filter((f) => f.postData).reduce((a, f) => a + (2 * f.bytes) / r.scan, 0);
  add(
    'post-data',
    shape.postDataEntries > 0 ? r.toolStart + postBatches * (r.toolStart + 4 * rtt) + shape.postDataEntries * r.perEntry + fk : r.toolStart + rtt,
  );
  // --analyze end: every table after post-data, on --jobs sessions (overlap: done on the builders above).
  add('analyze', o.analyze === 'end' ? listSchedule(shape.tables.map(analyzeOf), o.jobs) + r.connect : 0);
  return { seconds: clock, phases, loadedAt };
}

export async function estimateArchive(path: string, target: ConnectionSpec, opts: ArchiveEstimateOptions): Promise<ArchiveEstimateReport> {
  const signal = opts.signal ?? new AbortController().signal;
  const t0 = process.hrtime.bigint();
  const archive = openArchive(path);
  const tools = pgRestoreFor(archive, opts.pgBin);
  const openSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const selection = selectArchive(archive, opts.filter, 'estimate');
  const tables = selection.tables;
  const skipped = new Set<string>();
  let probed;
  try {
    probed = await probeArchive({
      archive,
      tools,
      target,
      keep: (e) => keepEntry(e, skipped) && selection.keep(e),
      tables,
      seconds: opts.probeSeconds,
      signal,
    });
  } catch (err) {
    if (signal.aborted)
      throw new InterruptedError('estimate interrupted: the probe stopped and its transaction was rolled back; nothing was left on the target', {
        phase: 'estimate',
        hint: 'run pgshift estimate again (a shorter --probe-seconds if the probe took too long)',
      });
    throw err;
  }
  const r = probed.rates;
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  const keepArchived = (e: { namespace: string | null; dumpId: number }) => !DUMP_EXCLUDED_SCHEMAS.includes(e.namespace ?? '') && selection.keep(e);
  const builds = buildsOf(archive, keepArchived);
  const plainOf = (t: ArchiveTable) => t.bytes * (r.ratio[t.dumpId] ?? r.defaultRatio);
  const shapeTables = tables.map((t) => {
    const te = tableEntryOf(archive, byId.get(t.dumpId)!);
    return {
      dumpId: t.dumpId,
      table: `${t.schema}.${t.name}`,
      archiveBytes: t.bytes,
      plainBytes: plainOf(t),
      sampled: r.ratio[t.dumpId] !== undefined,
      builds: te === undefined ? 0 : (builds.get(te)?.length ?? 0),
    };
  });
  const plainByTableEntry = new Map(tables.map((t) => [tableEntryOf(archive, byId.get(t.dumpId)!), plainOf(t)]));
  const fks = foreignKeysOf(archive, keepArchived, new Map(tables.map((t) => [tableEntryOf(archive, byId.get(t.dumpId)!), t.dumpId])), plainByTableEntry);
  // What post-data's batches restore: all but the builds beside the data (indexes, keys, most foreign keys).
  const post = archive.entries.filter(
    (e) => e.section === 4 && keepArchived(e) && e.desc !== 'INDEX' && e.desc !== 'CONSTRAINT' && !(e.desc === 'FK CONSTRAINT' && !fks.get(e.dumpId)!.postData),
  );
  const shape: ArchiveShape = {
    tables: shapeTables,
    preDataEntries: r.preData.entries,
    postDataEntries: post.length,
    foreignKeys: [...fks.values()],
    sequences: archive.sequences,
    largeObjectBytes: archive.entries.filter((e) => e.desc === 'BLOBS').reduce((a, e) => a + (archive.blocks.get(e.dumpId)?.bytes ?? 0) * r.defaultRatio, 0),
    openSeconds,
  };
  // copy's schema batches are sized from the target's lock table; the default server's is what the probe assumes.
  const mopts = { jobs: opts.jobs, indexJobs: opts.indexJobs, analyze: opts.analyze ?? 'overlap', batchSize: batchSizeFor(64 * 100) } as const;
  const model = modelArchiveCopy(shape, r, mopts);
  const margin = MODEL_ERROR + probed.noise;
  return {
    ok: true,
    kind: 'archive',
    source: archive.path,
    target: target.display,
    archive: {
      format: archive.header.format,
      compression: archive.header.compression,
      dataBytes: archive.dataBytes,
      pgDumpVersion: archive.header.pgDumpVersion,
      createdAt: archive.header.createdAt,
    },
    calibrated: true,
    totalSeconds: model.seconds,
    low: model.seconds / (1 + margin),
    high: model.seconds * (1 + margin),
    rangeBasis: `±${Math.round(margin * 100)} %: the model's error on the accuracy benchmark (${Math.round(MODEL_ERROR * 100)} %) plus the disagreement between the probe's two rounds of samples (${Math.round(probed.noise * 100)} %)`,
    phases: model.phases,
    jobs: opts.jobs,
    indexJobs: opts.indexJobs,
    connections: { target: opts.jobs + opts.indexJobs + 1 },
    tables: shapeTables
      .map((t) => ({
        table: t.table,
        archiveBytes: t.archiveBytes,
        plainBytes: Math.round(t.plainBytes),
        sampled: t.sampled,
        loadedAt: model.loadedAt.get(t.dumpId)!,
        builds: t.builds,
      }))
      .sort((a, b) => b.archiveBytes - a.archiveBytes),
    bytes: { archive: tables.reduce((a, t) => a + t.bytes, 0), plain: Math.round(shapeTables.reduce((a, t) => a + t.plainBytes, 0)) },
    builds: shapeTables.reduce((a, t) => a + t.builds, 0),
    foreignKeys: fks.size,
    probe: { seconds: probed.seconds, samples: probed.samples, notes: [...probed.notes, ...[...skipped].map((s) => `copy would leave out ${s}`)] },
    rates: r,
  };
}

/**
 * The archive's foreign keys as copy builds them (archive/indexes.ts), by dump id: the referencing table's plain
 * bytes (pg_dump tags a foreign key "<table> <constraint>"), the TABLE DATA entries of its tables (none when one
 * has no rows of its own: it waits for all the data), and whether it is left to post-data (it depends on a
 * post-data entry other than an index or key: a partitioned table's index attachment).
 */
export function foreignKeysOf(
  archive: Archive,
  keep: (e: ArchiveEntry) => boolean,
  dataOfTable: Map<number | undefined, number>,
  plainByTableEntry: Map<number | undefined, number>,
): Map<number, ArchiveShape['foreignKeys'][number]> {
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  const builds = new Set(archive.entries.filter((e) => e.section === 4 && (e.desc === 'INDEX' || e.desc === 'CONSTRAINT') && keep(e)).map((e) => e.dumpId));
  const out = new Map<number, ArchiveShape['foreignKeys'][number]>();
  for (const e of archive.entries) {
    if (e.desc !== 'FK CONSTRAINT' || e.section !== 4 || !keep(e)) continue;
    const tables = e.dependencies.filter((d) => byId.get(d)?.desc === 'TABLE');
    const own = tables.find((d) => e.tag.startsWith(`${byId.get(d)!.tag} `) && byId.get(d)!.namespace === e.namespace) ?? tables[0];
    const data = tables.map((d) => dataOfTable.get(d));
    out.set(e.dumpId, {
      bytes: plainByTableEntry.get(own) ?? 0,
      tables: data.every((d) => d !== undefined) ? (data as number[]) : [],
      postData: e.dependencies.some((d) => byId.get(d)?.section === 4 && !builds.has(d)),
    });
  }
  return out;
}
