import { describe, expect, it } from 'vitest';
import { weightedRanges } from '../../src/copy/plan.js';

const keyRanges = (min: bigint, max: bigint, n: number) => weightedRanges(min, max, Array<number>(n).fill(1));

describe('chunk ranges', () => {
  it('cuts [min, max] into contiguous ranges, open at both ends', () => {
    expect(keyRanges(1n, 100n, 4)).toEqual([
      { lo: null, hi: '26' },
      { lo: '26', hi: '51' },
      { lo: '51', hi: '76' },
      { lo: '76', hi: null },
    ]);
  });
  it('never makes more ranges than values, and handles one value and negative keys', () => {
    expect(keyRanges(5n, 6n, 10)).toEqual([
      { lo: null, hi: '6' },
      { lo: '6', hi: null },
    ]);
    expect(keyRanges(7n, 7n, 3)).toEqual([{ lo: null, hi: null }]);
    expect(keyRanges(-10n, 9n, 2)).toEqual([
      { lo: null, hi: '0' },
      { lo: '0', hi: null },
    ]);
  });
  it('works across the whole bigint range without losing precision', () => {
    const r = keyRanges(-(2n ** 63n), 2n ** 63n - 1n, 3);
    expect(r).toHaveLength(3);
    expect(r[0]!.lo).toBeNull();
    expect(r[2]!.hi).toBeNull();
    expect(BigInt(r[1]!.lo!)).toBeLessThan(BigInt(r[1]!.hi!));
  });
});
