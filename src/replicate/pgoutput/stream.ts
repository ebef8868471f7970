// One streaming replication connection (START_REPLICATION … LOGICAL over plain `pg`): XLogData → decoder →
// an in-order event queue; keepalives answered at once; standby status (flush = what the TARGET has committed,
// never what was merely received) sent on a timer even while the consumer is busy, so wal_sender_timeout never
// fires. A new instance (and decoder) per connection: a restart always begins at the position persisted on the
// target. Why not pg-logical-replication 2.5: it acknowledges on receipt by default, resumes from the last
// RECEIVED position, parses values with pg's global type parsers, and pauses the socket for every message.
import pg from 'pg';
import type { ConnectionSpec } from '../../config.js';
import { connectReplication } from '../../db/connect.js';
import { quoteIdent, quoteLiteral } from '../../db/ident.js';
import { ConnectionError, classifyError, errorCode } from '../../errors.js';
import type { SourceEvent } from '../change.js';
import type { Socket } from 'node:net';
import { PgoutputDecoder } from './decoder.js';
import { FrameReader } from './frames.js';
import { formatLsn } from './lsn.js';

/**
 * Output settings of the walsender that renders the values: fixed, so the text the applier binds parses the same
 * on the target whatever the source server's defaults are (DateStyle SQL/DMY would otherwise be misread).
 */
export const VALUE_SETTINGS: Record<string, string> = {
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  extra_float_digits: '3',
  bytea_output: 'hex',
  lc_monetary: 'C',
};

