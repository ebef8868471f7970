// One COPY relayed from the source to the target at the protocol level: the source's CopyData messages are
// framed exactly as the target expects them (type 'd', int32 length, payload), so the bytes read from the
// source socket are written to the target socket as they came, whole socket reads at a time (small reads, as a
// TLS source's 8 kB records, gathered into one write: relay-sink.ts). The relay only walks message headers to find
// where COPY OUT ends; rows are never decoded or re-framed.
//
// Backpressure: the source socket is paused while more than RELAY_HIGH_WATER bytes wait to be written to the
// target, so each job holds at most that much (plus one socket read) in memory.
// Failure: an error on either side, or the abort signal, sends CopyFail to the target (its COPY, and the
// caller's transaction, roll back) and ends the source connection if it is still streaming.
import type { Client } from '../db/connect.js';
import { claimRead } from '../db/read-buffers.js';
import { directReads } from './direct-reads.js';
import { commandRows, CopyInSink, deferred, type Handler, type PgConnection } from './relay-sink.js';

const COPY_DATA = 0x64; // d
const COPY_OUT_RESPONSE = 0x48; // H
const NOTICE = 0x4e; // N: may come between CopyData messages
const PARAMETER_STATUS = 0x53; // S
const NOTIFICATION = 0x41; // A
const COPY_DONE_TYPE = 0x63; // c
const COMMAND_COMPLETE = 0x43; // C: between two COPYs of one batch
const HEADER = 5; // type byte + int32 length

/** Bytes allowed to wait in the target socket's buffer before the source socket is paused. */
export const RELAY_HIGH_WATER = 1024 * 1024;

/** COPY … TO STDOUT on the source whose CopyData messages go straight into a CopyInSink. */
export class CopyOutRelay {
  rowCount = 0;
  /** Bytes of COPY payload (without the 5-byte message headers), as a decoding client would count them. */
  payloadBytes = 0;
  /** Bytes of CopyData messages as they came off the source's socket (headers included): what crossed the link. */
  wireBytes = 0;
  /** performance.now() when the query went out, and when its (last) COPY's data ended. */
  startedAt = 0;
  endedAt = 0;
  private readonly doneD = deferred();
  readonly done = this.doneD.promise;
  private connection?: PgConnection;
  private pgData?: Handler;
  private undoDirect?: () => void;
  private streaming = false;
  private paused = false;
  // Header walk, carried across socket reads.
  private inHeader = true; // next byte is a message type
  private lenLeft = 0; // length bytes still to read (0..4)
  private len = 0;
  private bodyLeft = 0; // bytes of the current message still to pass
  private forwarding = false; // the current message is CopyData
  // A batch (several COPYs in one simple query): at each COPY's end but the last, the relay stops reading while
  // `next` commits the target's COPY and opens the next one, then goes on with the bytes it held back.
  private ended = 0; // COPYs of the batch finished
  private boundaryDone = false; // the CopyDone at the read position was already handled
  private switching = false;
  private held: Buffer[] = [];
  private copyBytes = 0;
  private copyWire = 0;
  private segmentStart = 0;

  constructor(
    readonly text: string,
    private sink: CopyInSink,
    private readonly onBytes?: (n: number) => void,
    private readonly batch?: { copies: number; next: (index: number, done: RelaySegment) => Promise<CopyInSink> },
  ) {}

  callback(): void {}

