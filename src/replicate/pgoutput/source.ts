// pgoutput as a ChangeSource: one ReplicationStream per events() call (each restart begins at the position
// the applier read from the target), plus a plain connection for the source's current WAL position.
import type { ConnectionSpec } from '../../config.js';
import { connect, type Client } from '../../db/connect.js';
import type { ChangeSource, CurrentColumn, Position, SourceEvent, TableId } from '../change.js';
import { parseLsn } from './lsn.js';
import { ReplicationStream } from './stream.js';

export class PgoutputSource implements ChangeSource {
  private stream?: ReplicationStream;
  private ctl?: Client;

  /** Reads the source's catalog for Relation messages (its own connection: ctl serves the lag checks meanwhile). */
  private catalog?: Client;

  constructor(
    private readonly spec: ConnectionSpec,
    private readonly slot: string,
    private readonly publication: string,
    private opts: { applyDdl?: boolean; streaming?: boolean } = {},
  ) {}

  events(from: Position, signal: AbortSignal): AsyncIterable<SourceEvent> {
    return {
      [Symbol.asyncIterator]: () => {
        const stream = new ReplicationStream(this.spec, {
          slot: this.slot,
          publication: this.publication,
          start: from,
          streaming: this.opts.streaming !== false,
        });
        const previous = this.stream;
        this.stream = stream;
        let opened: Promise<void> | undefined;
        let ready = false;
        const onAbort = () => void stream.close();
        signal.addEventListener('abort', onAbort, { once: true });
        return {
          next: async () => {
            opened ??= (async () => {
              await previous?.close();
              await stream.open();
              ready = true;
            })();
            await opened;
            const r = await stream.next();
            if (r.done || r.value.type !== 'relation') return r;
            const table = r.value.table;
            return { value: { ...r.value, current: () => this.currentColumns(table), applyDdl: this.opts.applyDdl === true }, done: false };
          },
          // A Relation message is handed over by next() only: returning undefined here lets the applier commit
          // what precedes it first (see change.ts).
          take: () => (ready && stream.peek()?.type !== 'relation' ? stream.take() : undefined),
          return: async () => {
            signal.removeEventListener('abort', onAbort);
            await stream.close();
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  /** The table's columns as the source's catalog has them now (null: no such table any more). */
  private async currentColumns(table: TableId): Promise<CurrentColumn[] | null> {
    try {
      if (!this.catalog) {
        this.catalog = await connect(this.spec, { applicationName: 'pgshift replicate catalog' });
        // format_type then qualifies every type outside pg_catalog.
        await this.catalog.query(`SET search_path = pg_catalog`);
      }
      const { rows } = await this.catalog.query(
        `SELECT c.oid IS NOT NULL AS present, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS dflt
           FROM (SELECT 1) one
           LEFT JOIN (pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace) ON n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
           LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          ORDER BY a.attnum`,
        [table.schema, table.name],
      );
      return rows[0]?.present ? rows.filter((r) => r.name !== null).map((r) => ({ name: r.name, type: r.type, notNull: r.not_null, default: r.dflt })) : null;
    } catch (err) {
      await this.catalog?.end().catch(() => undefined);
      this.catalog = undefined;
      throw err;
    }
  }

  confirm(position: Position): void {
    this.stream?.confirm(position);
  }

  stopStreamingInProgress(): void {
    this.opts = { ...this.opts, streaming: false };
  }

  /** Ask the walsender for a keepalive (it carries how far the server has sent). */
  ping(): void {
    this.stream?.ping();
  }

  async currentPosition(): Promise<Position> {
    try {
      this.ctl ??= await connect(this.spec, { applicationName: 'pgshift replicate lag' });
      const { rows } = await this.ctl.query(`SELECT pg_current_wal_lsn()::text AS lsn`);
      return parseLsn(rows[0].lsn);
    } catch (err) {
      await this.ctl?.end().catch(() => undefined);
      this.ctl = undefined;
      throw err;
    }
  }

  /**
   * A mark for catch-up: the end of every WAL record inserted so far, so it covers every transaction committed
   * before the call. NOT pg_current_wal_lsn(): that is the WRITE position, and with synchronous_commit = off a
   * COMMIT returns before its record is written — a catch-up marked there resolved with it unapplied.
   */
  async insertPosition(): Promise<Position> {
    try {
      this.ctl ??= await connect(this.spec, { applicationName: 'pgshift replicate lag' });
      const { rows } = await this.ctl.query(`SELECT pg_current_wal_insert_lsn()::text AS lsn, current_setting('wal_block_size')::int AS page`);
      return recordEnd(parseLsn(rows[0].lsn), BigInt(rows[0].page));
    } catch (err) {
      await this.ctl?.end().catch(() => undefined);
      this.ctl = undefined;
      throw err;
    }
  }

  /** WAL the slot keeps on the source (restart_lsn → now): a stalled replication can fill the source's disk. */
  async retainedBytes(): Promise<number | null> {
    try {
      this.ctl ??= await connect(this.spec, { applicationName: 'pgshift replicate lag' });
      const { rows } = await this.ctl.query(
        `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS b FROM pg_replication_slots WHERE slot_name = $1`,
        [this.slot],
      );
      return rows[0] ? Number(rows[0].b) : null;
    } catch {
      await this.ctl?.end().catch(() => undefined);
      this.ctl = undefined;
      return null;
    }
  }

  async close(): Promise<void> {
    await this.stream?.close();
    await this.ctl?.end().catch(() => undefined);
    this.ctl = undefined;
    await this.catalog?.end().catch(() => undefined);
    this.catalog = undefined;
  }
}

/**
 * The insert position at a page's first record is past the page header (24 bytes, 40 at a segment's start),
 * while the last record written ends AT the page boundary: the walsender's positions (keepalives, commit ends)
 * never equal the header's end, and a mark there would wait for the next record. No record ENDS between the
 * page start and 40 bytes in (a header plus the smallest record is 48; a record continued from the page before
 * ends no earlier than the boundary anyway), so every position reported at or past the boundary covers the mark.
 */
export function recordEnd(insert: bigint, pageSize: bigint): bigint {
  const offset = insert % pageSize;
  return offset > 0n && offset <= 40n ? insert - offset : insert;
}
