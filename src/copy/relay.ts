// One COPY relayed from the source to the target at the protocol level: the source's CopyData messages are
// framed exactly as the target expects them (type 'd', int32 length, payload), so the bytes read from the
// source socket are written to the target socket as they came, whole socket reads at a time. The relay only
// walks message headers to find where COPY OUT ends; rows are never decoded, copied or re-framed.
//
// Backpressure: the source socket is paused while more than RELAY_HIGH_WATER bytes wait to be written to the
// target, so each job holds at most that much (plus one socket read) in memory.
// Failure: an error on either side, or the abort signal, sends CopyFail to the target (its COPY, and the
// caller's transaction, roll back) and ends the source connection if it is still streaming.
import type { Socket } from 'node:net';
import type { Client } from '../db/connect.js';
import { claimRead } from '../db/read-buffers.js';

const COPY_DATA = 0x64; // d
const COPY_OUT_RESPONSE = 0x48; // H
const NOTICE = 0x4e; // N: may come between CopyData messages
const PARAMETER_STATUS = 0x53; // S
const NOTIFICATION = 0x41; // A
const COPY_DONE_TYPE = 0x63; // c
const COMMAND_COMPLETE = 0x43; // C: between two COPYs of one batch
const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);
const HEADER = 5; // type byte + int32 length

/** Bytes allowed to wait in the target socket's buffer before the source socket is paused. */
export const RELAY_HIGH_WATER = 1024 * 1024;

/** The parts of pg's Connection the relay uses (not in @types/pg), and its one 'data' reader: pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts). */
interface PgConnection {
  stream: Socket;
  query(text: string): void;
  sendCopyFail(message: string): void;
}

type Handler = (b: Buffer) => void;

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  return { promise, resolve, reject };
}

function commandRows(msg: { text?: string } | undefined): number {
  const m = /COPY (\d+)/.exec(msg?.text ?? '');
  return m ? Number(m[1]) : 0;
}

/** COPY … FROM STDIN on the target, fed with already framed CopyData messages (a pg "submittable"). */
class CopyInSink {
  rowCount = 0;
  private connection?: PgConnection;
  private readonly readyD = deferred();
  private readonly doneD = deferred();
  private state: 'sent' | 'ready' | 'ended' | 'settled' = 'sent';
  private failWhenReady?: string;
  /** end() or fail() was called: the target finishing its COPY is expected. */
  endRequested = false;
  readonly ready = this.readyD.promise;
  readonly done = this.doneD.promise;

  constructor(readonly text: string) {}

  submit(connection: PgConnection): void {
    this.connection = connection;
    connection.query(this.text);
  }

  /** pg replaces this when query_timeout is set; it must exist. */
  callback(): void {}

  get stream(): Socket {
    return this.connection!.stream;
  }

  /** `flushed` runs once the bytes left the process (not on error: a failed write may still hold them). */
  write(buf: Buffer, flushed?: () => void): void {
    this.connection!.stream.write(buf, flushed && ((err) => (err ? undefined : flushed())));
  }

  /** All data is written: CopyDone; `done` resolves once the target has committed the statement. */
  end(): void {
    this.endRequested = true;
    if (this.state !== 'ready') return;
    this.state = 'ended';
    this.connection!.stream.write(COPY_DONE);
  }

  /**
   * Roll the COPY back (CopyFail) and wait until the target has answered, so the connection is usable.
   * `pad` completes a CopyData message the relay had only partly written: the server reads whole messages
   * (even after an error, when it skips them), so a half-sent one would swallow the next query.
   */
  async fail(message: string, pad?: Buffer): Promise<void> {
    this.endRequested = true;
    if (pad && this.state !== 'ended' && this.connection?.stream.writable) this.connection.stream.write(pad);
    if (this.state === 'ready') {
      this.state = 'ended';
      this.connection!.sendCopyFail(message);
    } else if (this.state === 'sent') {
      this.failWhenReady = message;
    }
    await this.done.catch(() => undefined);
  }

  handleCopyInResponse(): void {
    if (this.state !== 'sent') return;
    this.state = 'ready';
    if (this.failWhenReady !== undefined) {
      this.state = 'ended';
      this.connection!.sendCopyFail(this.failWhenReady);
    }
    this.readyD.resolve();
  }

  handleCommandComplete(msg: { text?: string }): void {
    this.rowCount = commandRows(msg);
  }

  handleReadyForQuery(): void {
    this.state = 'settled';
    this.readyD.resolve();
    this.doneD.resolve();
  }

  handleError(err: unknown): void {
    this.state = 'settled';
    this.readyD.reject(err);
    this.doneD.reject(err);
  }
}

