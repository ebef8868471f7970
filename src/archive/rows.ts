// A table's COPY rows read straight from the archive: in a custom-format file, its data block's chunks at the
// offset the archive records, inflated with zlib; in a directory archive, its <id>.dat(.gz) file. No pg_restore
// process per table (a many-tables restore paid ~40 ms of process start per table). lz4/zstd archives, which
// Node cannot inflate here, go through pg_restore instead (archiveRowsReadable returns null).
import { closeSync, createReadStream, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { ArchiveError } from './format.js';
import type { Archive } from './index.js';
import type { ArchiveEntry } from './format.js';

const BLK_DATA = 1;
/**
 * zlib's output pieces: 1 MB rather than Node's 16 kB default. Every piece costs a stream step, a COPY message and
 * a socket write downstream: inflating a 122 MB table took 1.2 s of CPU in 16 kB pieces, 0.5 s in 1 MB ones.
 */
const INFLATED_CHUNK = 1 << 20;

/** File reads per step: each slice, its chunk headers squeezed out in place, is handed on as one piece. */
const SLICE = 4 << 20;

/**
 * The 4 MB slices the readers fill, given back (`give`) once the socket has written what was read into them: a
 * 175 MB table otherwise allocated (and page-faulted, and collected) 44 fresh slices, and a 500-table archive one
 * per table. Only slices this pool handed out come back, each once; a slice never given back is just garbage.
 */
export class SlicePool {
  private readonly free: Buffer[] = [];
  private readonly out = new WeakSet<ArrayBufferLike>();
  /** Slices allocated so far (the rest of the takes were reused ones). */
  allocated = 0;
  constructor(private readonly keep = 8) {}
  take(): Buffer {
    const b = this.free.pop() ?? (this.allocated++, Buffer.allocUnsafeSlow(SLICE));
    this.out.add(b.buffer);
    return b;
  }
  /** `piece`: the slice itself or any part of it. */
  give(piece: Buffer): void {
    const ab = piece.buffer;
    if (!this.out.delete(ab)) return;
    if (this.free.length < this.keep) this.free.push(Buffer.from(ab, 0, SLICE));
  }
  get idle(): number {
    return this.free.length;
  }
}

/** The pool every reader in this process shares (sessions load tables one after another). */
export const slicePool = new SlicePool();

/**
 * The payload of one custom-format data block (still compressed when the archive is): its chunks (one per row
 * when uncompressed, ~4 kB when compressed), read from the file in 4 MB slices (from `pool`) whose chunk headers are
 * squeezed out in place (one memmove per chunk), each slice handed on as one buffer: no copy into a second buffer
 * and no per-byte loop (a -Z0 table of 650 k rows cost 1.1 s of CPU copied row by row into 1 MB buffers, 0.2 s so).
 * A piece handed on belongs to the consumer until it gives it back to `pool` (once written); slices never handed
 * on go back at once.
 */
export function* blockChunks(path: string, offset: number, intSize: number, dumpId: number, end?: number, pool: SlicePool = slicePool): Generator<Buffer> {
  const fd = openSync(path, 'r');
  let buf: Buffer = Buffer.alloc(0);
  // Whether a part of buf was handed on (then it is the consumer's to give back).
  let handed = false;
  try {
    let fileAt = offset;
    let len = 0; // bytes read into buf
    let p = 0; // next unread byte
    let w = 0; // end of the payload squeezed so far (w <= p)
    // A generator cannot yield from a nested function: the piece finished by a refill inside int() waits here.
    let ready: Buffer | null = null;
    /** At least n unread bytes in buf (else the file is cut short). Another slice: the previous one was handed on. */
    const refill = (n: number): void => {
      const tail = len - p;
      // No more than the block holds when its end is known: a many-tables archive's blocks are a few hundred kB.
      const room = end === undefined ? SLICE : Math.min(SLICE, tail + Math.max(0, end - fileAt));
      const next = pool.take();
      if (next.buffer === buf.buffer) buf.copyWithin(0, p, len);
      else buf.copy(next, 0, p, len);
      const got = readSync(fd, next, tail, Math.max(room, n) - tail, fileAt);
      if (!handed && next.buffer !== buf.buffer) pool.give(buf);
      fileAt += got;
      buf = next;
      handed = false;
      len = tail + got;
      p = 0;
      w = 0;
      if (len < n) throw new ArchiveError(`${path}: the data of dump entry ${dumpId} ends early at byte ${fileAt}: the file is truncated`, { phase: 'data' });
    };
    /** Refused when a length would be read past the block's end (the next block's start): a damaged length. */
    const damaged = () =>
      new ArchiveError(`${path}: the chunks of dump entry ${dumpId}'s data do not end where its block ends (byte ${end}): the archive is damaged`, {
        phase: 'data',
      });
    const int = (): number => {
      if (end !== undefined && fileAt - (len - p) + 1 + intSize > end) throw damaged();
      if (len - p < 1 + intSize) {
        if (w) {
          ready = buf.subarray(0, w);
          handed = true;
        }
        refill(1 + intSize);
      }
      let v = 0;
      for (let i = intSize; i >= 1; i--) v = v * 256 + buf[p + i]!;
      const neg = buf[p] !== 0;
      p += 1 + intSize;
      return neg ? -v : v;
    };
    refill(2 + intSize);
    const type = buf[p++];
    const id = int();
    if (type !== BLK_DATA || id !== dumpId)
      throw new ArchiveError(`${path}: no data block of dump entry ${dumpId} at byte ${offset}: the archive is damaged`, { phase: 'data' });
    for (let n = int(); n !== 0; n = int()) {
      if (ready) {
        yield ready;
        ready = null;
      }
      if (n < 0) throw new ArchiveError(`${path}: a chunk of ${n} bytes in the data of dump entry ${dumpId}: the archive is damaged`, { phase: 'data' });
      if (end !== undefined && fileAt - (len - p) + n > end) throw damaged();
      while (n > 0) {
        if (p === len) {
          if (w) {
            handed = true;
            yield buf.subarray(0, w);
          }
          refill(1);
        }
        const take = Math.min(len - p, n);
        if (w !== p) buf.copyWithin(w, p, p + take);
        w += take;
        p += take;
        n -= take;
      }
    }
    if (end !== undefined && fileAt - (len - p) !== end) throw damaged();
    if (ready) yield ready;
    if (w) {
      handed = true;
      yield buf.subarray(0, w);
    }
  } finally {
    closeSync(fd);
    if (!handed) pool.give(buf);
  }
}

/**
 * A table's rows as pieces of bytes, for a consumer that writes them out: each piece is given back with `written`
 * once written (its slice is then reused), `close` stops the reading early.
 */
export interface RowSource {
  pieces: Iterable<Buffer> | AsyncIterable<Buffer>;
  written(piece: Buffer): void;
  close(): void;
}

/**
 * The COPY text rows of a TABLE DATA entry, or null when pgshift cannot read them itself (lz4/zstd
 * compression, a custom file written to a pipe: no offsets) and pg_restore must.
 */
export function archiveRowsReadable(archive: Archive, entry: ArchiveEntry): Readable | null {
  const src = archiveRowsOpener(archive, entry)?.();
  if (!src) return null;
  return src.pieces instanceof Readable ? src.pieces : Readable.from(src.pieces, { objectMode: false });
}

/** What opens an entry's rows (archiveRowsReadable), without opening them yet; null when pg_restore must read them. */
export function archiveRowsOpener(archive: Archive, entry: ArchiveEntry): (() => RowSource) | null {
  const { header } = archive;
  if (header.compression !== 'none' && header.compression !== 'gzip') return null;
  if (header.format === 'directory') {
    if (!entry.fileName) return null;
    const plain = join(archive.path, entry.fileName);
    if (existsSync(plain)) return () => streamed(createReadStream(plain, { highWaterMark: INFLATED_CHUNK }));
    const gz = `${plain}.gz`;
    return existsSync(gz)
      ? () => streamed(inflated(createReadStream(gz, { highWaterMark: INFLATED_CHUNK }), createGunzip({ chunkSize: INFLATED_CHUNK })))
      : null;
  }
  const block = archive.blocks.get(entry.dumpId);
  if (!block) return null;
  const chunks = () => blockChunks(archive.path, block.offset, header.intSize, entry.dumpId, block.offset + block.bytes);
  // pg_dump's custom format compresses with zlib's deflate (zlib header, no gzip wrapper), one stream per block.
  if (header.compression === 'gzip')
    return () => streamed(inflated(Readable.from(chunks(), { objectMode: false }), createInflate({ chunkSize: inflatedChunk(block.bytes) })));
  // Uncompressed: the slices themselves, no stream between the file and the socket (Readable.from joined pieces
  // into new buffers and cost a stream step each), each slice back in the pool once written.
  return () => {
    const gen = chunks();
    return { pieces: gen, written: (piece) => slicePool.give(piece), close: () => void gen.return(undefined) };
  };
}

function streamed(r: Readable): RowSource {
  return { pieces: r, written: () => undefined, close: () => void r.destroy() };
}

/**
 * zlib's output buffer for a block of `bytes` compressed: INFLATED_CHUNK for large tables, about what a small one
 * inflates to otherwise (COPY text deflates 3–5×), since each buffer lives until the socket has written it.
 */
export function inflatedChunk(bytes: number): number {
  return Math.min(INFLATED_CHUNK, Math.max(64 << 10, 2 ** Math.ceil(Math.log2(Math.max(1, bytes) * 4))));
}

/** `from` through `inflate`, an error of either ending the stream returned. */
function inflated(from: Readable, inflate: Transform): Readable {
  from.on('error', (e) => inflate.destroy(e));
  return from.pipe(inflate);
}
