// `pgshift inventory --source FILE`: what a pg_dump archive holds, whether it is whole, and which pg_restore
// reads it — the "is this backup usable" question before a restore window is planned around it.
import { formatBytes, formatCount, renderTable } from '../format.js';
import { minimumPgRestore } from './format.js';
import type { Archive } from './index.js';

export interface ArchiveInventory {
  archive: {
    path: string;
    format: string;
    version: string;
    compression: string;
    createdAt: string | null;
    database: string | null;
    serverVersion: string | null;
    pgDumpVersion: string | null;
    /** Every data block was read to its end (custom format), or every data file is present (directory). */
    whole: true;
    minimumPgRestore: number;
    dataBytes: number;
  };
  tables: Array<{ schema: string; name: string; bytes: number }>;
  sequences: number;
  largeObjects: number;
  objects: Record<string, number>;
}

export function archiveInventory(a: Archive): ArchiveInventory {
  return {
    archive: {
      path: a.path,
      format: a.header.format,
      version: a.header.version,
      compression: a.header.compression,
      createdAt: a.header.createdAt,
      database: a.header.database,
      serverVersion: a.header.serverVersion,
      pgDumpVersion: a.header.pgDumpVersion,
      whole: true,
      minimumPgRestore: minimumPgRestore(a.header.versionNumber),
      dataBytes: a.dataBytes,
    },
    tables: [...a.tables].sort((x, y) => y.bytes - x.bytes).map(({ schema, name, bytes }) => ({ schema, name, bytes })),
    sequences: a.sequences,
    largeObjects: a.largeObjects,
    objects: a.objects,
  };
}

// The entries that are not schema objects a reader counts (pg_dump's session settings and the database itself).
const SETTINGS = new Set([
  'ENCODING',
  'STDSTRINGS',
  'SEARCHPATH',
  'DATABASE',
  'DATABASE PROPERTIES',
  'TABLE DATA',
  'SEQUENCE SET',
  'BLOBS',
  'BLOB',
  'LARGE OBJECT',
]);

export function describeArchive(inv: ArchiveInventory): string {
  const a = inv.archive;
  const out: string[] = [];
  out.push(
    `Archive  ${a.path} (${a.format} format, ${a.compression === 'none' ? 'not compressed' : `${a.compression}-compressed`}, ${formatBytes(a.dataBytes)} of data)`,
  );
  out.push(
    `         pg_dump ${a.pgDumpVersion ?? '?'} of a PostgreSQL ${a.serverVersion ?? '?'} server, database ${a.database ?? '?'}, taken ${a.createdAt ?? '?'} (the dump machine's local time)`,
  );
  out.push(`         archive version ${a.version}: pg_restore ${a.minimumPgRestore} or newer reads it`);
  out.push(`         whole: ${a.format === 'custom' ? 'every data block reads to its end' : 'every data file is present'}`);
  out.push('');
  const kinds = Object.entries(inv.objects)
    .filter(([k]) => !SETTINGS.has(k))
    .sort((x, y) => y[1] - x[1])
    .map(([k, n]) => `${k.toLowerCase()} ${formatCount(n)}`);
  out.push(`Objects: ${kinds.join(', ') || 'none'}`);
  out.push(`Data: ${formatCount(inv.tables.length)} tables, ${formatCount(inv.sequences)} sequence values, ${formatCount(inv.largeObjects)} large objects`);
  if (inv.tables.length) {
    out.push(
      renderTable(
        ['table', 'data in the archive'],
        inv.tables.map((t) => [`${t.schema}.${t.name}`, formatBytes(t.bytes)]),
      ),
    );
  }
  return out.join('\n');
}
