// The estimate benchmark's slow network: the latency proxy (latency-proxy.ts) with its historical options.
import { startLatencyProxy } from './latency-proxy.js';

export interface SlowLink {
  port: number;
  close(): Promise<void>;
}

/** `delayMs` is added in each direction, as before; `bytesPerSecond` caps each direction. */
export function startSlowLink(o: { upstreamHost: string; upstreamPort: number; bytesPerSecond: number; delayMs: number }): Promise<SlowLink> {
  return startLatencyProxy({ upstreamHost: o.upstreamHost, upstreamPort: o.upstreamPort, oneWayDelayMs: o.delayMs, bytesPerSecond: o.bytesPerSecond });
}