export function settingsOption(settings: Record<string, string>): string {
  // libpq "options": -c name=value, spaces escaped with a backslash.
  return Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${v.replace(/ /g, '\\ ')}`)
    .join(' ');
}

const PG_EPOCH_MS = 946_684_800_000n;

/** Marks an error as a lost connection (retried from the persisted position). */
function transient<E extends Error>(e: E): E {
  return Object.assign(e, { transient: true });
}
const HIGH_WATER = 20_000;
const LOW_WATER = 2_000;

export interface StreamOptions {
  slot: string;
  publication: string;
  /** Resume point: transactions whose commit ends after it are sent. */
  start: bigint;
  /** Standby status interval; must stay well below the server's wal_sender_timeout (60 s default). */
  statusIntervalMs?: number;
  /**
   * Ask for transactions larger than the source's logical_decoding_work_mem while they are still in progress
   * (pgoutput protocol 2, `streaming 'on'`; PostgreSQL 14 and later, protocol 1 below).
   */
  streaming?: boolean;
}

/** The first source version whose pgoutput streams in-progress transactions (protocol 2). */
export const STREAMING_MIN_VERSION = 140000;

export class ReplicationStream implements AsyncIterator<SourceEvent> {
  private client?: pg.Client;
  private readonly decoder = new PgoutputDecoder();
  private readonly queue = new Fifo<SourceEvent>();
  private waiter?: { resolve: (r: IteratorResult<SourceEvent>) => void; reject: (e: unknown) => void };
  private failure?: unknown;
  private paused = false;
  /** COPY BOTH has begun: before that, a status message would reach the server mid-authentication. */
  private streaming = false;
  private closed = false;
  private timer?: NodeJS.Timeout;
  /** Highest position the target has committed (sent as flush/apply). */
  private confirmed: bigint;
  /** Highest WAL position seen from the server (sent as write). */
  private received: bigint;
  /** WAL start of the latest XLogData message (taken into `received` when a status is sent). */
  private startHi = 0;
  private startLo = 0;
  /** A begin not handed over yet (see deliver). */
  private heldBegin?: SourceEvent;
  /** In-progress transactions are streamed on this connection (protocol 2): known once open() returned. */
  streamingInProgress = false;

  constructor(
    private readonly spec: ConnectionSpec,
    private readonly opts: StreamOptions,
  ) {
    this.confirmed = opts.start;
    this.received = opts.start;
  }

  async open(): Promise<void> {
    let client: pg.Client;
    try {
      client = await connectReplication(this.spec, 'pgshift replicate stream', { options: settingsOption(VALUE_SETTINGS) } as Partial<pg.ClientConfig>);
    } catch (err) {
      throw classifyError(err, `source ${this.spec.display}: replication connection`, { phase: 'streaming' });
    }
    if (this.closed) {
      // close() ran while the connection was being made: it had no client to end, so end it here — an open
      // replication socket would keep the process alive after the command finished.
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    client.on('error', (err) => this.fail(errorCode(err) === undefined ? transient(err) : err));
    client.on('end', () => this.fail(transient(new ConnectionError(`replication connection to source ${this.spec.display} closed`, { phase: 'streaming' }))));
    // Connection's 'copyData'/'replicationStart' events and sendCopyFromChunk(): pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts).
    const con = (client as unknown as { connection: NodeJS.EventEmitter & { sendCopyFromChunk(b: Buffer): void; stream: Socket } }).connection;
    // Only if the socket reader below cannot be attached does pg's parser deliver the stream (same handling).
    // pg's own listener only hands CopyData to the active query, which ignores it: dropped, so each message
    // is one listener call (with two, Node clones the listener array on every emit).
    con.removeAllListeners('copyData');
    con.on('copyData', (msg: { chunk: Buffer }) => this.onCopyData(msg.chunk, 0, msg.chunk.length));
    let onStart!: () => void;
    const started = new Promise<void>((resolve) => (onStart = resolve));
    con.once('replicationStart', () => onStart());
    if (this.opts.streaming) {
      try {
        const { rows } = await client.query(`SHOW server_version_num`);
        this.streamingInProgress = Number(rows[0]?.server_version_num) >= STREAMING_MIN_VERSION;
      } catch (err) {
        const e = classifyError(err, `source ${this.spec.display}: replication connection`, { phase: 'streaming' });
        throw errorCode(err) === undefined ? transient(e) : e;
      }
    }
    const proto = this.streamingInProgress ? `proto_version '2', streaming 'on'` : `proto_version '1'`;
    const sql =
      `START_REPLICATION SLOT ${quoteIdent(this.opts.slot)} LOGICAL ${formatLsn(this.opts.start)} ` +
      `(${proto}, publication_names ${quoteLiteral(quoteIdent(this.opts.publication))})`;
    // Resolves only when the stream ends; errors (slot missing, walsender terminated) fail the iterator.
    const query = client.query(sql);
    // Sent now, answered on a later tick: the reader is in place before any byte of the answer arrives.
    new FrameReader(con.stream, { started: () => onStart(), copyData: (b, start, end) => this.onCopyData(b, start, end) }).attach();
    const running = query.then(
      () => this.fail(transient(new ConnectionError(`source ${this.spec.display} ended the replication stream`, { phase: 'streaming' }))),
      (err) => {
        const e = classifyError(err, `source ${this.spec.display}: streaming from slot ${this.opts.slot}`, { phase: 'streaming' });
        // No SQLSTATE: the socket ended ("Connection terminated unexpectedly"), a lost connection like any other.
        this.fail(errorCode(err) === undefined ? transient(e) : e);
      },
    );
    await Promise.race([
      started,
      running.then(() => {
        throw this.failure;
      }),
    ]);
    this.streaming = true;
    this.timer = setInterval(() => this.sendStatus(false), this.opts.statusIntervalMs ?? 10_000);
    this.timer.unref();
  }

  /** The target committed everything up to `position`: report it as flushed (the slot may free WAL). */
  confirm(position: bigint): void {
    if (position <= this.confirmed) return;
    this.confirmed = position;
    this.sendStatus(false);
  }

  /** Ask the server for a keepalive now (carries its current sent position). */
  ping(): void {
    // Events still queued are older than any answer: asking now only costs a socket write per check.
    if (this.queue.length > 0) return;
    this.sendStatus(true);
  }

  /** The next event if one is already here (no promise per event while a backlog drains), else undefined. */
  take(): SourceEvent | undefined {
    const ev = this.queue.shift();
    if (ev !== undefined && this.paused && this.queue.length < LOW_WATER) this.resume();
    return ev;
  }

  next(): Promise<IteratorResult<SourceEvent>> {
    const ev = this.take();
    if (ev !== undefined) return Promise.resolve({ value: ev, done: false });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  async return(): Promise<IteratorResult<SourceEvent>> {
    await this.close();
    return { value: undefined, done: true };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      this.sendStatus(false, client);
      // A walsender in COPY BOTH may not answer Terminate quickly; never hold the exit for it.
      await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
      // Still open after that: drop the socket, or it keeps the process alive after the command is done.
      this.connection(client)?.stream.destroy();
    }
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve({ value: undefined, done: true });
  }

  /** One CopyData payload of the stream: bytes [start, end) of `b`. */
  private onCopyData(b: Buffer, start: number, end: number): void {
    try {
      const kind = b[start];
      if (kind === 0x77 /* w: XLogData */) {
        // The message's WAL start, as two numbers: a BigInt per message costs more than decoding many of them.
        this.startHi = b.readUInt32BE(start + 1);
        this.startLo = b.readUInt32BE(start + 5);
        const ev = this.decoder.decode(b, start + 25, end);
        if (ev) this.deliver(ev);
      } else if (kind === 0x6b /* k: primary keepalive */) {
        const walEnd = b.readBigUInt64BE(start + 1);
        if (walEnd > this.received) this.received = walEnd;
        this.release();
        this.push({ type: 'keepalive', position: walEnd });
        if (b[start + 17] === 1) this.sendStatus(false);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Relation messages that open a transaction are handed over BEFORE its begin: the applier then checks (or
   * applies) a changed definition with every earlier transaction committed, so a stop on DDL keeps all that
   * precedes it, and the rerun starts at the first change that uses the new definition. A begin is held until
   * the next message shows whether relations follow; nothing else ever passes it.
   */
  private deliver(ev: SourceEvent): void {
    if (ev.type === 'begin') {
      this.release();
      this.heldBegin = ev;
      return;
    }
    if (ev.type !== 'relation') this.release();
    this.push(ev);
  }

  private release(): void {
    const b = this.heldBegin;
    this.heldBegin = undefined;
    if (b) this.push(b);
  }

  /** The next event without taking it. */
  peek(): SourceEvent | undefined {
    return this.queue.peek();
  }

  private push(ev: SourceEvent): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve({ value: ev, done: false });
      return;
    }
    this.queue.push(ev);
    if (!this.paused && this.queue.length >= HIGH_WATER) {
      this.paused = true;
      this.connection()?.stream.pause();
    }
  }

  private resume(): void {
    this.paused = false;
    this.connection()?.stream.resume();
  }

  private fail(err: unknown): void {
    if (this.closed || this.failure !== undefined) return;
    this.failure = err;
    if (this.timer) clearInterval(this.timer);
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  private connection(client = this.client) {
    return (client as unknown as { connection?: { sendCopyFromChunk(b: Buffer): void; stream: NodeJS.ReadableStream & { destroy(): void } } } | undefined)
      ?.connection;
  }

  private sendStatus(replyRequested: boolean, client = this.client): void {
    const con = this.connection(client);
    if (!con || !this.streaming || this.failure !== undefined) return;
    const walStart = (BigInt(this.startHi) << 32n) | BigInt(this.startLo);
    if (walStart > this.received) this.received = walStart;
    const b = Buffer.alloc(34);
    b[0] = 0x72; // 'r'
    b.writeBigUInt64BE(this.received > this.confirmed ? this.received : this.confirmed, 1); // written
    b.writeBigUInt64BE(this.confirmed, 9); // flushed: durable on the target
    b.writeBigUInt64BE(this.confirmed, 17); // applied
    b.writeBigInt64BE((BigInt(Date.now()) - PG_EPOCH_MS) * 1000n, 25);
    b[33] = replyRequested ? 1 : 0;
    try {
      con.sendCopyFromChunk(b);
    } catch (err) {
      this.fail(err);
    }
  }
}

/**
 * First in, first out in O(1): Array#shift moves every element once an array outgrows V8's regular heap
 * objects (≈16k entries), which made draining a full queue quadratic.
 */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(v: T): void {
    this.items.push(v);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head++] = undefined;
    // Drop the consumed prefix once it is most of the array (amortized O(1)).
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
}
