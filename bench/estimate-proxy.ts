// A slow network between pgshift and the source, for the estimate benchmark: a TCP proxy whose links share one
// bandwidth (a token bucket, both directions) and add a fixed delay per chunk of bytes, so round trips cost too.
// TLS passes through untouched: the proxy only moves bytes.
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

export interface SlowLink {
  port: number;
  close(): Promise<void>;
}

export async function startSlowLink(o: { upstreamHost: string; upstreamPort: number; bytesPerSecond: number; delayMs: number }): Promise<SlowLink> {
  let tokens = 0;
  let last = Date.now();
  const queue: { from: Socket; to: Socket; buf: Buffer; due: number }[] = [];
  const sockets = new Set<Socket>();
  const pump = () => {
    const now = Date.now();
    tokens = Math.min(o.bytesPerSecond * 0.05, tokens + ((now - last) / 1000) * o.bytesPerSecond);
    last = now;
    while (queue.length && tokens > 0 && queue[0]!.due <= now) {
      const item = queue[0]!;
      const n = Math.min(item.buf.length, Math.ceil(tokens));
      if (!item.to.destroyed) item.to.write(item.buf.subarray(0, n));
      tokens -= n;
      if (n === item.buf.length) {
        queue.shift();
        if (!queue.some((q) => q.from === item.from)) item.from.resume();
      } else item.buf = item.buf.subarray(n);
    }
  };
  const timer = setInterval(pump, 2);
  const relay = (from: Socket, to: Socket) => {
    from.on('data', (buf: Buffer) => {
      queue.push({ from, to, buf, due: Date.now() + o.delayMs });
      // Backpressure: the sender waits while its bytes queue on the link.
      if (queue.filter((q) => q.from === from).length > 4) from.pause();
    });
    from.on('end', () => to.end());
    from.on('error', () => to.destroy());
    from.on('close', () => to.destroy());
  };
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(o.upstreamPort, o.upstreamHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    async close() {
      clearInterval(timer);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
