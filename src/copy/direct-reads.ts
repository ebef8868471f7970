// A socket's reads handed straight to the relay, past Node's Readable machinery. A TLS socket delivers one TLS
// record per read (PostgreSQL sends at most 8 kB a record): about 25,000 reads per 200 MB, and each went through
// Readable.push, a 'data' event and a process.nextTick (maybeReadMore) that the native side then drains — a
// third of the client's CPU on a TLS source. (Plaintext sources made by read-buffers.ts skip push already.)
//
// Node's stream reader (lib/internal/stream_base_commons.js onStreamRead, Node 18–22) passes every read to
// `socket.push(buf)`, and stops reading (readStop) when push returns false. While `open()` says so, and only
// while the Readable is flowing with nothing buffered (so the order of bytes never changes), the read goes to
// `onRead` instead. Otherwise — the relay paused for backpressure or a batch switch, end of stream — the
// Readable's own push runs: it buffers, stops the socket past its high-water mark and resumes on resume(), as
// for any socket. Pinned by test/integration/relay-tls.test.ts (reads counted, pauses forced).
import type { Socket } from 'node:net';

type Push = (chunk: unknown, encoding?: BufferEncoding) => boolean;

/** Route the socket's reads to `onRead` while `open()` is true; returns the function that restores push. */
export function directReads(socket: Socket, onRead: (b: Buffer) => void, open: () => boolean): () => void {
  const s = socket as Socket & { push: Push };
  if (Object.prototype.hasOwnProperty.call(s, 'push')) return () => undefined;
  const push = s.push;
  s.push = function (chunk: unknown, encoding?: BufferEncoding): boolean {
    if (Buffer.isBuffer(chunk) && open() && s.readableFlowing === true && s.readableLength === 0) {
      onRead(chunk);
      return true;
    }
    return push.call(s, chunk, encoding);
  };
  return () => {
    delete (s as { push?: Push }).push;
  };
}
