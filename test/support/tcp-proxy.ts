// A TCP proxy in front of a test server, to cut connections the way a network does (no FIN from PostgreSQL,
// no SQLSTATE): drop every connection now, or each one once it has carried a number of bytes server → client.
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Destroy every open connection (both halves), as a broken network would. */
  dropAll(): number;
  /** From now on, destroy any connection once it has forwarded more than `bytes` from the server. */
  dropAfter(bytes: number | undefined): void;
  /** Connections opened so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startProxy(upstreamHost: string, upstreamPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let limit: number | undefined;
  let opened = 0;
  const server: Server = createServer((client) => {
    opened++;
    const upstream = tcpConnect(upstreamPort, upstreamHost);
    let carried = 0;
    const pair = [client, upstream];
    const kill = () => pair.forEach((s) => s.destroy());
    for (const s of pair) {
      open.add(s);
      s.on('error', kill);
      s.on('close', () => {
        open.delete(s);
        kill();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (d: Buffer) => {
      carried += d.length;
      if (limit !== undefined && carried > limit) kill();
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    dropAll() {
      const n = open.size / 2;
      for (const s of [...open]) s.destroy();
      return n;
    },
    dropAfter(bytes) {
      limit = bytes;
    },
    connections: () => opened,
    close() {
      for (const s of [...open]) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
