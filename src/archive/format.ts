// The header and table of contents of a pg_dump archive (custom format file, or a directory's toc.dat), read
// the way pg_restore reads them (pg_backup_archiver.c: ReadHead, ReadToc; pg_backup_custom.c: _ReadExtraToc),
// archive versions 1.12 (PostgreSQL 9.6) to 1.16 (PostgreSQL 17/18). pgshift needs what `pg_restore -l` does not
// print: where each table's data starts in the file (its size), how it is compressed, which pg_dump wrote it.
import { closeSync, openSync, readSync } from 'node:fs';
import { UsageError } from '../errors.js';

/** Archive versions as pg_dump encodes them: (major, minor, revision) → one number to compare. */
export const archiveVersion = (major: number, minor: number, rev = 0) => (major * 256 + minor) * 256 + rev;
const V1_7 = archiveVersion(1, 7);
const V1_12 = archiveVersion(1, 12);
const V1_14 = archiveVersion(1, 14);
const V1_15 = archiveVersion(1, 15);
const V1_16 = archiveVersion(1, 16);
/** The newest version this reader knows (what pg_dump 17 and 18 write). */
export const NEWEST_KNOWN = V1_16;

/** The oldest pg_restore major that reads an archive of this version (each reads up to its own K_VERS_MAX). */
export function minimumPgRestore(versionNumber: number): number {
  if (versionNumber >= V1_16) return 17;
  if (versionNumber >= V1_15) return 16;
  if (versionNumber >= V1_14) return 12;
  return 11;
}

export type ArchiveFormat = 'custom' | 'directory';
/** The header's format byte: 1 in a custom-format file; a directory's toc.dat says 3 (pg_dump 15 writes it so). */
const CUSTOM = 1;

export type Compression = 'none' | 'gzip' | 'lz4' | 'zstd';

/** Where a custom-format entry's data block is: at a known offset, somewhere after the TOC, or there is none. */
export type DataState = 'set' | 'not-set' | 'none';

export interface ArchiveHeader {
  /** e.g. "1.14-0" */
  version: string;
  versionNumber: number;
  format: ArchiveFormat;
  compression: Compression;
  /** When pg_dump started, in the dump machine's local time (the archive does not say which zone). */
  createdAt: string | null;
  database: string | null;
  /** The server's version the dump was taken from, and pg_dump's ("15.18 (Debian …)"). */
  serverVersion: string | null;
  pgDumpVersion: string | null;
  intSize: number;
  offSize: number;
}

export interface ArchiveEntry {
  dumpId: number;
  hadDumper: boolean;
  tableOid: number;
  oid: number;
  tag: string;
  desc: string;
  /** 1 none, 2 pre-data, 3 data, 4 post-data (pg_dump's teSection). */
  section: number;
  defn: string | null;
  copyStmt: string | null;
  namespace: string | null;
  owner: string | null;
  dependencies: number[];
  /** custom format: where its data block is; directory format: the data file's name. */
  dataState: DataState;
  dataOffset: bigint | null;
  fileName: string | null;
}

export interface ArchiveToc {
  header: ArchiveHeader;
  entries: ArchiveEntry[];
  /** Byte offset right after the TOC: custom-format data blocks follow from here. */
  dataStart: number;
}

/** The archive cannot be used as it is (damaged, truncated, unknown): refused before anything is written. */
export class ArchiveError extends UsageError {}

