// Cutting tables into chunks: whole tables when small; big ones by integer primary-key ranges, else ctid ranges.
import type { Client } from '../db/connect.js';
import { quoteIdent as quoteCol } from '../db/ident.js';
import type { TableInfo } from '../catalog/tables.js';
import type { ChunkRow } from '../state/store.js';

export type Chunk = Omit<ChunkRow, 'done'>;

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/** The integer single-column primary key, if the table has one. */
export function integerKey(t: TableInfo): string | null {
  if (!t.primaryKey || t.primaryKey.length !== 1) return null;
  const col = t.columns.find((c) => c.name === t.primaryKey![0]);
  return col && INTEGER_TYPES.has(col.type) ? col.name : null;
}

/** Split [min, max] into n contiguous integer ranges [lo, hi). The last one is open-ended. */
export function keyRanges(min: bigint, max: bigint, n: number): { lo: string | null; hi: string | null }[] {
  const span = max - min + 1n;
  const parts = BigInt(Math.max(1, Math.min(n, Number(span > 1_000_000_000n ? 1_000_000_000n : span))));
  const step = (span + parts - 1n) / parts;
  const out: { lo: string | null; hi: string | null }[] = [];
  for (let i = 0n; i < parts; i++) {
    const lo = min + i * step;
    if (lo > max) break;
    out.push({ lo: i === 0n ? null : lo.toString(), hi: null });
  }
  for (let i = 0; i < out.length - 1; i++) out[i]!.hi = out[i + 1]!.lo;
  return out;
}

/** Plan all chunks, largest tables first. Uses the snapshot connection for min/max so ranges match the data. */
export async function planChunks(snapshotClient: Client, tables: TableInfo[], splitBytes: number): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  const sorted = [...tables].sort((a, b) => b.tableBytes + b.toastBytes - (a.tableBytes + a.toastBytes));
  for (const t of sorted) {
    const bytes = t.tableBytes + t.toastBytes;
    const n = splitBytes > 0 ? Math.ceil(bytes / splitBytes) : 1;
    const base = { schema: t.schema, table: t.name };
    if (n <= 1) {
      chunks.push({ ...base, chunk: 0, chunks: 1, method: 'whole', lo: null, hi: null, estBytes: bytes });
      continue;
    }
    const key = integerKey(t);
    let ranges: { lo: string | null; hi: string | null }[];
    let method: Chunk['method'];
    if (key) {
      const { rows } = await snapshotClient.query(`SELECT min(${quoteCol(key)})::text AS lo, max(${quoteCol(key)})::text AS hi FROM ONLY ${t.qualified}`);
      if (rows[0].lo === null) {
        chunks.push({ ...base, chunk: 0, chunks: 1, method: 'whole', lo: null, hi: null, estBytes: bytes });
        continue;
      }
      ranges = keyRanges(BigInt(rows[0].lo), BigInt(rows[0].hi), n);
      method = 'pk';
    } else {
      // Page ranges of the heap; the last range is open-ended so pages added later are still read.
      const { rows } = await snapshotClient.query(`SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int8 AS pages`, [t.oid]);
      ranges = keyRanges(0n, BigInt(Math.max(0, Number(rows[0].pages) - 1)), n);
      method = 'ctid';
    }
    ranges.forEach((r, i) => chunks.push({ ...base, chunk: i, chunks: ranges.length, method, lo: r.lo, hi: r.hi, estBytes: Math.round(bytes / ranges.length) }));
  }
  return chunks;
}
