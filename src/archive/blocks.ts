// The data of a custom-format archive: one block per TOC entry with data (a table's COPY rows, a sequence's
// value, large objects), each a type byte, the entry's dump id, then length-prefixed chunks ended by a zero
// length (pg_backup_custom.c). Walking the chunk headers proves every block is whole — a truncated download
// ends inside one — and gives each entry's size in the file without decompressing anything.
import { ArchiveError, ByteReader, readInt, type ArchiveEntry, type ArchiveToc } from './format.js';

const BLK_DATA = 1;
const BLK_BLOBS = 3;

export interface BlockInfo {
  dumpId: number;
  /** Offset of the block in the file and its length (header and chunks included). */
  offset: number;
  bytes: number;
  /** Large-object blocks: how many objects it holds. */
  largeObjects: number;
}

/** Skips one run of chunks (data of one table or one large object) up to its zero-length end. */
function skipChunks(r: ByteReader, intSize: number, what: string): void {
  for (;;) {
    const n = readInt(r, intSize, what);
    if (n === 0) return;
    if (n < 0 || r.position + n > r.size)
      throw new ArchiveError(
        `${r.path}: the data of ${what} runs past the end of the file (chunk of ${n} bytes at byte ${r.position}, file of ${r.size}): the file is truncated`,
        { phase: 'archive', object: what, hint: TRUNCATED_HINT },
      );
    r.seek(r.position + n);
  }
}

function walkBlock(r: ByteReader, toc: ArchiveToc, byId: Map<number, ArchiveEntry>, expect?: number): BlockInfo {
  const { intSize } = toc.header;
  const offset = r.position;
  const type = r.byte('a data block');
  const dumpId = readInt(r, intSize, 'a data block');
  const entry = byId.get(dumpId);
  const what = entry ? describeEntry(entry) : `entry ${dumpId}`;
  if ((type !== BLK_DATA && type !== BLK_BLOBS) || !entry || (expect !== undefined && dumpId !== expect)) {
    throw new ArchiveError(
      `${r.path}: no data block of ${expect !== undefined ? describeEntry(byId.get(expect)!) : 'the next entry'} at byte ${offset} (found type ${type}, id ${dumpId}): the archive is damaged`,
      { phase: 'archive' },
    );
  }
  let largeObjects = 0;
  if (type === BLK_BLOBS) {
    for (let oid = readInt(r, intSize, what); oid !== 0; oid = readInt(r, intSize, what)) {
      largeObjects++;
      skipChunks(r, intSize, `large object ${oid}`);
    }
  } else {
    skipChunks(r, intSize, what);
  }
  return { dumpId, offset, bytes: r.position - offset, largeObjects };
}

/** A block's header (type, dump id) checked at its offset; its size is up to where the next block begins. */
function blockHead(r: ByteReader, toc: ArchiveToc, byId: Map<number, ArchiveEntry>, expect: number, next: number): BlockInfo {
  const offset = r.position;
  const type = r.byte('a data block');
  const dumpId = readInt(r, toc.header.intSize, 'a data block');
  if (type !== BLK_DATA || dumpId !== expect || next <= r.position)
    throw new ArchiveError(
      `${r.path}: no data block of ${describeEntry(byId.get(expect)!)} at byte ${offset} (found type ${type}, id ${dumpId}): the archive is damaged`,
      { phase: 'archive' },
    );
  return { dumpId, offset, bytes: next - offset, largeObjects: 0 };
}

const NOUNS: Record<string, string> = { 'TABLE DATA': 'table', 'SEQUENCE SET': 'sequence', 'MATERIALIZED VIEW DATA': 'materialized view' };

/** "table public.orders", "large objects" — how messages name an entry. */
export function describeEntry(e: ArchiveEntry): string {
  if (e.desc === 'BLOBS') return 'the large objects';
  return `${NOUNS[e.desc] ?? e.desc.toLowerCase()} ${e.namespace ? `${e.namespace}.` : ''}${e.tag}`;
}

/** What to do about an archive that is cut short: it was never whole here. */
export const TRUNCATED_HINT =
  "download the archive again (heroku pg:backups:download, or copy it once more) and check its size against the backup's; nothing was written to the target";

/**
 * Every data block of a custom-format archive, walked header by header: at its recorded offset when pg_dump
 * could seek (a file), else in order after the TOC (pg_dump wrote to a pipe). Throws ArchiveError naming the
 * entry whose data is cut off or missing.
 */
export function walkBlocks(path: string, size: number, toc: ArchiveToc): BlockInfo[] {
  const r = new ByteReader(path, size);
  const byId = new Map(toc.entries.map((e) => [e.dumpId, e]));
  const withData = toc.entries.filter((e) => e.dataState !== 'none' && e.hadDumper);
  try {
    const out: BlockInfo[] = [];
    if (withData.every((e) => e.dataState === 'set')) {
      // pg_dump writes the blocks one after the other: each ends where the next begins, so only the last one
      // (and the large objects', to count them) is walked chunk by chunk — a file cut short is cut in the last
      // block that starts inside it, which the walk names. The others' headers are checked at their offsets;
      // their chunks are checked as they are read (rows.ts: a chunk past the block's end is refused).
      const sorted = [...withData].sort((a, b) => Number(a.dataOffset! - b.dataOffset!));
      for (const [i, e] of sorted.entries()) {
        if (e.dataOffset! >= BigInt(size))
          throw new ArchiveError(
            `${path}: the data of ${describeEntry(e)} should start at byte ${e.dataOffset}, past the end of the file (${size} bytes): the file is truncated`,
            { phase: 'archive', object: describeEntry(e), hint: TRUNCATED_HINT },
          );
        r.seek(Number(e.dataOffset));
        const next = sorted[i + 1]?.dataOffset;
        out.push(
          next === undefined || next === null || next >= BigInt(size) || e.desc === 'BLOBS'
            ? walkBlock(r, toc, byId, e.dumpId)
            : blockHead(r, toc, byId, e.dumpId, Number(next)),
        );
      }
    } else {
      r.seek(toc.dataStart);
      while (r.position < size) out.push(walkBlock(r, toc, byId));
      const seen = new Set(out.map((b) => b.dumpId));
      const missing = withData.filter((e) => !seen.has(e.dumpId));
      if (missing.length)
        throw new ArchiveError(
          `${path} ends before the data of ${missing.slice(0, 3).map(describeEntry).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}: the file is truncated`,
          { phase: 'archive', hint: TRUNCATED_HINT },
        );
    }
    return out;
  } finally {
    r.close();
  }
}