/** Sequential reads over a file with a large buffer: headers are many small fields. */
export class ByteReader {
  private buf = Buffer.alloc(1 << 20);
  private start = 0; // file offset of buf[0]
  private len = 0;
  private at = 0; // file offset of the next byte
  readonly fd: number;
  constructor(
    readonly path: string,
    readonly size: number,
  ) {
    this.fd = openSync(path, 'r');
  }
  close(): void {
    closeSync(this.fd);
  }
  get position(): number {
    return this.at;
  }
  seek(offset: number): void {
    this.at = offset;
  }
  /** n bytes from the current position; throws ArchiveError naming `what` at the end of the file. */
  bytes(n: number, what: string): Buffer {
    if (this.at + n > this.size)
      throw new ArchiveError(`${this.path} ends at byte ${this.size} inside ${what} (at ${this.at}, ${n} bytes needed): the file is truncated`, {
        phase: 'archive',
        hint: "download the archive again (heroku pg:backups:download, or copy it once more) and check its size against the backup's",
      });
    if (this.at < this.start || this.at + n > this.start + this.len) {
      if (n > this.buf.length) this.buf = Buffer.alloc(n);
      this.start = this.at;
      this.len = readSync(this.fd, this.buf, 0, this.buf.length, this.at);
    }
    const off = this.at - this.start;
    this.at += n;
    return this.buf.subarray(off, off + n);
  }
  byte(what: string): number {
    return this.bytes(1, what)[0]!;
  }
  /** pg_dump's integer (a sign byte, then intSize bytes little-endian), read in place: an uncompressed archive has one per row. */
  int(intSize: number, what: string): number {
    const n = 1 + intSize;
    if (this.at < this.start || this.at + n > this.start + this.len) {
      // Refills the window (or throws at the end of the file), then reads in place.
      this.bytes(n, what);
      this.at -= n;
    }
    const off = this.at - this.start;
    const b = this.buf;
    let v = 0;
    for (let i = intSize; i >= 1; i--) v = v * 256 + b[off + i]!;
    this.at += n;
    return b[off] ? -v : v;
  }
}

/** pg_dump's integers: a sign byte, then intSize bytes little-endian (WriteInt). */
export function readInt(r: ByteReader, intSize: number, what: string): number {
  return r.int(intSize, what);
}

function readStr(r: ByteReader, intSize: number, what: string): string | null {
  const n = readInt(r, intSize, what);
  if (n < 0) return null;
  if (n > r.size)
    throw new ArchiveError(`${r.path}: a ${what} of ${n} bytes at byte ${r.position} cannot be in this file: it is not a pg_dump archive or it is damaged`, {
      phase: 'archive',
    });
  return r.bytes(n, what).toString('utf8');
}

function readHeader(r: ByteReader, inDirectory: boolean): ArchiveHeader {
  const magic = r.bytes(5, 'the archive header').toString('latin1');
  if (magic !== 'PGDMP')
    throw new ArchiveError(`${r.path} is not a pg_dump archive in custom or directory format (it does not start with PGDMP)`, {
      phase: 'archive',
      hint: "pgshift reads pg_dump -Fc files (Heroku's latest.dump) and -Fd folders; a plain SQL dump is restored with psql, a tar archive (-Ft) with pg_restore",
    });
  const [major, minor, rev] = [r.byte('the version'), r.byte('the version'), r.byte('the version')];
  const versionNumber = archiveVersion(major, minor, rev);
  const version = `${major}.${minor}-${rev}`;
  if (versionNumber < V1_12)
    throw new ArchiveError(`${r.path} is a pg_dump archive of version ${version}, older than pgshift reads (1.12, pg_dump 9.6)`, {
      phase: 'archive',
      hint: 'restore it with pg_restore, or dump the database again with a current pg_dump',
    });
  if (versionNumber > NEWEST_KNOWN)
    throw new ArchiveError(`${r.path} is a pg_dump archive of version ${version}, newer than pgshift reads (up to 1.16, pg_dump 17/18)`, {
      phase: 'archive',
      hint: 'use a pgshift release that reads it, or pg_restore of the same major as the pg_dump that wrote it',
    });
  const intSize = r.byte('the header');
  const offSize = versionNumber >= V1_7 ? r.byte('the header') : intSize;
  if (intSize < 1 || intSize > 8 || offSize < 1 || offSize > 8)
    throw new ArchiveError(`${r.path}: integer sizes ${intSize}/${offSize} in the header: the archive is damaged`, { phase: 'archive' });
  const fmt = r.byte('the header');
  if (!inDirectory && fmt !== CUSTOM)
    throw new ArchiveError(`${r.path}: archive format ${fmt} in the header, where a custom-format file has 1: the archive is damaged`, { phase: 'archive' });
  const format: ArchiveFormat = inDirectory ? 'directory' : 'custom';
  let compression: Compression;
  if (versionNumber >= V1_15) {
    const alg = r.byte('the header');
    compression = (['none', 'gzip', 'lz4', 'zstd'] as const)[alg] ?? 'none';
  } else {
    compression = readInt(r, intSize, 'the header') === 0 ? 'none' : 'gzip';
  }
  const tm = Array.from({ length: 7 }, () => readInt(r, intSize, 'the creation time'));
  const [sec, min, hour, mday, mon, year] = tm as [number, number, number, number, number, number];
  const two = (n: number) => String(n).padStart(2, '0');
  const createdAt = year > 0 ? `${1900 + year}-${two(mon + 1)}-${two(mday)} ${two(hour)}:${two(min)}:${two(sec)}` : null;
  const database = readStr(r, intSize, 'the database name');
  const serverVersion = readStr(r, intSize, 'the server version');
  const pgDumpVersion = readStr(r, intSize, "pg_dump's version");
  return { version, versionNumber, format, compression, createdAt, database, serverVersion, pgDumpVersion, intSize, offSize };
}

