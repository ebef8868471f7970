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
 * The payload of one custom-format data block (still compressed), its ~4 kB chunks gathered into ~1 MB buffers:
 * every buffer handed on costs a COPY message and a socket write downstream, whatever its size.
 */
export function* blockChunks(path: string, offset: number, intSize: number, dumpId: number): Generator<Buffer> {
  const fd = openSync(path, 'r');
  const SLICE = 4 << 20;
  let buf = Buffer.alloc(0);
  let pos = 0;
  let fileAt = offset;
  /** At least n unread bytes in buf, reading on from the file. */
  const need = (n: number) => {
    if (buf.length - pos >= n) return;
    const more = Buffer.alloc(Math.max(SLICE, n));
    const got = readSync(fd, more, 0, more.length, fileAt);
    fileAt += got;
    buf = Buffer.concat([buf.subarray(pos), more.subarray(0, got)]);
    pos = 0;
    if (buf.length < n)
      throw new ArchiveError(`${path}: the data of dump entry ${dumpId} ends early at byte ${fileAt}: the file is truncated`, { phase: 'data' });
  };
  const int = (): number => {
    need(1 + intSize);
    let v = 0;
    for (let i = intSize; i >= 1; i--) v = v * 256 + buf[pos + i]!;
    const negative = buf[pos] !== 0;
    pos += 1 + intSize;
    return negative ? -v : v;
  };
  try {
    need(1);
    const type = buf[pos++];
    const id = int();
    if (type !== BLK_DATA || id !== dumpId)
      throw new ArchiveError(`${path}: no data block of dump entry ${dumpId} at byte ${offset}: the archive is damaged`, { phase: 'data' });
    let batch: Buffer[] = [];
    let size = 0;
    for (let n = int(); n !== 0; n = int()) {
      need(n);
      batch.push(buf.subarray(pos, pos + n));
      pos += n;
      size += n;
      if (size >= 1 << 20) {
        yield Buffer.concat(batch);
        batch = [];
        size = 0;
      }
    }
    if (size) yield Buffer.concat(batch);
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
    return existsSync(gz) ? inflated(createReadStream(gz), createGunzip()) : null;
  }
  const block = archive.blocks.get(entry.dumpId);
  if (!block) return null;
  const raw = Readable.from(blockChunks(archive.path, block.offset, header.intSize, entry.dumpId), { objectMode: false });
  // pg_dump's custom format compresses with zlib's deflate (zlib header, no gzip wrapper), one stream per block.
  return header.compression === 'gzip' ? inflated(raw, createInflate()) : raw;
}

/** `from` through `inflate`, an error of either ending the stream returned. */
function inflated(from: Readable, inflate: Transform): Readable {
  from.on('error', (e) => inflate.destroy(e));
  return from.pipe(inflate);
}