  submit(connection: PgConnection): Error | undefined {
    const stream = connection.stream;
    const listeners = stream.listeners('data') as Handler[];
    if (listeners.length !== 1) return new Error(`internal: expected one protocol reader on the source connection, found ${listeners.length}`);
    this.connection = connection;
    this.pgData = listeners[0]!;
    stream.removeListener('data', this.pgData);
    stream.on('data', this.onData);
    this.undoDirect = directReads(stream, this.onData, () => this.streaming && !this.paused && !this.switching);
    this.streaming = true;
    this.startedAt = this.segmentStart = performance.now();
    connection.query(this.text);
    return undefined;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.streaming) return;
    if (this.switching) {
      this.held.push(Buffer.from(chunk));
      return;
    }
    const n = chunk.length;
    let pos = 0;
    let runStart = !this.inHeader && this.forwarding ? 0 : -1;
    let messages = 0;
    let forwarded = 0;
    // A pooled read buffer (read-buffers.ts) is reused once every write from it has flushed and this call is
    // over; a read partly handed back to pg's parser is never reused (the parser keeps references into it).
    const release = claimRead(this.connection!.stream);
    let holds = 1;
    const unhold = release && (() => --holds === 0 && release());
    const flush = (end: number) => {
      if (runStart >= 0 && end > runStart) {
        if (unhold) holds++;
        this.sink.write(runStart === 0 && end === n ? chunk : chunk.subarray(runStart, end), unhold);
        forwarded += end - runStart;
      }
      runStart = -1;
    };
    while (pos < n) {
      if (this.inHeader) {
        // Fast path: whole CopyData messages inside this read.
        while (pos + HEADER <= n && chunk[pos] === COPY_DATA) {
          const end = pos + 1 + (((chunk[pos + 1]! << 24) | (chunk[pos + 2]! << 16) | (chunk[pos + 3]! << 8) | chunk[pos + 4]!) >>> 0);
          if (runStart < 0) runStart = pos;
          messages++;
          if (end <= n) {
            pos = end;
            continue;
          }
          this.forwarding = true;
          this.inHeader = false;
          this.lenLeft = 0;
          this.bodyLeft = end - n;
          pos = n;
        }
        if (pos >= n || !this.inHeader) break;
        const type = chunk[pos]!;
        if (type === COPY_DATA) {
          if (runStart < 0) runStart = pos;
          messages++;
          this.forwarding = true;
        } else if (type === COPY_DONE_TYPE && this.batch && this.ended < this.batch.copies - 1 && !this.boundaryDone) {
          // One COPY of a batch is over, more follow: switch the target to the next one before reading on.
          flush(pos);
          this.account(forwarded, messages);
          this.startSwitch(chunk.subarray(pos));
          unhold?.();
          return;
        } else if (
          type === COPY_OUT_RESPONSE ||
          type === NOTICE ||
          type === PARAMETER_STATUS ||
          type === NOTIFICATION ||
          (this.batch && (type === COMMAND_COMPLETE || type === COPY_DONE_TYPE))
        ) {
          // (A batch's CopyDone reaches here only once its switch is done; its CommandComplete always does:
          // the last COPY's CopyDone hands the socket back before its CommandComplete.)
          if (type === COPY_DONE_TYPE) this.boundaryDone = false;
          flush(pos);
          this.forwarding = false;
        } else {
          // CopyDone, ErrorResponse or anything else ends COPY OUT: pg's own parser takes the rest
          // (CommandComplete and ReadyForQuery arrive through handleCommandComplete/handleReadyForQuery).
          flush(pos);
          this.account(forwarded, messages);
          this.handBack(chunk.subarray(pos));
          return;
        }
        this.inHeader = false;
        this.lenLeft = 4;
        this.len = 0;
        pos++;
        continue;
      }
      if (this.lenLeft > 0) {
        while (this.lenLeft > 0 && pos < n) {
          this.len = this.len * 256 + chunk[pos++]!;
          this.lenLeft--;
        }
        if (this.lenLeft === 0) this.bodyLeft = this.len - 4;
        if (this.bodyLeft === 0 && this.lenLeft === 0) this.inHeader = true;
        continue;
      }
      const take = Math.min(this.bodyLeft, n - pos);
      pos += take;
      this.bodyLeft -= take;
      if (this.bodyLeft === 0) this.inHeader = true;
    }
    flush(n);
    this.account(forwarded, messages);
    unhold?.();
    if (!this.paused && this.sink.stream.writableLength > RELAY_HIGH_WATER) {
      // The target is slower than the source: stop reading (TCP pushes back to the source server) until the
      // target socket's buffer has drained.
      this.paused = true;
      this.connection!.stream.pause();
      this.sink.stream.once('drain', this.resume);
    }
  };

  private account(forwarded: number, messages: number): void {
    const payload = forwarded - HEADER * messages;
    this.payloadBytes += payload;
    this.copyBytes += payload;
    this.wireBytes += forwarded;
    this.copyWire += forwarded;
    if (payload !== 0) this.onBytes?.(payload);
  }

  private readonly resume = (): void => {
    if (!this.paused) return;
    this.paused = false;
    if (this.streaming && !this.switching) this.connection!.stream.resume();
  };

  /** Hold the source while the target commits this COPY and opens the next; then go on with `rest`. */
  private startSwitch(rest: Buffer): void {
    const stream = this.connection!.stream;
    this.switching = true;
    this.held = [Buffer.from(rest)];
    stream.pause();
    const done: RelaySegment = { bytes: this.copyBytes, wireBytes: this.copyWire, startedAt: this.segmentStart, endedAt: performance.now() };
    this.copyBytes = 0;
    this.copyWire = 0;
    this.batch!.next(this.ended, done).then(
      (sink) => {
        if (!this.streaming) return;
        // The source was held while the target switched: the next COPY's streaming starts now.
        this.segmentStart = performance.now();
        this.sink = sink;
        this.ended++;
        this.boundaryDone = true;
        this.switching = false;
        const held = this.held;
        this.held = [];
        for (const b of held) {
          if (this.switching || !this.streaming) this.held.push(b);
          else this.onData(b);
        }
        // Paused for the switch: read on, unless another switch began or the target pushes back (drain resumes).
        // Also after the last COPY handed the socket back to pg while the held bytes were read.
        if (!this.switching && !(this.paused && this.streaming)) stream.resume();
      },
      (err: unknown) => {
        this.switching = false;
        this.doneD.reject(err);
      },
    );
  }

  /** COPY OUT is over: give the socket back to pg's protocol reader, starting with the unread bytes. */
  private handBack(rest: Buffer): void {
    this.streaming = false;
    this.endedAt = performance.now();
    const stream = this.connection!.stream;
    this.undoDirect?.();
    stream.removeListener('data', this.onData);
    this.sink.stream.removeListener('drain', this.resume);
    stream.on('data', this.pgData!);
    if (rest.length) this.pgData!(rest);
    if (this.paused) {
      this.paused = false;
      stream.resume();
    }
  }

  /** The last (or only) COPY's share: what streamed since the last batch switch. */
  lastSegment(): RelaySegment {
    return { bytes: this.copyBytes, wireBytes: this.copyWire, startedAt: this.segmentStart, endedAt: this.endedAt || performance.now() };
  }

  /**
   * Stop relaying after a failure. A source still streaming is disconnected: that ends its COPY at once.
   * Returns the bytes that complete the CopyData message written only in part to the target, if any.
   */
  stop(): Buffer | undefined {
    // Also after handleError (the source connection died mid-message): the target still holds half a CopyData
    // message, and a CopyFail sent without the padding would be read as its payload — the target would wait
    // for the rest forever.
    const pad = this.switching ? undefined : this.padding();
    const stream = this.connection?.stream;
    this.undoDirect?.();
    if (stream && stream.listeners('data').includes(this.onData)) {
      stream.removeListener('data', this.onData);
      this.sink.stream.removeListener('drain', this.resume);
      stream.on('data', this.pgData!);
      if (this.streaming) stream.destroy();
    }
    this.streaming = false;
    return pad;
  }

  private padding(): Buffer | undefined {
    if (this.inHeader || !this.forwarding) return undefined;
    if (this.lenLeft === 0) return this.bodyLeft > 0 ? Buffer.alloc(this.bodyLeft) : undefined;
    // Inside the length field: finish it (with zeros, or as 4 when that leaves it below its own size).
    let len = this.len * 256 ** this.lenLeft;
    if (len < 4) len = 4;
    const pad = Buffer.alloc(this.lenLeft + len - 4);
    for (let i = 0; i < this.lenLeft; i++) pad[i] = Math.floor(len / 256 ** (this.lenLeft - 1 - i)) % 256;
    return pad;
  }

  handleCommandComplete(msg: { text?: string }): void {
    this.rowCount = commandRows(msg);
  }

  handleReadyForQuery(): void {
    this.doneD.resolve();
  }

  handleError(err: unknown): void {
    this.streaming = false;
    this.doneD.reject(err);
  }
}

