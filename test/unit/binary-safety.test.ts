// Binary COPY carries reg* values (regclass, regtype, …) as the source's raw OIDs: they must go as text (names).
import { describe, expect, it } from 'vitest';
import { binarySafety } from '../../src/catalog/tables.js';

const base = (oid: number, category = 'N') => [oid, { oid: String(oid), typtype: 'b', base: '0', elem: '0', category, has_binary: true }] as const;
const array = (oid: number, elem: number) => [oid, { oid: String(oid), typtype: 'b', base: '0', elem: String(elem), category: 'A', has_binary: true }] as const;

describe('binarySafety', () => {
  const types = new Map<number, never>([
    base(23),
    base(25, 'S'),
    base(2205),
    base(2206),
    base(24),
    base(4089),
    base(3734),
    array(1007, 23),
    array(2210, 2205),
  ] as never);
  const safe = binarySafety(types);
  it('sends built-in scalars and their arrays in binary', () => {
    expect([23, 25, 1007].map(safe)).toEqual([true, true, true]);
  });
  it('never sends reg* types (or arrays of them) in binary: their binary form is an OID of the source', () => {
    expect([2205, 2206, 24, 4089, 3734, 2210].map(safe)).toEqual([false, false, false, false, false, false]);
  });
});
