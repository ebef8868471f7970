// A slow network between a client and a PostgreSQL server, for benchmarks: a TCP proxy that delays every byte
// by a fixed one-way time in each direction (so a round trip costs 2 × delay) and caps each direction at a
// bandwidth shared by all connections (a token bucket per direction: a link is full duplex). TLS passes through
// untouched. Without TLS it also counts the client's round trips: each simple query ('Q') and each Sync ('S',
// the end of an extended-protocol pipeline) is one, as the server answers each with ReadyForQuery.
//
//   const link = await startLatencyProxy({ upstreamHost, upstreamPort, oneWayDelayMs: 20, bytesPerSecond: 200e6 });
//   … connect to 127.0.0.1:link.port … link.counts() … await link.close();
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

export interface LatencyProxyOptions {
  upstreamHost: string;
  upstreamPort: number;
  /** Added to every byte in each direction; a round trip costs twice this. */
  oneWayDelayMs: number;
  /** Per direction, shared by every connection; 0 or Infinity: no cap. */
  bytesPerSecond: number;
  /** Called with the text of every simple query and every Parse (plaintext only; for counting by kind). */
  onQuery?: (text: string) => void;
}

export interface LinkCounts {
  connections: number;
  /** Simple queries + Syncs sent by clients (plaintext connections only). */
  roundTrips: number;
  /** Simple queries alone. */
  queries: number;
  /** Bytes server → client and client → server. */
  down: number;
  up: number;
  /** Connections whose bytes could not be read (TLS). */
  opaque: number;
  /**
   * Server → client, by 100 ms slots: the slots that carried at least a tenth of the cap's worth (the link was
   * streaming, not answering catalog reads), their seconds and their bytes. With a cap, bytes ÷ (cap × seconds)
   * is how full the link ran while data streamed, whoever the client (0 without a cap).
   */
  downStreaming: { seconds: number; bytes: number };
}

export interface LatencyProxy {
  port: number;
  counts(): LinkCounts;
  reset(): void;
  close(): Promise<void>;
}

/** "200MB", "1.5GB", "50mb", "0" → bytes per second (decimal units, as links are sold). */
export function parseBandwidth(v: string | undefined): number {
  if (!v) return 0;
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)?b?(?:\/s)?$/i.exec(v.trim());
  if (!m) throw new Error(`bad bandwidth ${v} (examples: 200MB, 1GB, 50mb)`);
  const unit = { k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Number(m[1]) * unit;
}

interface Item {
  from: Socket;
  to: Socket;
  buf: Buffer;
  due: number;
}

/** One direction of the link: bytes wait their delay, then go out as the bandwidth allows. */
/** Width of the slots the bytes a direction carried are summed in. */
const SLOT_MS = 100;

class Direction {
  private readonly queue: Item[] = [];
  /** Bytes written per SLOT_MS slot since `origin`. */
  private readonly slots = new Map<number, number>();
  private origin = performance.now();
  private tokens = 0;
  private last = performance.now();
  /** The last pump ran out of tokens with bytes waiting: the link has been busy since, not idle. */
  private starved = false;
  private timer?: NodeJS.Timeout;
  private readonly queued = new Map<Socket, number>();

  constructor(
    private readonly delayMs: number,
    private readonly bytesPerSecond: number,
  ) {}

