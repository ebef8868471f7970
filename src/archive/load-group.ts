// Several tables' rows read from the archive (rows.ts) into the target in ONE transaction and two round trips, as
// the live copy groups small tables (copy/pipeline.ts copyChunkBatch): one query `BEGIN; SET LOCAL
// client_encoding …; TRUNCATE ONLY a; COPY a … FROM stdin WITH (FREEZE); TRUNCATE ONLY b; COPY b …` whose COPYs
// are fed one after the other as the server asks for each, then the tables' "done" marks pipelined with COMMIT.
// A 500-table archive paid five round trips per table (BEGIN, TRUNCATE, COPY, mark, COMMIT); each one's socket
// write and the server's wake-up cost the client more CPU than the rows themselves. The transaction keeps a
// table either loaded and marked or empty and unmarked — now a few small tables at once — so a resume reloads
// exactly what is missing.
import { once } from 'node:events';
import type { Client } from '../db/connect.js';
import { runPipelined } from '../db/pipelined.js';
import { PgshiftError } from '../errors.js';
import * as state from '../state/store.js';
import { describeEntry } from './blocks.js';
import type { ArchiveEntry } from './format.js';
import type { RowSource } from './rows.js';
import type { TableLoad } from './table-data.js';

export interface GroupItem {
  entry: ArchiveEntry;
  /** Its rows as the archive stores them (opened only when the server asks for them). */
  rows: () => RowSource;
  /** The table as the server names it, when its rows may be written frozen (table-data.ts freezableTables). */
  freeze?: string;
}

/**
 * A table small enough (its bytes in the archive) to share a transaction and its round trips with others: below
 * this its round trips, not its rows, are what it costs. Kept small so a group commits within a fraction of a
 * second: its tables' index builds and foreign keys wait for that commit.
 */
export const GROUP_TABLE_BYTES = 1024 ** 2;
/** Tables per group: each holds its locks until the group commits. */
export const GROUP_MAX_TABLES = 50;
/** Bytes per group: one unit of work for one session, so it stays small against the big tables. */
export const GROUP_MAX_BYTES = 8 * 1024 ** 2;

const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);

/** The parts of pg's Connection used here: pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts). */
interface PgConnection {
  stream: NodeJS.WritableStream & { cork(): void; uncork(): void; writableNeedDrain: boolean };
  query(text: string): void;
  sendCopyFail(message: string): void;
}

/** One simple query with several COPY … FROM stdin: each fed from its own source when the server asks for it. */
class MultiCopyIn {
  readonly rows: number[] = [];
  readonly bytes: number[] = [];
  private index = -1;
  private failed = false;
  private sourceError: unknown;
  private current?: RowSource;
  private resolve!: () => void;
  private reject!: (e: unknown) => void;
  readonly done = new Promise<void>((res, rej) => ((this.resolve = res), (this.reject = rej)));

  constructor(
    private readonly text: string,
    private readonly sources: Array<() => RowSource>,
  ) {}

  submit(connection: PgConnection): void {
    connection.query(this.text);
  }

  /** pg replaces this when query_timeout is set; it must exist. */
  callback(): void {}
  handleEmptyQuery(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)/.exec(msg.text ?? '');
    if (m && this.index >= 0) this.rows[this.index] = Number(m[1]);
  }

  handleCopyInResponse(connection: PgConnection): void {
    this.index++;
    const open = this.sources[this.index];
    if (!open) {
      connection.sendCopyFail('pgshift: more COPY statements than tables');
      return;
    }
    void this.feed(connection, open(), this.index);
  }

  /** The rows as CopyData messages (header and piece in one corked write), waiting for the socket to drain. */
  private async feed(connection: PgConnection, rows: RowSource, i: number): Promise<void> {
    this.current = rows;
    this.bytes[i] = 0;
    const out = connection.stream;
    // The piece's slice goes back to the reader's pool once the socket has it (the write's callback).
    const written = (piece: Buffer) => (err?: Error | null) => {
      if (!err) rows.written(piece);
    };
    try {
      for await (const piece of rows.pieces) {
        if (this.failed) return;
        const head = Buffer.allocUnsafe(5);
        head[0] = 0x64;
        head.writeUInt32BE(piece.length + 4, 1);
        out.cork();
        out.write(head);
        out.write(piece, written(piece));
        out.uncork();
        this.bytes[i]! += piece.length;
        if (out.writableNeedDrain) await once(out, 'drain');
      }
      if (!this.failed) out.write(COPY_DONE);
    } catch (err) {
      if (this.failed) return;
      // The server answers CopyFail with an error, which ends the query; the source's error is the one reported.
      this.sourceError = err;
      connection.sendCopyFail(err instanceof Error ? err.message : String(err));
    }
  }

  handleError(err: unknown): void {
    this.failed = true;
    this.current?.close();
    this.reject(this.sourceError ?? err);
  }

  handleReadyForQuery(): void {
    if (!this.failed) this.resolve();
  }
}

