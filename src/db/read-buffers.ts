// Plain TCP sockets whose reads land in reusable buffers (net.Socket's `onread`), for the source side of COPY
// relays. Node's default read path allocates a fresh 64 kB buffer per socket read; at hundreds of MB per COPY
// those allocations, their page faults and their garbage collection are a good part of the client's CPU.
//
// Ownership: each read is emitted as an ordinary 'data' event (pg's protocol reader and the relay stay as they
// are). A buffer is reused only when the 'data' listener claimed it with claimRead() and later released it —
// the relay does, once the target socket has flushed what it forwarded from it. Anything else (pg's parser
// keeps references into the buffer it was given) leaves the buffer to the garbage collector: never reused.
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';

/** Bytes per socket read: larger reads mean fewer read and write system calls per GB relayed. */
export const READ_BUFFER_BYTES = 256 * 1024;
/** Free buffers kept per socket; the rest go to the garbage collector. */
const KEEP_FREE = 8;
/** Reads outside a relay (pg's own replies) are small and never reused: no need for a large buffer each. */
const CONTROL_READ_BYTES = 16 * 1024;

const kPool = Symbol('pgshift.readPool');

interface Pool {
  free: Buffer[];
  /** The buffer of the read being emitted, and whether a listener claimed it. */
  current?: Buffer;
  claimed: boolean;
}

interface PooledSocket extends Socket {
  [kPool]?: Pool;
}

/** A new (unconnected) socket reading into pooled buffers. */
export function pooledSocket(): Socket {
  const pool: Pool = { free: [], claimed: false };
  // Called after each read for the next one: a relay that claimed this read most likely claims the next too.
  const next = (): Buffer => (pool.claimed ? (pool.free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES)) : Buffer.allocUnsafeSlow(CONTROL_READ_BYTES));
  // @types/node lists `onread` for net.connect() only; the Socket constructor takes it too (Node ≥ 12.2).
  const options: SocketConstructorOpts & { onread: OnReadOpts } = {
    onread: {
      buffer: next,
      callback: (n: number, buf: Uint8Array): boolean => {
        pool.current = buf as Buffer;
        pool.claimed = false;
        socket.emit('data', (buf as Buffer).subarray(0, n));
        pool.current = undefined;
        // Keep reading; the relay's pause() still stops the reads (readStop), as for any socket.
        return true;
      },
    },
  };
  const socket: PooledSocket = new Socket(options);
  socket[kPool] = pool;
  return socket;
}

/**
 * Called from a 'data' listener of `socket`: the buffer behind the read being handled is the caller's until it
 * calls the returned function, which makes it reusable for a later read. Undefined when the socket does not
 * pool its reads (TLS, or not made by pooledSocket): then nothing needs releasing.
 */
export function claimRead(socket: Socket): (() => void) | undefined {
  const pool = (socket as PooledSocket)[kPool];
  const buf = pool?.current;
  if (!pool || !buf || pool.claimed) return undefined;
  pool.claimed = true;
  return () => {
    if (pool.free.length < KEEP_FREE && buf.length === READ_BUFFER_BYTES) pool.free.push(buf);
  };
}