/** COPY … TO STDOUT on the source whose CopyData messages go straight into a CopyInSink. */
class CopyOutRelay {
  rowCount = 0;
  /** Bytes of COPY payload (without the 5-byte message headers), as a decoding client would count them. */
  payloadBytes = 0;
  private readonly doneD = deferred();
  readonly done = this.doneD.promise;
  private connection?: PgConnection;
  private pgData?: Handler;
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

  constructor(
    readonly text: string,
    private sink: CopyInSink,
    private readonly onBytes?: (n: number) => void,
    private readonly batch?: { copies: number; next: (index: number, bytes: number) => Promise<CopyInSink> },
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
    this.streaming = true;
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
    const bytes = this.copyBytes;
    this.copyBytes = 0;
    this.batch!.next(this.ended, bytes).then(
      (sink) => {
        if (!this.streaming) return;
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
    const stream = this.connection!.stream;
    stream.removeListener('data', this.onData);
    this.sink.stream.removeListener('drain', this.resume);
    stream.on('data', this.pgData!);
    if (rest.length) this.pgData!(rest);
    if (this.paused) {
      this.paused = false;
      stream.resume();
    }
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

export interface RelayResult {
  /** Rows the target's COPY reported. */
  rows: number;
  /** COPY payload bytes (message headers not counted). */
  bytes: number;
}

function abortReason(signal: AbortSignal): Error {
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
    return { rows: sink.rowCount, bytes: relay.payloadBytes };
  } catch (err) {
    const pad = relay?.stop();
    await sink.fail(err instanceof Error ? err.message : String(err), pad);
    throw err;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

export interface BatchItem {
  /** COPY … TO STDOUT on the source (no trailing semicolon). */
  sourceSql: string;
  /** COPY … FROM STDIN on the target, possibly preceded by other statements (as relayCopy's targetSql). */
  targetSql: string;
}

/**
 * Several COPYs in ONE source round trip: the source runs `COPY a TO STDOUT; COPY b TO STDOUT; …` as one simple
 * query and streams each COPY's data in turn; each goes into its own COPY on the target. Between two of them the
 * source is held while `committed(i, …)` finishes item i's target transaction (its rows and done mark commit
 * together, as for a single chunk) and the next target COPY opens. On an error, the items already committed
 * stay; `current()` names the item that failed; the target is left ready for the caller's ROLLBACK.
 */
export async function relayCopyBatch(
  src: Client,
  tgt: Client,
  items: BatchItem[],
  committed: (index: number, result: RelayResult) => Promise<void>,
  opts: RelayOptions = {},
): Promise<RelayResult[]> {
  const { signal } = opts;
  if (signal?.aborted) throw abortReason(signal);
  const results: RelayResult[] = [];
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  const early = deferred();
  // A target COPY that ends before the relay ended it would mean rows went missing: never silently.
  const open = async (i: number): Promise<CopyInSink> => {
    const s = new CopyInSink(items[i]!.targetSql);
    s.done.then(
      () => (s.endRequested ? undefined : early.reject(new Error('internal: the target ended its COPY before the source finished'))),
      () => undefined,
    );
    void tgt.query(s as never);
    try {
      await Promise.race([s.ready, aborted]);
    } catch (err) {
      // Stopped before it opened: roll it back once the target answers, so the connection is usable again.
      await s.fail(err instanceof Error ? err.message : String(err));
      throw err;
    }
    return s;
  };
  const finish = async (s: CopyInSink, i: number, bytes: number) => {
    s.end();
    await Promise.race([s.done, aborted]);
    const r = { rows: s.rowCount, bytes };
    results.push(r);
    await committed(i, r);
  };
  let sink = await open(0).catch(async (err: unknown) => {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    throw err;
  });
  let relay: CopyOutRelay | undefined;
  let switching: Promise<unknown> | undefined;
  try {
    relay = new CopyOutRelay(items.map((x) => x.sourceSql).join('; '), sink, opts.onBytes, {
      copies: items.length,
      next: (i, bytes) => {
        const step = (async () => {
          await finish(sink, i, bytes);
          sink = await open(i + 1);
          return sink;
        })();
        switching = step;
        return step;
      },
    });
    void src.query(relay as never);
    await Promise.race([relay.done, early.promise, aborted]);
    await finish(sink, items.length - 1, relay.payloadBytes - results.reduce((a, r) => a + r.bytes, 0));
    return results;
  } catch (err) {
    const pad = relay?.stop();
    // A switch under way ends first (its next COPY opened, or failed): then the COPY open now is rolled back.
    await switching?.catch(() => undefined);
    await sink.fail(err instanceof Error ? err.message : String(err), pad);
    throw err;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