  push(from: Socket, to: Socket, buf: Buffer): void {
    this.queue.push({ from, to, buf, due: performance.now() + this.delayMs });
    const n = (this.queued.get(from) ?? 0) + buf.length;
    this.queued.set(from, n);
    // Backpressure: the sender waits while more than 1 MB of its bytes are on the link.
    if (n > 1024 * 1024) from.pause();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || !this.queue.length) return;
    const wait = Math.max(0, this.queue[0]!.due - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, wait);
  }

  private pump(): void {
    const capped = this.bytesPerSecond > 0 && Number.isFinite(this.bytesPerSecond);
    const now = performance.now();
    if (capped) {
      // An idle link banks at most 10 ms worth of burst. A busy one (bytes were waiting for tokens) is credited
      // all the time since: when this process runs late (a loaded machine delays timers by tens of ms), the
      // bytes a real link would have carried meanwhile go out now, so the average stays at the bandwidth.
      const elapsed = (now - this.last) / 1000;
      const bank = this.starved ? Math.max(0.01, Math.min(elapsed, 1)) : 0.01;
      this.tokens = Math.min(this.bytesPerSecond * bank, this.tokens + elapsed * this.bytesPerSecond);
    }
    this.last = now;
    this.starved = false;
    const t = performance.now();
    while (this.queue.length && this.queue[0]!.due <= t + 0.5 && (!capped || this.tokens > 0)) {
      const item = this.queue[0]!;
      const n = capped ? Math.min(item.buf.length, Math.ceil(this.tokens)) : item.buf.length;
      if (!item.to.destroyed) item.to.write(item.buf.subarray(0, n));
      const slot = Math.floor((t - this.origin) / SLOT_MS);
      this.slots.set(slot, (this.slots.get(slot) ?? 0) + n);
      if (capped) this.tokens -= n;
      const left = (this.queued.get(item.from) ?? n) - n;
      this.queued.set(item.from, left);
      if (left <= 1024 * 1024 && item.from.isPaused()) item.from.resume();
      if (n === item.buf.length) this.queue.shift();
      else item.buf = item.buf.subarray(n);
    }
    if (this.queue.length && capped && this.tokens <= 0 && this.queue[0]!.due <= t + 0.5) {
      // Out of tokens: come back when about 1 ms of bandwidth has accrued.
      this.starved = true;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, 1);
      return;
    }
    this.schedule();
  }

  /** Slots carrying at least a tenth of the cap: their seconds and bytes (none without a cap). */
  streaming(): { seconds: number; bytes: number } {
    if (!(this.bytesPerSecond > 0 && Number.isFinite(this.bytesPerSecond))) return { seconds: 0, bytes: 0 };
    const busy = [...this.slots.values()].filter((b) => b >= (this.bytesPerSecond * SLOT_MS) / 1000 / 10);
    return { seconds: (busy.length * SLOT_MS) / 1000, bytes: busy.reduce((a, b) => a + b, 0) };
  }

  resetSlots(): void {
    this.slots.clear();
    this.origin = performance.now();
  }

  forget(s: Socket): void {
    this.queued.delete(s);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

/** Counts a client's round trips by walking its frontend messages (the startup packet first: untyped). */
class FrontendCounter {
  private startup = true;
  private header = Buffer.alloc(0);
  private skip = 0;
  private capture?: { type: number; parts: Buffer[]; left: number };
  opaque = false;

  constructor(
    private readonly onMessage: (type: number) => void,
    private readonly onText?: (type: number, text: string) => void,
  ) {}

  feed(buf: Buffer): void {
    let pos = 0;
    while (pos < buf.length && !this.opaque) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length - pos);
        if (this.capture) {
          this.capture.parts.push(buf.subarray(pos, pos + n));
          if ((this.capture.left -= n) === 0) {
            const body = Buffer.concat(this.capture.parts);
            // Q: the query text; P: statement name, then the text (both NUL-terminated).
            const text = this.capture.type === 0x50 ? body.subarray(body.indexOf(0) + 1) : body;
            this.onText?.(this.capture.type, text.subarray(0, Math.max(0, text.indexOf(0))).toString('utf8'));
            this.capture = undefined;
          }
        }
        this.skip -= n;
        pos += n;
        continue;
      }
      // Startup packets: int32 length + int32 code; messages: type byte + int32 length.
      const need = this.startup ? 8 : 5;
      const take = Math.min(need - this.header.length, buf.length - pos);
      this.header = Buffer.concat([this.header, buf.subarray(pos, pos + take)]);
      pos += take;
      if (this.header.length < need) return;
      if (this.startup) {
        const code = this.header.readUInt32BE(4);
        // SSLRequest / GSSENCRequest: what follows is encrypted (or a plaintext retry: left uncounted).
        if (code === 80877103 || code === 80877104) this.opaque = true;
        else this.startup = false;
        this.skip = this.header.readUInt32BE(0) - 8;
      } else {
        this.onMessage(this.header[0]!);
        this.skip = this.header.readUInt32BE(1) - 4;
        if (this.onText && (this.header[0] === 0x51 || this.header[0] === 0x50) && this.skip > 0) {
          this.capture = { type: this.header[0]!, parts: [], left: this.skip };
        }
      }
      this.header = Buffer.alloc(0);
    }
  }
}

export async function startLatencyProxy(o: LatencyProxyOptions): Promise<LatencyProxy> {
  const up = new Direction(o.oneWayDelayMs, o.bytesPerSecond);
  const down = new Direction(o.oneWayDelayMs, o.bytesPerSecond);
  const sockets = new Set<Socket>();
  const zero = (): Omit<LinkCounts, 'downStreaming'> => ({ connections: 0, roundTrips: 0, queries: 0, down: 0, up: 0, opaque: 0 });
  let counts = zero();
  const server: Server = createServer((client) => {
    counts.connections++;
    const upstream = tcpConnect(o.upstreamPort, o.upstreamHost);
    const counter = new FrontendCounter(
      (type) => {
        if (type === 0x51 /* Q */) {
          counts.queries++;
          counts.roundTrips++;
        } else if (type === 0x53 /* S: Sync */) counts.roundTrips++;
      },
      o.onQuery && ((_type: number, text: string) => o.onQuery!(text)),
    );
    let wasOpaque = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => {
        sockets.delete(s);
        up.forget(s);
        down.forget(s);
      });
      s.on('error', () => undefined);
    }
    client.on('data', (buf: Buffer) => {
      counts.up += buf.length;
      counter.feed(buf);
      if (counter.opaque && !wasOpaque) {
        wasOpaque = true;
        counts.opaque++;
      }
      up.push(client, upstream, buf);
    });
    upstream.on('data', (buf: Buffer) => {
      counts.down += buf.length;
      down.push(upstream, client, buf);
    });
    // Ends and errors pass after the bytes queued before them (a delayed FIN).
    const later = (f: () => void) => setTimeout(f, o.oneWayDelayMs + 5);
    client.on('end', () => later(() => upstream.end()));
    upstream.on('end', () => later(() => client.end()));
    client.on('close', () => later(() => upstream.destroy()));
    upstream.on('close', () => later(() => client.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    counts: () => ({ ...counts, downStreaming: down.streaming() }),
    reset() {
      counts = zero();
      down.resetSlots();
      up.resetSlots();
    },
    async close() {
      up.stop();
      down.stop();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The same URL, pointed at the proxy. */
export function throughProxy(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}
