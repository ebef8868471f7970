// What the data phase streamed from the source, and when (issue #30: is a copy over a slow link at the link's
// limit?). Each COPY's stream runs from its query to the end of its data; the seconds during which at least one
// streamed (the union of the intervals) are what the link was given to carry the bytes in, so a link's use is
// wireBytes / (its bandwidth × seconds). The seconds with k streams at once show a tail where fewer run.
import type { RelaySegment } from './relay.js';

/** One chunk's stream (every chunk of a split table, and whole tables of STREAM_LIST_BYTES or more on the wire). */
export interface StreamChunk {
  table: string;
  /** 1-based chunk number of `chunks`. */
  chunk: number;
  chunks: number;
  wireBytes: number;
  seconds: number;
  /** Seconds after the data phase's first stream began. */
  startedAt: number;
}

export interface StreamSummary {
  /** CopyData bytes read from the source, message headers included: the data's bytes on the link. */
  wireBytes: number;
  /** The same without the 5-byte message headers (the `bytes` of the summary). */
  payloadBytes: number;
  /** Seconds during which at least one COPY streamed from the source (the union of their intervals). */
  seconds: number;
  /** From the first stream's start to the last one's end (includes the gaps between a job's chunks). */
  spanSeconds: number;
  /** Seconds during which exactly k COPYs streamed at once, by k. */
  concurrency: Record<string, number>;
  chunks: StreamChunk[];
  /** The other chunks (small whole tables), summed (seconds: the sum of their own). */
  small: { chunks: number; wireBytes: number; seconds: number };
}

/** Whole tables that move at least this many bytes are listed one by one (a split table's chunks always are). */
export const STREAM_LIST_BYTES = 8 * 1024 ** 2;

interface Interval {
  start: number;
  end: number;
}

/** Seconds covered by exactly k intervals at once, for every k ≥ 1 (a sweep over start/end events). */
export function concurrencySeconds(intervals: Interval[]): Record<string, number> {
  const events = intervals.flatMap((i) => [
    { t: i.start, d: 1 },
    { t: i.end, d: -1 },
  ]);
  // Ends before starts at the same instant: touching intervals are not concurrent.
  events.sort((a, b) => a.t - b.t || a.d - b.d);
  const out: Record<string, number> = {};
  let open = 0;
  let last = 0;
  for (const e of events) {
    if (open > 0 && e.t > last) out[String(open)] = (out[String(open)] ?? 0) + (e.t - last) / 1000;
    open += e.d;
    last = e.t;
  }
  return out;
}

export class StreamStats {
  private readonly intervals: Interval[] = [];
  private readonly listed: Array<Omit<StreamChunk, 'startedAt'> & { start: number }> = [];
  private readonly small = { chunks: 0, wireBytes: 0, seconds: 0 };
  private wire = 0;
  private payload = 0;

  add(table: string, chunk: { chunk: number; chunks: number }, s: RelaySegment): void {
    const start = s.startedAt;
    const end = Math.max(s.startedAt, s.endedAt);
    this.intervals.push({ start, end });
    this.wire += s.wireBytes;
    this.payload += s.bytes;
    const seconds = (end - start) / 1000;
    if (chunk.chunks > 1 || s.wireBytes >= STREAM_LIST_BYTES) {
      this.listed.push({ table, chunk: chunk.chunk + 1, chunks: chunk.chunks, wireBytes: s.wireBytes, seconds, start });
    } else {
      this.small.chunks++;
      this.small.wireBytes += s.wireBytes;
      this.small.seconds += seconds;
    }
  }

  summary(): StreamSummary {
    const concurrency = concurrencySeconds(this.intervals);
    const first = Math.min(...this.intervals.map((i) => i.start));
    const last = Math.max(...this.intervals.map((i) => i.end));
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
      wireBytes: this.wire,
      payloadBytes: this.payload,
      seconds: round(Object.values(concurrency).reduce((a, b) => a + b, 0)),
      spanSeconds: this.intervals.length ? round((last - first) / 1000) : 0,
      concurrency: Object.fromEntries(Object.entries(concurrency).map(([k, v]) => [k, round(v)])),
      chunks: this.listed.map(({ start, ...c }) => ({ ...c, seconds: round(c.seconds), startedAt: round((start - first) / 1000) })),
      small: { ...this.small, seconds: round(this.small.seconds) },
    };
  }
}
