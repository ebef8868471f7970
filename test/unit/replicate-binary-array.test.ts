// The binary text[] parameter the applier binds: exactly the UTF-8 bytes of every value, NULL as -1, whatever
// the mix of short, empty, multibyte and large values (the buffer is reserved for the worst case, then cut).
import { describe, expect, it } from 'vitest';
import { textArrayColumn } from '../../src/replicate/apply/binary-array.js';

function readBack(b: Buffer): { hasNull: number; elemType: number; values: (string | null)[] } {
  expect(b.readInt32BE(0)).toBe(1);
  const n = b.readInt32BE(12);
  expect(b.readInt32BE(16)).toBe(1);
  const values: (string | null)[] = [];
  let at = 20;
  for (let i = 0; i < n; i++) {
    const len = b.readInt32BE(at);
    at += 4;
    if (len < 0) values.push(null);
    else {
      values.push(b.toString('utf8', at, at + len));
      at += len;
    }
  }
  expect(at).toBe(b.length);
  return { hasNull: b.readInt32BE(4), elemType: b.readInt32BE(8), values };
}

describe('textArrayColumn', () => {
  it('writes each value as its UTF-8 bytes, NULLs as -1, and nothing after the last element', () => {
    const big = 'ä'.repeat(5000) + '𝄞'; // beyond the worst-case reservation's limit: measured exactly
    const col = ['1', null, '', 'a\\b "q" \'x\'', 'ü€𝄞', big, '\ud800'];
    const r = readBack(
      textArrayColumn(
        col.map((v) => ['k', v]),
        1,
      ),
    );
    expect(r.elemType).toBe(25);
    expect(r.hasNull).toBe(1);
    expect(r.values).toEqual([...col.slice(0, 6), '\ufffd']); // a lone surrogate is not valid UTF-8: U+FFFD, as before
  });

  it('flags no NULL when there is none, and takes an empty column', () => {
    expect(readBack(textArrayColumn([['x'], ['y']], 0))).toEqual({ hasNull: 0, elemType: 25, values: ['x', 'y'] });
    expect(readBack(textArrayColumn([], 0)).values).toEqual([]);
  });
});
