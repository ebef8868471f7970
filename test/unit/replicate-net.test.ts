// Folding one table's changes into their net effect per key (src/replicate/apply/net.ts).
import { describe, expect, it } from 'vitest';
import { NetSegment } from '../../src/replicate/apply/net.js';

const seg = () => new NetSegment(['id']);

describe('net effect of a segment of changes', () => {
  it('INSERT then UPDATEs become one INSERT of the final values; UPDATEs merge their carried columns', () => {
    const s = seg();
    expect(s.insert({ id: '1', a: 'x', b: 'y' })).toBe(true);
    expect(s.update({ id: '1' }, { id: '1', a: 'x2' })).toBe(true);
    expect(s.update({ id: '2' }, { id: '2', a: 'p' })).toBe(true);
    expect(s.update({ id: '2' }, { b: 'q' })).toBe(true); // key absent: unchanged TOAST-like
    expect(s.effect()).toEqual({ deletes: [], inserts: [{ id: '1', a: 'x2', b: 'y' }], updates: [{ id: '2', a: 'p', b: 'q' }] });
    expect(s.changes).toBe(4);
  });

  it('INSERT then DELETE is nothing; DELETE then INSERT deletes first; UPDATE then DELETE deletes', () => {
    const s = seg();
    s.insert({ id: '1', a: 'x' });
    s.delete({ id: '1' });
    s.delete({ id: '2' });
    s.insert({ id: '2', a: 'again' });
    s.update({ id: '3' }, { a: 'z' });
    s.delete({ id: '3' });
    expect(s.effect()).toEqual({ deletes: [['2'], ['3']], inserts: [{ id: '2', a: 'again' }], updates: [] });
  });

  it('refuses what contradicts the segment, so the caller keeps the order with a new segment', () => {
    const s = seg();
    s.insert({ id: '1', a: 'x' });
    expect(s.insert({ id: '1', a: 'dup' })).toBe(false);
    s.delete({ id: '5' });
    expect(s.update({ id: '5' }, { a: 'gone' })).toBe(false);
    expect(s.delete({ id: '5' })).toBe(false);
    // A key change never folds; nor does a row without its key.
    expect(s.update({ id: '7' }, { id: '8', a: 'moved' })).toBe(false);
    expect(s.insert({ a: 'no key' })).toBe(false);
    expect(s.changes).toBe(2);
  });

  it('composite keys: values compared per column, never by a joined string', () => {
    const s = new NetSegment(['a', 'b']);
    s.insert({ a: '1,2', b: '3', v: 'first' });
    s.insert({ a: '1', b: '2,3', v: 'second' });
    expect(s.size).toBe(2);
    s.update({ a: '1', b: '2,3' }, { v: 'changed' });
    expect(s.effect().inserts).toEqual([
      { a: '1,2', b: '3', v: 'first' },
      { a: '1', b: '2,3', v: 'changed' },
    ]);
  });
});
