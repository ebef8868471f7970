// Row data: per-bucket (count, sum of row hashes) on both sides, computed server-side in block-range chunks
// spread over --jobs connections per side; differing buckets are then narrowed down to rows (locate.ts).
import { classifyError } from '../errors.js';
import type { PhaseProgress } from '../progress.js';
import type { Logger } from '../log.js';
import type { DataRelation, TablePair } from './plan.js';
import type { SessionPool } from './pool.js';
import { aggregateParams, aggregateSql, totalsParams, totalsSql, type ChunkRange, type RowHashSpec } from './sql.js';
import { locateKeyed, locateMultiset } from './locate.js';
import type { TableReport } from './types.js';

export interface SideContext {
  pool: SessionPool;
  /** TID range scans (block-range chunks) exist from PostgreSQL 14. */
  major: number;
  blockSize: number;
}

export interface DataOptions {
  maxDifferences: number;
  /** Target size of one block-range chunk. */
  chunkBytes: number;
  progress?: PhaseProgress;
  logger?: Logger;
  /** Read each side's totals once and stop: a differing table is not narrowed to buckets or rows. */
  totalsOnly?: boolean;
}

/** At most this many chunks per table and side: bounds the aggregate rows the client merges. */
const MAX_CHUNKS = 64;

export function planChunks(bytes: number, blockSize: number, chunkBytes: number, tidRanges: boolean): { range: ChunkRange | null; bytes: number }[] {
  const blocks = Math.ceil(bytes / blockSize);
  const per = Math.max(1, Math.ceil(chunkBytes / blockSize), Math.ceil(blocks / MAX_CHUNKS));
  if (!tidRanges || blocks <= per) return [{ range: null, bytes }];
  const chunks: { range: ChunkRange | null; bytes: number }[] = [];
  for (let from = 0; from < blocks; from += per) {
    const last = from + per >= blocks;
    chunks.push({ range: { fromBlock: from, toBlock: last ? null : from + per }, bytes: (Math.min(blocks, from + per) - from) * blockSize });
  }
  return chunks;
}

export interface BucketSums {
  n: bigint;
  s: bigint;
}

/** totals: one (count, sum) for the whole table; buckets: one per bucket, to narrow a difference down. */
type Pass = 'totals' | 'buckets';

async function aggregateSide(
  pair: TablePair,
  hash: RowHashSpec,
  rel: DataRelation,
  side: SideContext,
  opts: DataOptions,
  pass: Pass,
): Promise<Map<string, BucketSums>> {
  const key = pair.key ? { columns: pair.key, mode: pair.keyMode } : null;
  const mask = pair.buckets - 1;
  const [sql, params] =
    pass === 'totals'
      ? [(r: ChunkRange | null) => totalsSql(rel, hash, r), totalsParams]
      : [(r: ChunkRange | null) => aggregateSql(rel, hash, key, r), (r: ChunkRange | null) => aggregateParams(mask, r)];
  const chunks = planChunks(rel.bytes, side.blockSize, opts.chunkBytes, side.major >= 14);
  const buckets = new Map<string, BucketSums>();
  await Promise.all(
    chunks.map((chunk) =>
      side.pool.use(async (s) => {
        const { rows } = await s.client.query<{ b: string; n: string; s: string }>(sql(chunk.range), params(chunk.range)).catch((err) => {
          throw classifyError(err, `${s.spec.side} ${rel.display}: checksums`, {
            phase: 'verify',
            object: rel.display,
            hint: 'check that the role can SELECT this table, or leave it out with --exclude',
          });
        });
        for (const r of rows) {
          const cur = buckets.get(r.b);
          if (cur) {
            cur.n += BigInt(r.n);
            cur.s += BigInt(r.s);
          } else buckets.set(r.b, { n: BigInt(r.n), s: BigInt(r.s) });
        }
        if (pass === 'totals') opts.progress?.add({ bytes: chunk.bytes });
      }),
    ),
  );
  return buckets;
}

function emptyReport(pair: TablePair): TableReport {
  const rel = (pair.source ?? pair.target)!;
  return {
    table: pair.display,
    kind: rel.relkind === 'm' ? 'materialized view' : 'table',
    match: false,
    sourceRows: null,
    targetRows: null,
    primaryKey: pair.key,
    comparedAs: pair.key ? 'key' : 'multiset',
    missingRows: 0,
    extraRows: 0,
    differentRows: 0,
    differences: [],
    truncated: false,
    buckets: pair.buckets,
    differingBuckets: 0,
    notes: [],
  };
}