export interface RelayOptions {
  /** Called with COPY payload bytes as they pass (progress). */
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

/** One COPY's stream from the source: its bytes and when it streamed (performance.now() milliseconds). */
export interface RelaySegment {
  /** COPY payload bytes (message headers not counted). */
  bytes: number;
  /** CopyData bytes read from the source socket, headers included (the bytes on the link). */
  wireBytes: number;
  /** From the query (or the end of the batch's previous COPY's switch) to the end of this COPY's data. */
  startedAt: number;
  endedAt: number;
}

export interface RelayResult extends RelaySegment {
  /** Rows the target's COPY reported. */
  rows: number;
}

export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(`copy aborted${r === undefined ? '' : `: ${String(r)}`}`);
}

/**
 * Run `sourceSql` (COPY … TO STDOUT) on `src` and `targetSql` (COPY … FROM STDIN, same format; it may be preceded
 * by other statements in the same simple query, e.g. "BEGIN; TRUNCATE …; COPY …") on `tgt`,
 * relaying the data. Either side's error, or the signal, rolls the target's COPY back (CopyFail) and is
 * thrown; the target connection is then ready for the caller's ROLLBACK.
 */
export async function relayCopy(src: Client, tgt: Client, sourceSql: string, targetSql: string, opts: RelayOptions = {}): Promise<RelayResult> {
  const { signal } = opts;
  if (signal?.aborted) throw abortReason(signal);
  const sink = new CopyInSink(targetSql);
  let relay: CopyOutRelay | undefined;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  const early = sink.done.then(() => {
    throw new Error('internal: the target ended its COPY before the source finished');
  });
  early.catch(() => undefined);
  try {
    void tgt.query(sink as never);
    await Promise.race([sink.ready, aborted]);
    relay = new CopyOutRelay(sourceSql, sink, opts.onBytes);
    void src.query(relay as never);
    await Promise.race([relay.done, early, aborted]);
    sink.end();
    await Promise.race([sink.done, aborted]);
    return { ...relay.lastSegment(), rows: sink.rowCount };
  } catch (err) {
    const pad = relay?.stop();
    await sink.fail(err instanceof Error ? err.message : String(err), pad);
    throw err;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
