// pgoutput as a ChangeSource: one ReplicationStream per events() call (each restart begins at the position
// the applier read from the target), plus a plain connection for the source's current WAL position.
import type { ConnectionSpec } from '../../config.js';
import { connect, type Client } from '../../db/connect.js';
import type { ChangeSource, Position, SourceEvent } from '../change.js';
import { parseLsn } from './lsn.js';
import { ReplicationStream } from './stream.js';

export class PgoutputSource implements ChangeSource {
  private stream?: ReplicationStream;
  private ctl?: Client;

  constructor(private readonly spec: ConnectionSpec, private readonly slot: string, private readonly publication: string) {}

  events(from: Position, signal: AbortSignal): AsyncIterable<SourceEvent> {
    return {
      [Symbol.asyncIterator]: () => {
        const stream = new ReplicationStream(this.spec, { slot: this.slot, publication: this.publication, start: from });
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
            return stream.next();
          },
          take: () => (ready ? stream.take() : undefined),
          return: async () => {
            signal.removeEventListener('abort', onAbort);
            await stream.close();
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  confirm(position: Position): void {
    this.stream?.confirm(position);
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
  }
}
