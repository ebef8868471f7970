// A custom-format data block read by src/archive/rows.ts blockChunks: chunk headers squeezed out of 4 MB file
// slices in place. Synthetic blocks (pg_dump's layout: type byte, dump id, length-prefixed chunks, zero length)
// with chunks that straddle slice ends, chunks larger than a slice, a header cut by a slice end, and the damaged
// and truncated cases. No server needed: this is the file format.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blockChunks, SlicePool } from '../../src/archive/rows.js';

const INT = 4;
/** pg_dump's WriteInt: a sign byte, then INT bytes little-endian. */
function int(v: number): Buffer {
  const b = Buffer.alloc(1 + INT);
  b[0] = v < 0 ? 1 : 0;
  let a = Math.abs(v);
  for (let i = 1; i <= INT; i++) {
    b[i] = a % 256;
    a = Math.floor(a / 256);
  }
  return b;
}

/** A block of dump entry `id` holding `chunks`, ended by a zero length (unless `unterminated`). */
function block(id: number, chunks: Buffer[], unterminated = false): Buffer {
  return Buffer.concat([Buffer.from([1]), int(id), ...chunks.flatMap((c) => [int(c.length), c]), ...(unterminated ? [] : [int(0)])]);
}

/** Deterministic bytes, so a misplaced or dropped byte shows. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('archive data blocks read in slices', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-block-chunks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, ...parts: Buffer[]) => {
    const f = join(dir, name);
    writeFileSync(f, Buffer.concat(parts));
    return f;
  };

  it('gives back every chunk byte in order: small rows across slice ends, chunks larger than a slice', () => {
    // ~60 k rows of 1–300 bytes (≈ 9 MB, so two slice ends fall inside rows or headers), then 5 MB and 9 MB chunks.
    const chunks: Buffer[] = [];
    for (let i = 0, r = 7; i < 60_000; i++) {
      r = (r * 48271) % 2147483647;
      chunks.push(bytes(1 + (r % 300), i));
    }
    chunks.push(bytes(5 << 20, 1), bytes(3, 2), bytes(9 << 20, 3), bytes(1, 4));
    const prefix = bytes(1234, 9);
    const f = write('a.dump', prefix, block(42, chunks), block(43, [bytes(10, 5)]));
    const out = [...blockChunks(f, prefix.length, INT, 42)];
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
    // Handed on in few, large pieces (each about a slice), never empty.
    expect(out.length).toBeLessThan(12);
    expect(out.every((b) => b.length > 0)).toBe(true);
    // The next block, read at its own offset.
    const next = prefix.length + block(42, chunks).length;
    expect(Buffer.concat([...blockChunks(f, next, INT, 43)]).equals(bytes(10, 5))).toBe(true);
  });

  it('a length header split by a slice end is read whole', () => {
    // The first chunk ends 2 bytes before the 4 MB slice end: the next header straddles it.
    const first = bytes((4 << 20) - (1 + INT) * 2 - 1 - 2, 1);
    const chunks = [first, bytes(100, 2), bytes(7, 3)];
    const f = write('b.dump', block(5, chunks));
    expect(Buffer.concat([...blockChunks(f, 0, INT, 5)]).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('refuses a block of another entry, a negative chunk length and a file cut inside the block', () => {
    const f = write('c.dump', block(5, [bytes(100, 1)]));
    expect(() => [...blockChunks(f, 0, INT, 6)]).toThrow(/no data block of dump entry 6 at byte 0: the archive is damaged/);
    const neg = write('d.dump', Buffer.from([1]), int(5), int(-3), bytes(3, 1), int(0));
    expect(() => [...blockChunks(neg, 0, INT, 5)]).toThrow(/chunk of -3 bytes .*damaged/);
    const cut = write('e.dump', block(5, [bytes(100, 1), bytes(50_000, 2)], true).subarray(0, 20_000));
    expect(() => [...blockChunks(cut, 0, INT, 5)]).toThrow(/ends early .* the file is truncated/);
    const noEnd = write('f.dump', block(5, [bytes(100, 1)], true));
    expect(() => [...blockChunks(noEnd, 0, INT, 5)]).toThrow(/the file is truncated/);
  });

  it("with the block's end known (where the next block starts), a damaged length is refused, not read into the next block", () => {
    const first = block(5, [bytes(100, 1), bytes(200, 2)]);
    const f = write('g.dump', first, block(6, [bytes(50, 3)]));
    expect(Buffer.concat([...blockChunks(f, 0, INT, 5, first.length)]).equals(Buffer.concat([bytes(100, 1), bytes(200, 2)]))).toBe(true);
    // The second chunk's length says 260: its bytes would run into block 6.
    const bad = Buffer.from(first);
    int(260).copy(bad, 2 + INT + 1 + INT + 100);
    const g = write('h.dump', bad, block(6, [bytes(50, 3)]));
    expect(() => [...blockChunks(g, 0, INT, 5, bad.length)]).toThrow(/do not end where its block ends .* damaged/);
    // A block that ends early (its zero length before the next block's start) is refused too.
    expect(() => [...blockChunks(f, 0, INT, 5, first.length + 3)]).toThrow(/damaged/);
  });

  it('slices given back once written are reused, and the bytes stay right: a few slices for a whole table, and for table after table', () => {
    const chunks: Buffer[] = [];
    for (let i = 0, r = 11; i < 120_000; i++) {
      r = (r * 48271) % 2147483647;
      chunks.push(bytes(1 + (r % 300), i));
    }
    chunks.push(bytes(5 << 20, 1), bytes(3, 2));
    const blk = block(7, chunks);
    const f = write('pool.dump', blk, block(8, [bytes(10, 5)]));
    const pool = new SlicePool();
    for (let table = 0; table < 3; table++) {
      const got: Buffer[] = [];
      // The consumer: copies each piece out (as the socket does), then gives it back.
      for (const piece of blockChunks(f, 0, INT, 7, blk.length, pool)) {
        got.push(Buffer.from(piece));
        pool.give(piece);
      }
      expect(Buffer.concat(got).equals(Buffer.concat(chunks))).toBe(true);
    }
    // ~23 MB read three times through two slices (one being filled while the last piece is out), not ~18.
    expect(pool.allocated).toBeLessThanOrEqual(2);
    // A piece held (not given back) is never overwritten by a later read.
    const held = [...blockChunks(f, 0, INT, 7, blk.length, pool)];
    const again = [...blockChunks(f, 0, INT, 7, blk.length, pool)];
    expect(Buffer.concat(held).equals(Buffer.concat(chunks))).toBe(true);
    expect(Buffer.concat(again).equals(Buffer.concat(chunks))).toBe(true);
    // Giving back twice, or a buffer the pool never made, changes nothing.
    pool.give(held[0]!);
    pool.give(held[0]!);
    pool.give(Buffer.alloc(4 << 20));
    const first = pool.take();
    const second = pool.take();
    expect(first.buffer).not.toBe(second.buffer);
  });
});
