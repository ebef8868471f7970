// The target half of a relayed COPY: COPY … FROM STDIN fed with CopyData messages already framed by the source,
// as a pg "submittable" on the target connection (relay.ts writes the bytes, this tracks the protocol state).
import type { Socket } from 'node:net';

const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);

/**
 * Writes to the target are gathered (corked) up to this many bytes, or to the end of the event-loop turn, and go out
 * as one writev. A TLS source hands the relay one TLS record per read (PostgreSQL sends at most 8 kB a record):
 * to a plaintext target each was its own write system call (1,216 for 11 MB, 43 gathered). A TLS target's
 * writes complete later, so Node's Writable gathered them already.
 */
export const WRITE_COALESCE_BYTES = 256 * 1024;

/** The parts of pg's Connection the relay uses (not in @types/pg), and its one 'data' reader: pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts). */
export interface PgConnection {
  stream: Socket;
  query(text: string): void;
  sendCopyFail(message: string): void;
}

export type Handler = (b: Buffer) => void;

export function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  return { promise, resolve, reject };
}

export function commandRows(msg: { text?: string } | undefined): number {
  const m = /COPY (\d+)/.exec(msg?.text ?? '');
  return m ? Number(m[1]) : 0;
}

/** COPY … FROM STDIN on the target, fed with already framed CopyData messages (a pg "submittable"). */
export class CopyInSink {
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

  /**
   * `flushed` runs once the bytes left the process (not on error: a failed write may still hold them). Small
   * pieces are gathered in the corked socket (WRITE_COALESCE_BYTES) and go out as one writev at the end of the
   * event-loop turn, or before anything else this sink writes: no copy, one system call.
   */
  write(buf: Buffer, flushed?: () => void): void {
    const stream = this.connection!.stream;
    if (!this.corked) {
      if (buf.length >= WRITE_COALESCE_BYTES) {
        stream.write(buf, flushed && ((err) => (err ? undefined : flushed())));
        return;
      }
      stream.cork();
      this.corked = true;
      this.timer = setImmediate(this.flush);
    }
    stream.write(buf, flushed && ((err) => (err ? undefined : flushed())));
    this.corkedBytes += buf.length;
    if (this.corkedBytes >= WRITE_COALESCE_BYTES) this.flush();
  }

  private corked = false;
  private corkedBytes = 0;
  private timer?: NodeJS.Immediate;

  /** Write what write() gathered, now. */
  readonly flush = (): void => {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    if (!this.corked) return;
    this.corked = false;
    this.corkedBytes = 0;
    this.connection!.stream.uncork();
  };

  /** All data is written: CopyDone; `done` resolves once the target has committed the statement. */
  end(): void {
    this.endRequested = true;
    if (this.state !== 'ready') return;
    this.state = 'ended';
    this.flush();
    this.connection!.stream.write(COPY_DONE);
  }

  /**
   * Roll the COPY back (CopyFail) and wait until the target has answered, so the connection is usable.
   * `pad` completes a CopyData message the relay had only partly written: the server reads whole messages
   * (even after an error, when it skips them), so a half-sent one would swallow the next query.
   */
  async fail(message: string, pad?: Buffer): Promise<void> {
    this.endRequested = true;
    // Gathered pieces go first: the pad completes the last of them.
    this.flush();
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
    this.flush();
    this.state = 'settled';
    this.readyD.resolve();
    this.doneD.resolve();
  }

  handleError(err: unknown): void {
    this.flush();
    this.state = 'settled';
    this.readyD.reject(err);
    this.doneD.reject(err);
  }
}
