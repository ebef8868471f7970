// verifyDatabases(): is the target equal to the source, and if not, where exactly does it differ?
import type { ConnectionSpec } from '../config.js';
import { requireIncludesMatched, type TableFilter } from '../catalog/filter.js';
import { classifyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../progress.js';
import { compareTable, type SideContext } from './data.js';
import { batchTotals } from './batch.js';
import { listDataRelations, pairRelations, type TablePair } from './plan.js';
import { SessionPool } from './pool.js';
import { requireDistinctDatabases } from './identity.js';
import { compareLargeObjects } from './largeobjects.js';
import { compareSchema, notCompared } from './schema.js';
import { compareSequences } from './sequences.js';
import { toDerived } from './derived.js';
import { nextSteps, readTargetState, reloadSet } from './remedy.js';
import { listSequences } from '../catalog/tables.js';
import { displayName } from '../db/ident.js';
import { beginExportedSnapshot, closeSession, openCatalogSession, VERIFY_SETTINGS, type ServerFacts, type VerifySession } from './session.js';
import type { LargeObjectReport, SchemaDifference, SideInfo, TableReport, TargetState, VerifyReport } from './types.js';
import { alignSnapshots, runningReplication, switchedOff, type AlignedSnapshots, type Capture } from './online.js';
import { UsageError } from '../errors.js';
import { roundTripCounts, roundTripsSince } from '../db/roundtrips.js';

export type { OnlineReport } from './types.js';
export type { VerifyReport, TableReport, DerivedReport, SequenceReport, SchemaDifference, RowDifference, LargeObjectReport } from './types.js';
export { renderReport } from './report.js';

/** Defaults shared by the CLI and the library. */
export const VERIFY_DEFAULTS = { jobs: 2, maxDifferences: 100 } as const;

export interface VerifyOptions {
  /** Connections per side for row data (plus one per side for catalogs). Default 2. */
  jobs?: number;
  include?: string[];
  exclude?: string[];
  /** Differences listed per table. Default 100. */
  maxDifferences?: number;
  /** Block-range chunk size (bytes) that splits big tables across jobs. Default 32 MB. */
  chunkBytes?: number;
  /** Compare grants too (off by default: copy's default is --no-acl). */
  acl?: boolean;
  /** Compare owners too (off by default: copy's default is --no-owner). */
  owners?: boolean;
  logger?: Logger;
  progress?: Progress;
  /**
   * auto (default): online when a replication is running on the target (online.ts), else as today; online:
   * required (refused when nothing runs); offline: one snapshot per side as they are (writes frozen).
   */
  mode?: 'auto' | 'online' | 'offline';
  /**
   * Compare the rows of only these tables (display names; cutover --verify changed): the schema and materialized
   * views in scope are still compared whole. Such a narrowed verify never becomes an online verify's baseline.
   */
  rowsOf?: string[];
  /**
   * Read every table once (the totals pass, all an equal verify reads) and narrow nothing down: what the cutover
   * times before its freeze, while writes make the sides differ and locating rows would cost reads that an
   * equal verify inside the freeze never makes.
   */
  totalsOnly?: boolean;
}

const sideInfo = (s: VerifySession & ServerFacts): SideInfo & { blockSize: number } => ({
  url: s.spec.display,
  serverVersion: s.serverVersion,
  major: s.major,
  blockSize: s.blockSize,
});

export async function verifyDatabases(source: ConnectionSpec, target: ConnectionSpec, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const roundTripsBefore = roundTripCounts();
  const jobs = opts.jobs ?? VERIFY_DEFAULTS.jobs;
  const maxDifferences = opts.maxDifferences ?? VERIFY_DEFAULTS.maxDifferences;
  const filter: Partial<TableFilter> = { include: opts.include ?? [], exclude: opts.exclude ?? [] };
  const log = opts.logger;
  let sc: (VerifySession & ServerFacts) | undefined;
  let tc: (VerifySession & ServerFacts) | undefined;
  let aligned: AlignedSnapshots | undefined;
  const pools: SessionPool[] = [];
  try {
    // allSettled: when one side fails to connect, the other connection is still closed below.
    const opened = await Promise.allSettled([openCatalogSession(source, 'source catalog'), openCatalogSession(target, 'target catalog')]);
    sc = opened[0].status === 'fulfilled' ? opened[0].value : undefined;
    tc = opened[1].status === 'fulfilled' ? opened[1].value : undefined;
    for (const o of opened) if (o.status === 'rejected') throw o.reason;
    if (!sc || !tc) throw new Error('unreachable');
    const [si, ti] = [sideInfo(sc), sideInfo(tc)];
    requireDistinctDatabases(sc.identity, tc.identity, 'verify', target.display);
    // Before the snapshot transaction: a failed read of the state must not abort it.
    const targetState = await readTargetState(tc.client);
    const capture = onlineCapture(targetState, opts.mode ?? 'auto', target);
    const expectedSwitches = capture ? await switchedOff(tc.client) : new Set<string>();
    // Each side gets one snapshot that all of its workers share: every chunk sees the same database state. Online,
    // the two are aligned at one position by the running applier.
    if (capture) aligned = await alignSnapshots(source, target, sc, tc, capture, log);
    const [ssnap, tsnap] = aligned ? [aligned.source, aligned.target] : await Promise.all([beginExportedSnapshot(sc), beginExportedSnapshot(tc)]);
    const wrap = (side: string) => (err: unknown) => {
      throw classifyError(err, `${side}: reading the catalog`, { phase: 'verify' });
    };
    const [sread, tread] = await Promise.all([
      listDataRelations(sc.client, filter).catch(wrap('source')),
      listDataRelations(tc.client, filter).catch(wrap('target')),
    ]);
    const [srels, trels] = [sread.relations, tread.relations];
    requireIncludesMatched(filter, [...srels, ...trels], 'verify');
    const rowsOf = opts.rowsOf ? new Set(opts.rowsOf) : null;
    const pairs = pairRelations(srels, trels).filter((p) => !rowsOf || (p.source ?? p.target)!.relkind === 'm' || rowsOf.has(p.display));
    log?.info({ tables: pairs.length, jobs }, `verify: comparing ${pairs.length} tables with ${jobs} connection(s) per side`);

    const scope = { acl: opts.acl ?? false, owners: opts.owners ?? false };
    const schema = expectDuringReplication(await compareSchema(sc.client, tc.client, filter, { source: si.major, target: ti.major }, scope), expectedSwitches);
    const sequences = (await compareSequences(sc.client, tc.client, { source: sread.sequences, target: tread.sequences })).map((q) =>
      capture && !q.match && q.source && q.target ? { ...q, expected: 'synced at the finish of the replication' } : q,
    );

    const [sp, tp] = await Promise.all([SessionPool.open(source, jobs, ssnap, si.major), SessionPool.open(target, jobs, tsnap, ti.major)]);
    pools.push(sp, tp);
    const sctx: SideContext = { pool: sp, major: si.major, blockSize: si.blockSize };
    const tctx: SideContext = { pool: tp, major: ti.major, blockSize: ti.blockSize };
    const totalBytes = pairs.reduce((a, p) => a + (p.source?.bytes ?? 0) + (p.target?.bytes ?? 0), 0);
    const phase = opts.progress?.phase('verify', { bytes: totalBytes });
    // Biggest first: the long tables start early and small ones fill the gaps.
    const order = [...pairs].sort((a, b) => size(b) - size(a));
    const results = new Map<TablePair, TableReport>();
    const dataOpts = { maxDifferences, chunkBytes: opts.chunkBytes ?? 32 * 1024 * 1024, progress: phase, logger: log, totalsOnly: opts.totalsOnly };
    // Small tables' totals go several to a query (batch.ts): far fewer round trips than tables.
    const batched = batchTotals(order, sctx, tctx, dataOpts);
    await Promise.all(
      order.map(async (p) => {
        const r = await compareTable(p, sctx, tctx, dataOpts, batched.get(p));
        if (!r.match) log?.warn({ table: r.table }, `verify: ${r.table} differs`);
        results.set(p, r);
      }),
    );
    phase?.done();
    // Large objects belong to no table: compared when the whole database is (no --include).
    const narrowed = (filter.include ?? []).length > 0 || rowsOf !== null;
    const largeObjects: LargeObjectReport = narrowed
      ? { match: true, sourceCount: 0, targetCount: 0, missing: 0, extra: 0, different: 0, differences: [], truncated: false }
      : await sp
          .use((ss) => tp.use((ts) => compareLargeObjects(ss, ts, maxDifferences)))
          .catch((err) => {
            throw classifyError(err, 'large objects: checksums', {
              phase: 'verify',
              hint: 'the role needs SELECT on every large object (connect as their owner)',
            });
          });
    const tables = pairs.filter((p) => (p.source ?? p.target)!.relkind === 'r').map((p) => results.get(p)!);
    const derived = pairs
      .filter((p) => (p.source ?? p.target)!.relkind === 'm')
      .map((p) => toDerived(results.get(p)!, p, schema))
      // Online: a materialized view is refreshed by the replication's finish, its contents only may lag until then.
      .map((d) =>
        capture && !d.match && d.definition === 'equal' && d.populated.source === d.populated.target
          ? { ...d, expected: 'contents refreshed at the finish of the replication' }
          : d,
      );
    const schemaDiffs = schema.filter((d) => d.severity === 'difference').length;
    const sequencesDiffering = sequences.filter((s) => !s.match && !s.expected).length;
    const tablesDiffering = tables.filter((t) => !t.match).length;
    const derivedDiffering = derived.filter((d) => !d.match && !d.expected).length;
    const ok = tablesDiffering === 0 && derivedDiffering === 0 && sequencesDiffering === 0 && schemaDiffs === 0 && largeObjects.match;
    const comparable = tables.filter((t) => !t.match && t.comparedAs !== 'not compared');
    const pairOf = new Map(pairs.map((p) => [p.display, (p.source ?? p.target)!] as const));
    const reload: { schema: string; name: string }[] = ok
      ? []
      : await reloadSet(
          tc.client,
          comparable.map((t) => pairOf.get(t.table)!),
        ).catch((err) => {
          log?.warn(
            { err },
            'verify: could not read the foreign keys that reference the differing tables on the target; the TRUNCATE advised names only those tables',
          );
          return comparable.map((t) => pairOf.get(t.table)!);
        });
    // A --data-only reload sets the sequences its tables own (on the source): those need no step of their own.
    const reloaded = new Set(reload.map((t) => displayName(t.schema, t.name)));
    const ownedByReload = reload.length
      ? (await listSequences(sc.client, filter).catch(() => [])).filter((q) => q.ownedBy !== null && reloaded.has(q.ownedBy)).map((q) => q.display)
      : [];
    const { blockSize: _s, ...sourceInfo } = si;
    const { blockSize: _t, ...targetInfo } = ti;
    // Only a verify of every table (no --include/--exclude) is a baseline: the cutover skips what it did not change.
    await aligned?.finish(ok && !narrowed && (filter.exclude ?? []).length === 0);
    return {
      ok,
      online: aligned?.online ?? null,
      source: sourceInfo,
      target: targetInfo,
      tables,
      derived,
      sequences,
      schema,
      largeObjects,
      notCompared: [...notCompared(scope), ...(narrowed ? ['large objects (compared only without --include)'] : [])],
      summary: {
        tables: tables.length,
        tablesDiffering,
        derivedDiffering,
        rowsCompared: tables.reduce((a, t) => a + (t.sourceRows ?? 0), 0),
        sequencesDiffering,
        schemaDifferences: schemaDiffs,
        schemaNotes: schema.length - schemaDiffs,
        largeObjectsDiffering: largeObjects.missing + largeObjects.extra + largeObjects.different,
      },
      targetState,
      nextSteps: ok
        ? []
        : nextSteps({
            state: targetState,
            filter,
            tables,
            // Online: what the replication's finish brings (sequences, refreshed views) needs no step of its own.
            derived: derived.filter((d) => !d.expected),
            reload,
            sequences: sequences.filter((q) => !q.expected),
            ownedByReload,
            schemaDifferences: schemaDiffs,
            largeObjectsDiffering: largeObjects.missing + largeObjects.extra + largeObjects.different,
          }),
      settings: { ...VERIFY_SETTINGS },
      seconds: Number(((Date.now() - started) / 1000).toFixed(3)),
      roundTrips: roundTripsSince(roundTripsBefore),
    };
  } finally {
    await Promise.all([...pools.map((p) => p.close()), closeSession(sc), closeSession(tc), aligned?.close()]);
  }
}

/** Which capture to verify online against, or null for a verify of both sides as they are. */
function onlineCapture(state: TargetState, mode: 'auto' | 'online' | 'offline', target: ConnectionSpec): Capture | null {
  if (mode === 'offline') return null;
  const running = runningReplication(state);
  if (mode === 'online' && !running && state.kind === 'replication' && state.running !== null && !state.copyDone) {
    throw new UsageError(`verify --online: the replication on the target ${target.display} is still in its initial copy; nothing was compared`, {
      phase: 'verify online',
      hint: 'run pgshift verify again once pgshift replicate streams changes (its lag lines)',
    });
  }
  if (mode === 'online' && !running) {
    throw new UsageError(`verify --online: no pgshift replicate is running on the target ${target.display}; nothing was compared`, {
      phase: 'verify online',
      hint: 'start pgshift replicate --source … --target … (it keeps running and answers online verify), or freeze writes and run pgshift verify --offline',
    });
  }
  return running;
}

const EXPECTED_SWITCH = 'switched off on the target by the running replication (put back at its finish)';

/** Switched-off objects are expected differences while the replication runs: notes, not failures. */
function expectDuringReplication(schema: SchemaDifference[], switched: Set<string>): SchemaDifference[] {
  if (switched.size === 0) return schema;
  return schema.map((d) => {
    const k = `${d.kind}\u0000${d.object}`;
    const expected = (d.kind === 'constraint' && d.difference === 'missing') || d.difference === 'different';
    return switched.has(k) && expected ? { ...d, severity: 'note', expected: EXPECTED_SWITCH } : d;
  });
}

const size = (p: TablePair) => Math.max(p.source?.bytes ?? 0, p.target?.bytes ?? 0);
