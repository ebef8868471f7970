// A pg_dump archive given as --source: what it holds (tables and their sizes in the file, sequences, large
// objects, which pg_dump wrote it from which server) and whether it is whole, read before anything is written.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { installHint, selectPgTools, type PgTools } from '../schema/pgdump.js';
import { ArchiveError, minimumPgRestore, readToc, type ArchiveEntry, type ArchiveHeader } from './format.js';
import { describeEntry, walkBlocks } from './blocks.js';

export { ArchiveError, describeEntry };
export type { ArchiveEntry, ArchiveHeader };

export interface ArchiveTable {
  dumpId: number;
  schema: string;
  name: string;
  /** Bytes of its data in the archive (compressed as stored). */
  bytes: number;
}

export interface Archive {
  path: string;
  header: ArchiveHeader;
  entries: ArchiveEntry[];
  tables: ArchiveTable[];
  sequences: number;
  largeObjects: number;
  /** Bytes of all data in the archive, as stored. */
  dataBytes: number;
  /** Entries by type ("TABLE", "INDEX", …) and how many. */
  objects: Record<string, number>;
  /** Custom format: where each entry's data block is (found by walking them all). */
  blocks: Map<number, { offset: number; bytes: number }>;
  /** The encoding the archive's text is in (its ENCODING entry), e.g. UTF8. */
  encoding: string | null;
}

/** A --source that names an archive (a file or directory on disk) rather than a database URL. */
export function isArchivePath(source: string): boolean {
  if (/^postgres(ql)?:\/\//i.test(source)) return false;
  return existsSync(source);
}

/** Reads and checks the archive at `path`: ArchiveError (exit 2) when it is not whole or not readable. */
export function openArchive(path: string): Archive {
  const full = resolve(path);
  const st = statSync(full);
  const tocPath = st.isDirectory() ? join(full, 'toc.dat') : full;
  if (st.isDirectory() && !existsSync(tocPath))
    throw new ArchiveError(`${full} is a folder without toc.dat: not a pg_dump directory-format archive`, {
      phase: 'archive',
      hint: 'give the folder pg_dump -Fd wrote, or a pg_dump -Fc file',
    });
  const toc = readToc(tocPath, statSync(tocPath).size, st.isDirectory());
  const sizes = new Map<number, number>();
  const blocks = new Map<number, { offset: number; bytes: number }>();
  let largeObjects = 0;
  if (toc.header.format === 'custom') {
    for (const b of walkBlocks(tocPath, statSync(tocPath).size, toc)) {
      sizes.set(b.dumpId, b.bytes);
      blocks.set(b.dumpId, { offset: b.offset, bytes: b.bytes });
      largeObjects += b.largeObjects;
    }
  } else {
    const files = new Set(readdirSync(full));
    for (const e of toc.entries) {
      if (!e.fileName) continue;
      // pg_dump -Fd names data files <id>.dat, plus the compression's suffix.
      const found = [e.fileName, `${e.fileName}.gz`, `${e.fileName}.lz4`, `${e.fileName}.zst`].find((f) => files.has(f));
      if (!found)
        throw new ArchiveError(`${full}: the data file ${e.fileName} of ${describeEntry(e)} is missing: the archive is incomplete`, {
          phase: 'archive',
          object: describeEntry(e),
        });
      sizes.set(e.dumpId, statSync(join(full, found)).size);
    }
    largeObjects = [...files].filter((f) => /^blob_\d+\.dat/.test(f)).length;
  }
  const tables = toc.entries
    .filter((e) => e.desc === 'TABLE DATA')
    .map((e) => ({ dumpId: e.dumpId, schema: e.namespace ?? '', name: e.tag, bytes: sizes.get(e.dumpId) ?? 0 }));
  const objects: Record<string, number> = {};
  for (const e of toc.entries) objects[e.desc] = (objects[e.desc] ?? 0) + 1;
  return {
    path: full,
    header: toc.header,
    entries: toc.entries,
    tables,
    sequences: objects['SEQUENCE SET'] ?? 0,
    largeObjects,
    dataBytes: [...sizes.values()].reduce((a, b) => a + b, 0),
    objects,
    blocks,
    encoding: /client_encoding = '([A-Za-z0-9_]+)'/.exec(toc.entries.find((e) => e.desc === 'ENCODING')?.defn ?? '')?.[1] ?? null,
  };
}

/** The pg_restore that reads this archive (each reads archive versions up to its own), or a usage error naming what to install. */
export function pgRestoreFor(a: Archive, pgBin?: string): PgTools {
  const need = minimumPgRestore(a.header.versionNumber);
  const { tools, found } = selectPgTools(pgBin);
  if (tools && tools.major >= need) return tools;
  const have = found.length ? `found only ${found.map((t) => `${t.version} (${t.dir})`).join(', ')}` : 'found no pg_restore';
  throw new UsageError(
    `${a.path} was written by pg_dump ${a.header.pgDumpVersion ?? '?'} (archive version ${a.header.version}): pg_restore ${need} or newer reads it; ${have}; nothing was changed`,
    { phase: 'preflight', hint: installHint(need) },
  );
}

/** A pg_restore -L list holding one entry, written into `dir`; pg_restore reads the dump id at the line's start. */
export function writeEntryList(dir: string, name: string, e: ArchiveEntry): string {
  const list = join(dir, name);
  writeFileSync(list, `${e.dumpId}; ${e.tableOid} ${e.oid} ${e.desc} ${e.namespace ?? '-'} ${e.tag} ${e.owner ?? '-'}\n`, { mode: 0o600 });
  return list;
}
