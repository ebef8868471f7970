// The replication connection's socket read directly while it streams: each CopyData message is handed over as
// (buffer, start, end) inside the socket read it arrived in — no message object, no Buffer slice, no event per
// message, which is what pg's own parser costs (a quarter of the client's CPU in a backlog drain).
// Taken over right after START_REPLICATION is sent, so no byte of the answer reaches pg first. CopyBothResponse
// starts the stream; notices and parameter changes are skipped; anything else (ErrorResponse when the slot is
// busy or the walsender is terminated, CopyDone when the server ends the stream) is handed back to pg's parser
// from that byte on, so the query settles with the server's own error exactly as before.
import type { Socket } from 'node:net';

const COPY_DATA = 0x64; // d
const COPY_BOTH_RESPONSE = 0x57; // W
const NOTICE = 0x4e; // N
const PARAMETER_STATUS = 0x53; // S
const NOTIFICATION = 0x41; // A
const HEADER = 5; // type byte + int32 length

type Handler = (b: Buffer) => void;

export interface FrameSink {
  /** The server accepted START_REPLICATION (CopyBothResponse). */
  started(): void;
  /** One CopyData payload: bytes [start, end) of `buf` (valid only during the call). */
  copyData(buf: Buffer, start: number, end: number): void;
}

export class FrameReader {
  private pgData?: Handler;
  /** The start of a message split across socket reads (header incomplete, or a big message being filled). */
  private partial: Buffer | null = null;
  private filled = 0;

  constructor(
    private readonly stream: Socket,
    private readonly sink: FrameSink,
  ) {}

  /**
   * Replaces pg's reader on the socket; false when the socket does not look as expected (pg keeps reading).
   * One 'data' listener on client.connection.stream, pg's parser: pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts).
   */
  attach(): boolean {
    const listeners = this.stream.listeners('data') as Handler[];
    if (listeners.length !== 1) return false;
    this.pgData = listeners[0]!;
    this.stream.removeListener('data', this.pgData);
    this.stream.on('data', this.onData);
    return true;
  }

  private handBack(rest: Buffer): void {
    this.stream.removeListener('data', this.onData);
    const pg = this.pgData!;
    this.stream.on('data', pg);
    if (rest.length) pg(rest);
  }

  private readonly onData = (chunk: Buffer): void => {
    let buf = chunk;
    let pos = 0;
    if (this.partial) {
      const p = this.partial;
      if (this.filled < HEADER) {
        // Too little to know the length yet: join the (few) bytes and parse as one read.
        buf = Buffer.concat([p.subarray(0, this.filled), chunk]);
        this.partial = null;
      } else {
        // A message whose buffer is allocated at its full size: fill it, then go on with the rest of the read.
        const take = Math.min(p.length - this.filled, chunk.length);
        chunk.copy(p, this.filled, 0, take);
        this.filled += take;
        if (this.filled < p.length) return;
        this.partial = null;
        if (!this.dispatch(p, 0, p.length)) return this.handBack(Buffer.concat([p, chunk.subarray(take)]));
        pos = take;
      }
    }
    const n = buf.length;
    while (pos + HEADER <= n) {
      const end = pos + 1 + buf.readUInt32BE(pos + 1);
      if (end > n) {
        const whole = Buffer.allocUnsafe(end - pos);
        buf.copy(whole, 0, pos, n);
        this.partial = whole;
        this.filled = n - pos;
        return;
      }
      if (!this.dispatch(buf, pos, end)) return this.handBack(buf.subarray(pos));
      pos = end;
    }
    if (pos < n) {
      this.partial = Buffer.from(buf.subarray(pos));
      this.filled = n - pos;
    }
  };

  /** false: not a streaming message; pg's parser takes it from here. */
  private dispatch(buf: Buffer, start: number, end: number): boolean {
    const type = buf[start];
    if (type === COPY_DATA) this.sink.copyData(buf, start + HEADER, end);
    else if (type === COPY_BOTH_RESPONSE) this.sink.started();
    else if (type !== NOTICE && type !== PARAMETER_STATUS && type !== NOTIFICATION) return false;
    return true;
  }
}
