// takeGroup (src/archive/load-group.ts): the unit of work of a data session in copy --source FILE — a large table
// alone, small ones (≤ 1 MB in the archive) together up to 50 tables / 8 MB and a fair share per session.
import { describe, expect, it } from 'vitest';
import { GROUP_MAX_BYTES, GROUP_MAX_TABLES, GROUP_TABLE_BYTES, takeGroup } from '../../src/archive/load-group.js';

const tables = (...bytes: number[]) => bytes.map((b, i) => ({ id: i, bytes: b }));
const all = () => true;

describe('takeGroup', () => {
  it('a table over the bound goes alone; the small ones after it together', () => {
    const q = tables(5 * GROUP_TABLE_BYTES, 1000, 900, 800);
    expect(takeGroup(q, 1, all).map((t) => t.id)).toEqual([0]);
    expect(takeGroup(q, 1, all).map((t) => t.id)).toEqual([1, 2, 3]);
    expect(takeGroup(q, 1, all)).toEqual([]);
  });

  it('at most GROUP_MAX_TABLES tables and GROUP_MAX_BYTES bytes, and a fair share of what is left per session', () => {
    expect(takeGroup(tables(...Array<number>(200).fill(10)), 1, all)).toHaveLength(GROUP_MAX_TABLES);
    const big = Math.floor(GROUP_TABLE_BYTES * 0.9);
    expect(takeGroup(tables(...Array<number>(40).fill(big)), 1, all)).toHaveLength(Math.floor(GROUP_MAX_BYTES / big));
    // Two sessions, 10 tables: 5 each, so neither waits on the other's group.
    expect(takeGroup(tables(...Array<number>(10).fill(10)), 2, all)).toHaveLength(5);
  });

  it('a table pgshift cannot read itself (pg_restore renders it) is never grouped', () => {
    const q = tables(10, 10, 10);
    expect(takeGroup(q, 1, (t) => t.id !== 1).map((t) => t.id)).toEqual([0]);
    expect(takeGroup(q, 1, (t) => t.id !== 1).map((t) => t.id)).toEqual([1]);
  });
});
