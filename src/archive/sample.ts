// The first rows of a table's data entry, read from the archive without loading the rest: what estimate's probe
// COPYs into the target, and how much the stored (compressed) bytes grow when inflated — each table's size in
// the file times that ratio is what COPY will carry. zlib's partial-input flush lets a prefix of a deflate
// stream be inflated on its own.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { constants, gunzipSync, inflateSync } from 'node:zlib';
import type { ArchiveEntry } from './format.js';
import type { Archive } from './index.js';
import { blockChunks } from './rows.js';

export interface RowSample {
  /** Whole COPY text lines (no `\.` end line). */
  rows: Buffer;
  lines: number;
  /** Stored bytes read, and the plain bytes they inflated to. */
  storedBytes: number;
  plainBytes: number;
  /** plain / stored over the prefix read (1 for an uncompressed archive). */
  ratio: number;
  /** Seconds the client spent inflating the prefix (copy does the same work for every table). */
  inflateSeconds: number;
  /** The prefix was the whole entry. */
  whole: boolean;
}

/** At most `maxStored` stored bytes of the entry's data, and whether that was all of it; null: not readable here. */
function storedPrefix(archive: Archive, entry: ArchiveEntry, maxStored: number): { bytes: Buffer; whole: boolean; gzipFile: boolean } | null {
  const { header } = archive;
  if (header.compression !== 'none' && header.compression !== 'gzip') return null;
  if (header.format === 'directory') {
    if (!entry.fileName) return null;
    const plain = join(archive.path, entry.fileName);
    const gz = `${plain}.gz`;
    const path = existsSync(plain) ? plain : existsSync(gz) ? gz : null;
    if (!path) return null;
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(maxStored + 1);
      const got = readSync(fd, buf, 0, buf.length, 0);
      return { bytes: buf.subarray(0, Math.min(got, maxStored)), whole: got <= maxStored, gzipFile: path === gz };
    } finally {
      closeSync(fd);
    }
  }
  const block = archive.blocks.get(entry.dumpId);
  if (!block) return null;
  const parts: Buffer[] = [];
  let size = 0;
  let whole = true;
  for (const b of blockChunks(archive.path, block.offset, header.intSize, entry.dumpId)) {
    parts.push(b);
    size += b.length;
    if (size >= maxStored) {
      whole = false;
      break;
    }
  }
  return { bytes: Buffer.concat(parts), whole, gzipFile: false };
}

function inflatePrefix(archive: Archive, p: { bytes: Buffer; gzipFile: boolean }): Buffer {
  if (p.gzipFile) return gunzipSync(p.bytes, { finishFlush: constants.Z_SYNC_FLUSH });
  if (archive.header.format === 'custom' && archive.header.compression === 'gzip') return inflateSync(p.bytes, { finishFlush: constants.Z_SYNC_FLUSH });
  return p.bytes;
}

/** Whole lines of `plain`, without pg_dump's `\.` end line. */
function wholeLines(plain: Buffer, whole: boolean): Buffer {
  let end = whole ? plain.length : plain.lastIndexOf(10) + 1;
  if (end >= 3 && plain.subarray(end - 3, end).toString('latin1') === '\\.\n') end -= 3;
  return plain.subarray(0, end);
}

/**
 * About `plainWanted` bytes of the entry's first rows (fewer when the table is smaller), or null when pgshift
 * cannot read the entry itself (lz4/zstd: pg_restore would render it).
 */
export function sampleRows(archive: Archive, entry: ArchiveEntry, plainWanted: number): RowSample | null {
  // A first small prefix gives the ratio, which sizes the second.
  let prefix = storedPrefix(archive, entry, Math.min(256 * 1024, Math.max(4096, plainWanted)));
  if (!prefix) return null;
  let t0 = process.hrtime.bigint();
  let plain = inflatePrefix(archive, prefix);
  if (!prefix.whole && plain.length < plainWanted && prefix.bytes.length > 0) {
    const ratio = Math.max(1, plain.length / prefix.bytes.length);
    prefix = storedPrefix(archive, entry, Math.ceil((plainWanted / ratio) * 1.1))!;
    t0 = process.hrtime.bigint();
    plain = inflatePrefix(archive, prefix);
  }
  const inflateSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const rows = wholeLines(plain, prefix.whole);
  let lines = 0;
  for (let i = rows.indexOf(10); i >= 0; i = rows.indexOf(10, i + 1)) lines++;
  return {
    rows,
    lines,
    storedBytes: prefix.bytes.length,
    plainBytes: plain.length,
    ratio: prefix.bytes.length > 0 ? plain.length / prefix.bytes.length : 1,
    inflateSeconds,
    whole: prefix.whole,
  };
}