const total = (m: Map<string, BucketSums>) => [...m.values()].reduce((a, b) => a + b.n, 0n);
const sameSums = (a: Map<string, BucketSums>, b: Map<string, BucketSums>) => {
  const x = a.get('0');
  const y = b.get('0');
  return x !== undefined && y !== undefined && x.n === y.n && x.s === y.s;
};

/** How rows are hashed: the same on both sides; the per-column method needs hash_record_extended (14+) on both. */
export function hashSpec(pair: TablePair, sourceMajor: number, targetMajor: number): RowHashSpec {
  return { columns: pair.columns, modes: sourceMajor >= 14 && targetMajor >= 14 && pair.columns.length > 0 ? pair.hashModes : null };
}

/** Each side's totals (bucket '0' only), read elsewhere (batch.ts: several small tables to a query). */
export type Totals = () => Promise<[Map<string, BucketSums>, Map<string, BucketSums>]>;

export async function compareTable(pair: TablePair, source: SideContext, target: SideContext, opts: DataOptions, totals?: Totals): Promise<TableReport> {
  const report = emptyReport(pair);
  const { source: s, target: t } = pair;
  if (!s || !t) {
    report.comparedAs = 'not compared';
    report.notes.push(s ? 'missing on the target' : 'exists only on the target');
    return report;
  }
  if (!s.populated || !t.populated) {
    report.comparedAs = 'not compared';
    report.match = !s.populated && !t.populated;
    report.notes.push(
      report.match
        ? 'materialized view not populated on either side'
        : `materialized view not populated on the ${s.populated ? 'target' : 'source'} (REFRESH MATERIALIZED VIEW)`,
    );
    return report;
  }
  if (pair.onlySource.length) report.notes.push(`columns missing on the target: ${pair.onlySource.join(', ')}`);
  if (pair.onlyTarget.length) report.notes.push(`columns only on the target: ${pair.onlyTarget.join(', ')}`);
  if (!pair.key && s.relkind === 'r') report.notes.push('no primary key: compared as a multiset of rows');

  const hash = hashSpec(pair, source.major, target.major);
  const sides = (pass: Pass) => Promise.all([aggregateSide(pair, hash, s, source, opts, pass), aggregateSide(pair, hash, t, target, opts, pass)]);
  let [sa, ta] = await (totals ? totals() : sides('totals'));
  report.sourceRows = Number(total(sa));
  report.targetRows = Number(total(ta));
  if (opts.totalsOnly && !sameSums(sa, ta)) {
    report.notes.push('totals differ (not narrowed: totals only)');
    return report;
  }
  // One bucket: the totals are that bucket's sums already (mask 0 puts every row in bucket 0).
  if (!sameSums(sa, ta) && pair.buckets > 1) [sa, ta] = await sides('buckets');
  const differing = [...new Set([...sa.keys(), ...ta.keys()])]
    .filter((b) => {
      const x = sa.get(b);
      const y = ta.get(b);
      return !x || !y || x.n !== y.n || x.s !== y.s;
    })
    .map(BigInt)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  report.differingBuckets = differing.length;
  report.match = differing.length === 0 && pair.onlySource.length === 0 && pair.onlyTarget.length === 0;
  if (differing.length === 0) return report;

  // Every differing bucket is read to the end, so missing/extra/different are true totals; --max-differences
  // caps only the list. Only keys and row hashes travel (locate.ts): memory stays bounded whatever the rows.
  const drill = differing.map(String);
  opts.logger?.debug({ table: pair.display, differingBuckets: differing.length }, 'verify: locating differing rows');
  const located = await source.pool.use((ss) =>
    target.pool.use((ts) =>
      (pair.key ? locateKeyed(pair, hash, ss, ts, drill, opts.maxDifferences) : locateMultiset(pair, hash, ss, ts, drill, opts.maxDifferences)).catch((err) => {
        throw classifyError(err, `${pair.display}: locating differing rows`, { phase: 'verify', object: pair.display });
      }),
    ),
  );
  Object.assign(report, located);
  return report;
}
