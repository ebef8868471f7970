// Small tables' totals several to one query (#30): over a link with 40 ms of round trip, one checksum query per
// table is what a verify of thousands of small tables pays, not the hashing. Consecutive small tables (in the
// biggest-first order) form a group; each side reads the group's row counts and sums of row hashes with one
// UNION ALL of the very statements a table alone would run (totalsSql), so the checksums are the same and a
// table whose totals differ is narrowed down to rows by key exactly as before (data.ts, locate.ts).
import { classifyError } from '../errors.js';
import { hashSpec, planChunks, type BucketSums, type DataOptions, type SideContext, type Totals } from './data.js';
import type { DataRelation, TablePair } from './plan.js';
import type { VerifySession } from './session.js';
import { totalsSql, type RowHashSpec } from './sql.js';

/** Tables per query: bounded so one statement's plan stays small (planning grows with a UNION's branches). */
export const BATCH_TABLES = 50;
/** A table is batched when it is at most this share of a chunk: larger ones pay their hashing, not a round trip. */
const SMALL_SHARE = 8;

const sideSize = (p: TablePair) => Math.max(p.source?.bytes ?? 0, p.target?.bytes ?? 0);

/** Compared row by row (present and readable on both sides) and read in one piece on both. */
function batchable(p: TablePair, source: Omit<SideContext, 'pool'>, target: Omit<SideContext, 'pool'>, chunkBytes: number): boolean {
  if (!p.source || !p.target || !p.source.populated || !p.target.populated) return false;
  if (sideSize(p) > chunkBytes / SMALL_SHARE) return false;
  const one = (rel: DataRelation, side: Omit<SideContext, 'pool'>) => planChunks(rel.bytes, side.blockSize, chunkBytes, side.major >= 14).length === 1;
  return one(p.source, source) && one(p.target, target);
}

/**
 * Groups of small tables whose totals are read together: pair → its totals (for compareTable). A group's queries
 * start when its first table asks, so they join each side's pool queue in the biggest-first order.
 */
export function batchTotals(order: TablePair[], source: SideContext, target: SideContext, opts: DataOptions): Map<TablePair, Totals> {
  const out = new Map<TablePair, Totals>();
  for (const g of smallTableGroups(order, source, target, opts.chunkBytes)) {
    let started: Promise<Map<string, BucketSums>[][]> | undefined;
    const run = () =>
      (started ??= (() => {
        const hashes = g.map((p) => hashSpec(p, source.major, target.major));
        const rels = (side: 'source' | 'target') => g.map((p) => p[side]!);
        return Promise.all([sideTotals(rels('source'), hashes, source, opts), sideTotals(rels('target'), hashes, target, opts)]);
      })());
    g.forEach((p, i) => out.set(p, async () => run().then(([s, t]) => [s![i]!, t![i]!])));
  }
  return out;
}

/** Consecutive small tables, at most BATCH_TABLES and about one chunk's bytes a group; groups of one are left out. */
export function smallTableGroups(order: TablePair[], source: Omit<SideContext, 'pool'>, target: Omit<SideContext, 'pool'>, chunkBytes: number): TablePair[][] {
  const groups: TablePair[][] = [];
  let group: TablePair[] = [];
  let bytes = 0;
  for (const p of order) {
    if (!batchable(p, source, target, chunkBytes)) continue;
    if (group.length >= BATCH_TABLES || (group.length > 0 && bytes + sideSize(p) > chunkBytes)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(p);
    bytes += sideSize(p);
  }
  groups.push(group);
  return groups.filter((g) => g.length > 1);
}

/** One side's totals of a group: one query, one row per table (bucket '0' as totalsSql reads it). */
async function sideTotals(rels: DataRelation[], hashes: RowHashSpec[], side: SideContext, opts: DataOptions): Promise<Map<string, BucketSums>[]> {
  const sql = rels.map((rel, i) => `SELECT ${i} AS i, q.n, q.s FROM (${totalsSql(rel, hashes[i]!, null)}) q`).join('\nUNION ALL\n');
  return side.pool.use(async (s) => {
    const { rows } = await s.client.query<{ i: number; n: string; s: string }>(sql).catch(async (err: unknown) => {
      throw await culprit(err, rels, hashes, side, s);
    });
    const out = rels.map(() => new Map<string, BucketSums>());
    for (const r of rows) out[r.i]!.set('0', { n: BigInt(r.n), s: BigInt(r.s) });
    for (const rel of rels) opts.progress?.add({ bytes: rel.bytes });
    return out;
  }, rels.length);
}

const HINT = 'check that the role can SELECT this table, or leave it out with --exclude';

/**
 * A group's query failed: name the table, as its own query would have. On a new transaction (same snapshot),
 * each table alone; the first that fails is the one. Only if none does (the connection went away…) the group.
 */
async function culprit(err: unknown, rels: DataRelation[], hashes: RowHashSpec[], side: SideContext, s: VerifySession): Promise<unknown> {
  const where = s.spec.side;
  const renewed = await side.pool.renew(s).then(
    () => true,
    () => false,
  );
  if (renewed) {
    for (let i = 0; i < rels.length; i++) {
      const rel = rels[i]!;
      const failed = await s.client.query(totalsSql(rel, hashes[i]!, null)).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (failed) return classifyError(failed, `${where} ${rel.display}: checksums`, { phase: 'verify', object: rel.display, hint: HINT });
    }
  }
  const names = rels.slice(0, 3).map((r) => r.display);
  return classifyError(err, `${where} ${names.join(', ')}${rels.length > 3 ? ` and ${rels.length - 3} more tables` : ''}: checksums`, {
    phase: 'verify',
    hint: HINT,
  });
}