function readEntry(r: ByteReader, h: ArchiveHeader): ArchiveEntry {
  const int = (what: string) => readInt(r, h.intSize, what);
  const str = (what: string) => readStr(r, h.intSize, what);
  const dumpId = int('a TOC entry');
  const hadDumper = int('a TOC entry') !== 0;
  const tableOid = Number(str('a TOC entry') ?? 0);
  const oid = Number(str('a TOC entry') ?? 0);
  const tag = str('a TOC entry') ?? '';
  const desc = str('a TOC entry') ?? '';
  const section = int('a TOC entry');
  const defn = str('a TOC entry');
  str('a TOC entry'); // drop statement
  const copyStmt = str('a TOC entry');
  const namespace = str('a TOC entry');
  str('a TOC entry'); // tablespace
  if (h.versionNumber >= V1_14) str('a TOC entry'); // table access method
  if (h.versionNumber >= V1_16) int('a TOC entry'); // relkind
  const owner = str('a TOC entry');
  str('a TOC entry'); // "false": WITH OIDS, gone since PostgreSQL 12
  const dependencies: number[] = [];
  for (let d = str('a TOC entry'); d !== null; d = str('a TOC entry')) dependencies.push(Number(d));
  let dataState: DataState = 'none';
  let dataOffset: bigint | null = null;
  let fileName: string | null = null;
  if (h.format === 'custom') {
    const flag = r.byte('a TOC entry');
    const b = r.bytes(h.offSize, 'a TOC entry');
    let off = 0n;
    for (let i = h.offSize - 1; i >= 0; i--) off = off * 256n + BigInt(b[i]!);
    dataState = flag === 2 ? 'set' : flag === 1 ? 'not-set' : 'none';
    if (dataState === 'set') dataOffset = off;
  } else if (h.format === 'directory') {
    fileName = str('a TOC entry');
    if (fileName) dataState = 'set';
  }
  return { dumpId, hadDumper, tableOid, oid, tag, desc, section, defn, copyStmt, namespace, owner, dependencies, dataState, dataOffset, fileName };
}

/** Reads the header and TOC of the archive file at `path` (custom format, or a directory's toc.dat). */
export function readToc(path: string, size: number, inDirectory = false): ArchiveToc {
  const r = new ByteReader(path, size);
  try {
    const header = readHeader(r, inDirectory);
    const count = readInt(r, header.intSize, 'the TOC');
    if (count < 0 || count > size) throw new ArchiveError(`${path}: ${count} TOC entries cannot be in this file: the archive is damaged`, { phase: 'archive' });
    const entries: ArchiveEntry[] = [];
    for (let i = 0; i < count; i++) entries.push(readEntry(r, header));
    return { header, entries, dataStart: r.position };
  } finally {
    r.close();
  }
}
