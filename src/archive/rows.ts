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

/** A data block's bytes read forward from the file in 4 MB slices (fields, not closure variables: this is a hot loop). */
class BlockReader {
  buf = Buffer.alloc(0);
  pos = 0;
  constructor(
    readonly fd: number,
    public fileAt: number,
    readonly path: string,
    readonly dumpId: number,
  ) {}
  /** At least n unread bytes in buf, reading on from the file. */
  need(n: number): void {
    if (this.buf.length - this.pos >= n) return;
    const more = Buffer.allocUnsafe(Math.max(4 << 20, n));
    const got = readSync(this.fd, more, 0, more.length, this.fileAt);
    this.fileAt += got;
    this.buf = Buffer.concat([this.buf.subarray(this.pos), more.subarray(0, got)]);
    this.pos = 0;
    if (this.buf.length < n)
      throw new ArchiveError(`${this.path}: the data of dump entry ${this.dumpId} ends early at byte ${this.fileAt}: the file is truncated`, { phase: 'data' });
  }
  int(intSize: number): number {
    this.need(1 + intSize);
    const b = this.buf;
    const p = this.pos;
    let v = 0;
    for (let i = intSize; i >= 1; i--) v = v * 256 + b[p + i]!;
    this.pos = p + 1 + intSize;
    return b[p] !== 0 ? -v : v;
  }
  /** The next n bytes into out at `at` (n fits): an uncompressed (-Z0) archive has one chunk per row. */
  copyTo(out: Buffer, at: number, n: number): void {
    this.need(n);
    const b = this.buf;
    const p = this.pos;
    // Node's Buffer#copy makes a view per call (~1 µs): a row of a few hundred bytes is cheaper copied by hand.
    if (n < 512) for (let i = 0; i < n; i++) out[at + i] = b[p + i]!;
    else b.copy(out, at, p, p + n);
    this.pos = p + n;
  }
}

/**
 * The payload of one custom-format data block (still compressed), its chunks (one per row when uncompressed,
 * ~4 kB when compressed) gathered into ~1 MB buffers: every buffer handed on costs a COPY message and a socket
 * write downstream, whatever its size.
 */
export function* blockChunks(path: string, offset: number, intSize: number, dumpId: number): Generator<Buffer> {
  const fd = openSync(path, 'r');
  const r = new BlockReader(fd, offset, path, dumpId);
  try {
    r.need(1);
    const type = r.buf[r.pos++];
    const id = r.int(intSize);
    if (type !== BLK_DATA || id !== dumpId)
      throw new ArchiveError(`${path}: no data block of dump entry ${dumpId} at byte ${offset}: the archive is damaged`, { phase: 'data' });
    const OUT = 1 << 20;
    let out = Buffer.allocUnsafe(OUT);
    let size = 0;
    for (let n = r.int(intSize); n !== 0; n = r.int(intSize)) {
      if (size + n > out.length) {
        if (size) yield out.subarray(0, size);
        out = Buffer.allocUnsafe(Math.max(OUT, n));
        size = 0;
      }
      r.copyTo(out, size, n);
      size += n;
    }
    if (size) yield out.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * The COPY text rows of a TABLE DATA entry, or null when pgshift cannot read them itself (lz4/zstd
 * compression, a custom file written to a pipe: no offsets) and pg_restore must.
 */
export function archiveRowsReadable(archive: Archive, entry: ArchiveEntry): Readable | null {
  const { header } = archive;
  if (header.compression !== 'none' && header.compression !== 'gzip') return null;
  if (header.format === 'directory') {
    if (!entry.fileName) return null;
    const plain = join(archive.path, entry.fileName);
    if (existsSync(plain)) return createReadStream(plain);
    const gz = `${plain}.gz`;
    return existsSync(gz) ? inflated(createReadStream(gz, { highWaterMark: INFLATED_CHUNK }), createGunzip({ chunkSize: INFLATED_CHUNK })) : null;
  }
  const block = archive.blocks.get(entry.dumpId);
  if (!block) return null;
  const raw = Readable.from(blockChunks(archive.path, block.offset, header.intSize, entry.dumpId), { objectMode: false });
  // pg_dump's custom format compresses with zlib's deflate (zlib header, no gzip wrapper), one stream per block.
  return header.compression === 'gzip' ? inflated(raw, createInflate({ chunkSize: INFLATED_CHUNK })) : raw;
}

/** `from` through `inflate`, an error of either ending the stream returned. */
function inflated(from: Readable, inflate: Transform): Readable {
  from.on('error', (e) => inflate.destroy(e));
  return from.pipe(inflate);
}