/**
 * Loads `items` (TABLE DATA entries read by pgshift itself) in one transaction with their "done" marks, the
 * client encoding set to the archive's. Each COPY gets the archive's bytes as they are, pg_dump's `\.` end line
 * included (the server ends the data there); row counts are the server's (COPY n). A table in `freeze` is
 * emptied in the same transaction (TRUNCATE ONLY: it is empty already) so its rows are written frozen (COPY …
 * WITH (FREEZE)): the index builds and ANALYZE that read them next find them committed without looking each
 * transaction up or writing every page again to set hint bits. pg_restore writes them unfrozen.
 */
export async function loadTableGroup(client: Client, items: GroupItem[], encoding: string | null): Promise<TableLoad[]> {
  const parts = ['BEGIN'];
  // The encoding name comes from the archive but only as [A-Za-z0-9_]+ (index.ts): safe inside the quotes.
  if (encoding && /^\w+$/.test(encoding)) parts.push(`SET LOCAL client_encoding = '${encoding}'`);
  for (const { entry, freeze } of items) {
    const copy = (entry.copyStmt ?? '').trim().replace(/;$/, '');
    if (!/^COPY .+ FROM stdin$/s.test(copy))
      throw new PgshiftError(`data: the archive's COPY statement of ${describeEntry(entry)} is not one pgshift knows: ${copy.slice(0, 80)}`, {
        phase: 'data',
        object: describeEntry(entry),
      });
    // `freeze` is the server's own rendering of the table's name (format('%I.%I')), not the archive's text.
    if (freeze) parts.push(`TRUNCATE ONLY ${freeze}`, `${copy} WITH (FREEZE)`);
    else parts.push(copy);
  }
  const q = new MultiCopyIn(
    parts.join(';\n'),
    items.map((it) => it.rows),
  );
  try {
    void client.query(q as never);
    await q.done;
    if (q.rows.length !== items.length)
      throw new PgshiftError(
        `data: the target ran ${q.rows.length} of the ${items.length} COPY statements of ${describeEntry(items[0]!.entry)} and the tables after it`,
        {
          phase: 'data',
        },
      );
    await runPipelined(client, [
      state.tocEntriesDone(
        'data',
        items.map((it) => it.entry.dumpId),
      ),
      { text: 'COMMIT' },
    ]);
    return items.map((_, i) => ({ rows: q.rows[i]!, bytes: q.bytes[i] ?? 0 }));
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * The next unit of work from `queue` (largest first): one table, or — when it is small — it and the small
 * tables after it, up to GROUP_MAX_TABLES / GROUP_MAX_BYTES and a fair share of what is left for `jobs` sessions.
 */
export function takeGroup<T extends { bytes: number }>(queue: T[], jobs: number, groupable: (t: T) => boolean): T[] {
  const first = queue.shift();
  if (!first) return [];
  const group = [first];
  if (!groupable(first) || first.bytes > GROUP_TABLE_BYTES) return group;
  const max = Math.min(GROUP_MAX_TABLES, Math.ceil((queue.length + 1) / Math.max(1, jobs)));
  let bytes = first.bytes;
  while (group.length < max && queue.length && groupable(queue[0]!) && queue[0]!.bytes <= GROUP_TABLE_BYTES && bytes + queue[0]!.bytes <= GROUP_MAX_BYTES) {
    bytes += queue[0]!.bytes;
    group.push(queue.shift()!);
  }
  return group;
}
