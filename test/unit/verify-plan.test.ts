import { describe, expect, it } from 'vitest';
import { planChunks } from '../../src/verify/data.js';
import { bucketCount, MAX_BUCKETS, pairRelations, type DataRelation } from '../../src/verify/plan.js';
import { rowHash } from '../../src/verify/sql.js';

const rel = (over: Partial<DataRelation>): DataRelation => ({
  schema: 'public',
  name: 't',
  qualified: '"public"."t"',
  display: 'public.t',
  relkind: 'r',
  columns: ['id', 'v'],
  columnTypes: [23, 25],
  primaryKey: ['id'],
  keyTypes: [23],
  bytes: 8192,
  rowsEstimate: 10,
  populated: true,
  ...over,
});

describe('verify planning', () => {
  it('splits a relation into block ranges whose last one is open-ended', () => {
    expect(planChunks(10 * 8192, 8192, 4 * 8192, true).map((c) => c.range)).toEqual([
      { fromBlock: 0, toBlock: 4 },
      { fromBlock: 4, toBlock: 8 },
      { fromBlock: 8, toBlock: null },
    ]);
    // Before PostgreSQL 14 (no TID range scans) and for small tables: one unbounded read.
    expect(planChunks(10 * 8192, 8192, 4 * 8192, false)).toEqual([{ range: null, bytes: 10 * 8192 }]);
    expect(planChunks(0, 8192, 4 * 8192, true)).toEqual([{ range: null, bytes: 0 }]);
    // At most 64 chunks whatever the size.
    expect(planChunks(1e12, 8192, 1024 * 1024, true).length).toBeLessThanOrEqual(64);
  });

  it('sizes buckets to ~1000 rows, powers of two, bounded', () => {
    expect(bucketCount(0, 0)).toBe(1);
    expect(bucketCount(60_000, 0)).toBe(64);
    expect(bucketCount(0, 1e7)).toBe(128); // never analyzed: estimated from bytes
    expect(bucketCount(1e12, 0)).toBe(MAX_BUCKETS);
  });

  it('compares columns by name in source order, and hashes only exact types raw', () => {
    const [p] = pairRelations(
      [rel({ columns: ['id', 'v', 'f', 'gone'], columnTypes: [23, 25, 701, 25] })],
      [rel({ columns: ['f', 'v', 'id', 'new'], columnTypes: [701, 1043, 20, 25], keyTypes: [20] })],
    );
    expect(p).toMatchObject({ columns: ['id', 'v', 'f'], onlySource: ['gone'], onlyTarget: ['new'], key: ['id'], keyMode: 'integer' });
    // int4 vs int8 and text vs varchar differ in type: hashed by their text, like float8.
    expect(p!.hashModes).toEqual(['text', 'text', 'text']);
    const [q] = pairRelations([rel({})], [rel({})]);
    expect(q!.hashModes).toEqual(['raw', 'rawC']);
    expect(rowHash({ columns: q!.columns, modes: q!.hashModes })).toBe('hashtextextended(hash_record_extended(ROW(t."id", (t."v" COLLATE "C")), 0)::text, 0)');
    expect(rowHash({ columns: ['a b'], modes: null })).toBe('hashtextextended(ROW(t."a b")::text, 0)');
  });

  it('a key that is not an integer on both sides is compared by its text', () => {
    const [p] = pairRelations([rel({ primaryKey: ['v'], keyTypes: [25] })], [rel({ primaryKey: ['v'], keyTypes: [25] })]);
    expect(p).toMatchObject({ key: ['v'], keyMode: 'text' });
    const [m] = pairRelations([rel({ primaryKey: null, keyTypes: [] })], [rel({ primaryKey: null, keyTypes: [] })]);
    expect(m!.key).toBeNull();
  });
});
