// One chunk: COPY TO STDOUT on the source relayed into COPY FROM STDIN on the target at the protocol level
// (relay.ts: rows never decoded, backpressure kept). The chunk's rows and its "done" mark commit in one target
// transaction (exactly once).
import type { TableInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { runPipelined } from '../db/pipelined.js';
import { chunkDone } from '../state/store.js';
import type { Chunk } from './plan.js';
import { relayCopy, type RelayResult } from './relay.js';
import { relayCopyBatch } from './relay-batch.js';

export type ChunkResult = RelayResult;

/**
 * The COPY format on the wire: binary where every column allows it (the default: least CPU on both servers), or
 * text for every table (fewer bytes for narrow rows of small integers and padded text: over a link slower than
 * the target writes, bytes are the cost).
 */
export type CopyWireFormat = 'binary' | 'text';
export const COPY_WIRE_FORMATS: readonly CopyWireFormat[] = ['binary', 'text'];

export interface ChunkOptions {
  /** 'text': every table as text (default binary where safe, see copyFormat). */
  format?: CopyWireFormat;
  /** TRUNCATE + COPY FREEZE for whole-table chunks (full copy into tables pgshift created). */
  truncateAndFreeze: boolean;
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

/** Column list for COPY: generated columns are never written (the target recomputes them). */
export function copyColumns(t: TableInfo): string[] {
  return t.columns.filter((c) => !c.generated).map((c) => c.name);
}

/** Binary COPY only when every column's type carries no server-specific OIDs (see catalog binarySafety). */
export function copyFormat(t: TableInfo, wanted: CopyWireFormat = 'binary'): 'binary' | 'text' {
  if (wanted === 'text') return 'text';
  return t.columns.filter((c) => !c.generated).every((c) => c.binarySafe) ? 'binary' : 'text';
}

// Chunk bounds are numbers pgshift computed itself; COPY takes no bind parameters, so they are checked here.
function int(v: string): string {
  if (!/^-?\d+$/.test(v)) throw new Error(`internal: chunk bound is not an integer: ${v}`);
  return v;
}

/** "(a, b)" for COPY; empty for a table without columns (legal in PostgreSQL, and COPY t () is not). */
function columnList(t: TableInfo): string {
  const cols = copyColumns(t);
  return cols.length ? ` (${cols.map(quoteIdent).join(', ')})` : '';
}

export function sourceSql(t: TableInfo, c: Chunk, keyColumn: string | null, wanted?: CopyWireFormat): string {
  const cols = copyColumns(t).map(quoteIdent).join(', ') || '*';
  const fmt = copyFormat(t, wanted);
  if (c.method === 'whole') return `COPY ${t.qualified}${columnList(t)} TO STDOUT (FORMAT ${fmt})`;
  const conds: string[] = [];
  if (c.method === 'pk') {
    const k = quoteIdent(keyColumn!);
    if (c.lo !== null) conds.push(`${k} >= ${int(c.lo)}`);
    if (c.hi !== null) conds.push(`${k} < ${int(c.hi)}`);
  } else {
    if (c.lo !== null) conds.push(`ctid >= '(${int(c.lo)},0)'::tid`);
    if (c.hi !== null) conds.push(`ctid < '(${int(c.hi)},0)'::tid`);
  }
  const where = conds.length ? ` WHERE ${conds.join(' AND ')}` : '';
  return `COPY (SELECT ${cols} FROM ONLY ${t.qualified}${where}) TO STDOUT (FORMAT ${fmt})`;
}

/**
 * The target's side of a chunk. TRUNCATE makes COPY FREEZE legal (rows written pre-frozen: no later
 * hint-bit/vacuum rewrite) and makes a redone whole-table chunk idempotent. BEGIN and TRUNCATE go in the COPY's
 * own query string, and the done mark with COMMIT: two round trips per chunk on the target.
 */
function targetSql(t: TableInfo, c: Chunk, truncateAndFreeze: boolean, wanted?: CopyWireFormat): string {
  const freeze = truncateAndFreeze && c.method === 'whole';
  return `BEGIN; ${freeze ? `TRUNCATE ONLY ${t.qualified}; ` : ''}COPY ${t.qualified}${columnList(t)} FROM STDIN (FORMAT ${copyFormat(t, wanted)}${freeze ? ', FREEZE' : ''})`;
}

const commitChunk = (tgt: Client, c: Chunk, r: RelayResult) => runPipelined(tgt, [chunkDone(c, r.rows, r.bytes), { text: 'COMMIT' }]);

export async function copyChunk(src: Client, tgt: Client, t: TableInfo, c: Chunk, keyColumn: string | null, opts: ChunkOptions): Promise<ChunkResult> {
  try {
    const r = await relayCopy(src, tgt, sourceSql(t, c, keyColumn, opts.format), targetSql(t, c, opts.truncateAndFreeze, opts.format), {
      signal: opts.signal,
      onBytes: opts.onBytes,
    });
    await commitChunk(tgt, c, r);
    return r;
  } catch (err) {
    await tgt.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A whole-table chunk small enough to share a source round trip with others (see copyChunkBatch). */
export const BATCH_CHUNK_BYTES = 8 * 1024 ** 2;
/** Chunks per batch: each holds its table's lock in the reading transaction until the next snapshot import. */
export const BATCH_MAX_CHUNKS = 50;
/** Estimated bytes per batch: the batch is one unit of work for one job, so it stays small against big chunks. */
export const BATCH_MAX_BYTES = 32 * 1024 ** 2;

export const batchable = (c: Chunk) => c.method === 'whole' && c.estBytes <= BATCH_CHUNK_BYTES;

/**
 * Several small whole-table chunks in ONE source round trip (`COPY a TO STDOUT; COPY b TO STDOUT; …`), each
 * into its own target transaction with its done mark, committed as soon as its rows are in (exactly once per
 * chunk, as copyChunk). `onChunk` runs after each commit. On a failure the chunks committed so far stay done;
 * the error carries the index of the chunk that failed (`batchIndex`).
 */
export async function copyChunkBatch(
  src: Client,
  tgt: Client,
  items: { t: TableInfo; c: Chunk }[],
  opts: ChunkOptions & { onChunk: (index: number, r: ChunkResult) => void },
): Promise<void> {
  let current = 0;
  try {
    await relayCopyBatch(
      src,
      tgt,
      items.map(({ t, c }) => ({ sourceSql: sourceSql(t, c, null, opts.format), targetSql: targetSql(t, c, opts.truncateAndFreeze, opts.format) })),
      async (i, r) => {
        await commitChunk(tgt, items[i]!.c, r);
        opts.onChunk(i, r);
        current = i + 1;
      },
      { signal: opts.signal, onBytes: opts.onBytes },
    );
  } catch (err) {
    await tgt.query('ROLLBACK').catch(() => undefined);
    throw Object.assign(err instanceof Error ? err : new Error(String(err)), { batchIndex: current });
  }
}
