// Which tables' totals verify reads together (batch.ts): small ones, consecutive, bounded in count and bytes;
// big ones, one-sided ones and unpopulated views alone (their own queries, as before).
import { describe, expect, it } from 'vitest';
import { BATCH_TABLES, smallTableGroups } from '../../src/verify/batch.js';
import { pairRelations, type DataRelation } from '../../src/verify/plan.js';

const rel = (name: string, bytes: number, over: Partial<DataRelation> = {}): DataRelation => ({
  schema: 'public',
  name,
  qualified: `"public"."${name}"`,
  display: `public.${name}`,
  relkind: 'r',
  columns: ['id'],
  columnTypes: [23],
  primaryKey: ['id'],
  keyTypes: [23],
  bytes,
  rowsEstimate: 10,
  populated: true,
  ...over,
});

const side = { major: 17, blockSize: 8192 };
const MB = 1024 * 1024;
const names = (groups: { display: string }[][]) => groups.map((g) => g.map((p) => p.display.replace('public.', '')));

describe('verify: small tables grouped for one query per side', () => {
  it('groups consecutive small tables, at most BATCH_TABLES a group, never a big or one-sided table', () => {
    const small = Array.from({ length: 120 }, (_, i) => rel(`s${String(i).padStart(3, '0')}`, 8192));
    const source = [rel('big', 64 * MB), ...small, rel('only_source', 8192)];
    const target = [rel('big', 64 * MB), ...small, rel('only_target', 8192)];
    const groups = smallTableGroups(pairRelations(source, target), side, side, 32 * MB);
    expect(groups.map((g) => g.length)).toEqual([BATCH_TABLES, BATCH_TABLES, 20]);
    const grouped = groups.flat().map((p) => p.display);
    expect(grouped).not.toContain('public.big');
    expect(grouped).not.toContain('public.only_source');
    expect(grouped).not.toContain('public.only_target');
  });

  it('bounds a group by bytes (about one chunk) and leaves a lone table to its own query', () => {
    const rels = [rel('a', 3 * MB), rel('b', 3 * MB), rel('c', 3 * MB), rel('d', 8192)];
    // A table is small up to 1/8 of a chunk (4 MB of 32 MB); a group holds up to a chunk's bytes.
    expect(names(smallTableGroups(pairRelations(rels, rels), side, side, 32 * MB))).toEqual([['a', 'b', 'c', 'd']]);
    expect(names(smallTableGroups(pairRelations(rels, rels), side, side, 8 * MB))).toEqual([]);
    // 8 MB chunks: small up to 1 MB; a group holds up to 8 MB: eight tables of 1,000 kB, then the rest.
    const tight = Array.from({ length: 12 }, (_, i) => rel(`t${String(i).padStart(2, '0')}`, 1000 * 1024));
    expect(smallTableGroups(pairRelations(tight, tight), side, side, 8 * MB).map((g) => g.length)).toEqual([8, 4]);
  });

  it('an unpopulated materialized view is not read at all', () => {
    const rels = [rel('a', 8192), rel('b', 8192), rel('mv', 0, { relkind: 'm', populated: false, primaryKey: null, keyTypes: [] })];
    expect(names(smallTableGroups(pairRelations(rels, rels), side, side, 32 * MB))).toEqual([['a', 'b']]);
  });
});
