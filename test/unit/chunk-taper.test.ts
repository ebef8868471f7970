import { describe, expect, it } from 'vitest';
import { taperedWeights, weightedRanges, type Chunk } from '../../src/copy/plan.js';
import { chunkOrder } from '../../src/copy/plan.js';
import { BuildScheduler, type BuildJob } from '../../src/copy/schedule.js';
import { tableKey } from '../../src/catalog/table-id.js';

const MB = 1024 ** 2;

describe('tapered chunks of a split table', () => {
  it('keeps n - 1 equal parts and cuts the last one into halves while the pieces stay above 16MB', () => {
    expect(taperedWeights(1, 100 * MB)).toEqual([1]);
    expect(taperedWeights(2, 1000 * MB)).toEqual([1, 0.5, 0.25, 0.125, 0.125]);
    expect(taperedWeights(3, 150 * MB)).toEqual([1, 1, 0.5, 0.5]); // 50MB parts: an eighth would be below 16MB
    expect(taperedWeights(4, 40 * MB)).toEqual([1, 1, 1, 1]); // 10MB parts stay whole (the tests' 1MB splits too)
  });

  it('cuts [min, max] by weight into contiguous ranges, open at both ends, none empty', () => {
    expect(weightedRanges(1n, 1000n, [1, 0.5, 0.25, 0.125, 0.125])).toEqual([
      { lo: null, hi: '501' },
      { lo: '501', hi: '751' },
      { lo: '751', hi: '876' },
      { lo: '876', hi: '938' },
      { lo: '938', hi: null },
    ]);
    expect(weightedRanges(5n, 6n, [1, 0.5, 0.25, 0.125, 0.125])).toEqual([
      { lo: null, hi: '6' },
      { lo: '6', hi: null },
    ]);
    expect(weightedRanges(7n, 7n, [1, 1])).toEqual([{ lo: null, hi: null }]);
    const wide = weightedRanges(-(2n ** 63n), 2n ** 63n - 1n, [1, 1, 0.5, 0.5]);
    expect(wide).toHaveLength(4);
    for (let i = 1; i < wide.length - 1; i++) expect(BigInt(wide[i]!.lo!)).toBeLessThan(BigInt(wide[i]!.hi!));
  });

  it('hands out the largest table first and, within it, its largest chunks first', () => {
    const c = (name: string, chunk: number, estBytes: number): Chunk => ({
      schema: 'public',
      name,
      chunk,
      chunks: 1,
      method: 'pk',
      lo: null,
      hi: null,
      estBytes,
    });
    const order = chunkOrder([c('small', 0, 300), c('big', 3, 50), c('big', 0, 400), c('big', 1, 200), c('mid', 0, 350), c('big', 2, 100)]);
    expect(order.map((x) => `${x.name}${x.chunk}`)).toEqual(['big0', 'big1', 'big2', 'big3', 'mid0', 'small0']);
  });
});

describe('ANALYZE overlapping the copy', () => {
  const pub = (name: string) => tableKey({ schema: 'public', name });
  const index = (table: string, name: string): BuildJob => ({
    kind: 'index',
    schema: 'public',
    table,
    name,
    stateName: name,
    statements: [],
    needsData: [pub(table)],
    needsKeys: [],
    isKey: name.endsWith('_pkey'),
  });
  const analyze = (table: string, indexed: boolean): BuildJob => ({
    kind: 'analyze',
    schema: 'public',
    table,
    name: `analyze ${table}`,
    stateName: '',
    statements: [],
    needsData: [pub(table)],
    needsKeys: [],
    needsIndexes: indexed ? [pub(table)] : [],
  });
  async function drain(s: BuildScheduler): Promise<string[]> {
    const out: string[] = [];
    while (s.queue.size > 0) out.push((await s.queue.take())!.name);
    return out;
  }

  it("runs a table's ANALYZE once its data and every index on it are in, before the other tables finish", async () => {
    const pk = index('a', 'a_pkey');
    const byName = index('a', 'a_name_idx');
    const s = new BuildScheduler([pk, byName, analyze('a', true), analyze('b', false)], []);
    expect(await drain(s)).toEqual([]);
    s.tableLoaded(pub('b'));
    expect(await drain(s)).toEqual(['analyze b']); // no index on b: right after its data
    s.tableLoaded(pub('a'));
    expect(await drain(s)).toEqual(['a_pkey', 'a_name_idx']);
    s.jobDone(pk);
    expect(await drain(s)).toEqual([]); // a_name_idx still building
    s.jobDone(byName);
    expect(await drain(s)).toEqual(['analyze a']);
  });
});

describe("foreign keys and ANALYZE never wait on each other's locks", () => {
  const pub = (name: string) => tableKey({ schema: 'public', name });
  it('hands out an ANALYZE of a table only when no foreign-key validation on it runs, and the other way round', async () => {
    const pk = {
      kind: 'index',
      schema: 'public',
      table: 'a',
      name: 'a_pkey',
      stateName: 'a_pkey',
      statements: [],
      needsData: [pub('a')],
      needsKeys: [],
      isKey: true,
    } as BuildJob;
    const fkBA = {
      kind: 'foreign key',
      schema: 'public',
      table: 'b',
      name: 'b_a_fk',
      stateName: 'FK b_a_fk',
      statements: [],
      needsData: [pub('b'), pub('a')],
      needsKeys: [pub('a')],
    } as BuildJob;
    const analyzeA = {
      kind: 'analyze',
      schema: 'public',
      table: 'a',
      name: 'analyze a',
      stateName: '',
      statements: [],
      needsData: [pub('a')],
      needsKeys: [],
      needsIndexes: [pub('a')],
    } as BuildJob;
    const s = new BuildScheduler([pk, fkBA, analyzeA], []);
    s.tableLoaded(pub('b'));
    s.tableLoaded(pub('a'));
    expect((await s.queue.take())?.name).toBe('a_pkey');
    s.allLoaded();
    s.jobDone(pk);
    expect((await s.queue.take())?.name).toBe('b_a_fk'); // ready first; the ANALYZE of a waits for it
    expect(s.queue.size).toBe(0);
    s.jobDone(fkBA);
    expect((await s.queue.take())?.name).toBe('analyze a');
    s.jobDone(analyzeA);
    expect(await s.queue.take()).toBeUndefined();
  });
});
