// The link to the source (#30): over 10–80 ms of round trip, a copy of many small tables pays for its round trips,
// not its bytes. The probe measured one round trip to the source (median of SELECT 1s); this counts the round
// trips copy makes there, by step, and says when their cost dominates the copy and what to do about it.
import type { Chunk } from '../copy/plan.js';
import { BATCH_MAX_CHUNKS, batchable } from '../copy/pipeline.js';

/** Below this round trip the source is "next to" pgshift: nothing to say. */
const NOTABLE_ROUND_TRIP = 0.005;
/** Latency "dominates" from this share of the copy's time on. */
const DOMINANT_SHARE = 0.3;
/** pg_dump --schema-only's own queries whatever the table count (settings, catalog reads per object kind). */
const PG_DUMP_BASE_ROUND_TRIPS = 60;

export interface LinkCost {
  sourceRoundTrip: number;
  /** Round trips copy makes to the source, by step (pg_dump's estimated from its major and the object counts). */
  roundTrips: { setup: number; schemaDump: number; data: number };
  /** Seconds of waiting on them, as they fall in time (the data phase's spread over --jobs). */
  seconds: number;
  /** Share of the modelled copy. */
  share: number;
  note?: string;
}

/** Source round trips of the data phase: one per batch of small whole tables or per other chunk, plus imports. */
export function dataRoundTrips(chunks: Chunk[], jobs: number): number {
  const small = chunks.filter(batchable).length;
  const share = Math.max(1, Math.min(BATCH_MAX_CHUNKS, Math.ceil(small / Math.max(1, jobs))));
  return Math.ceil(small / share) + (chunks.length - small) + jobs;
}

/**
 * pg_dump before 16 locks each table in its own statement, and before 18 reads each sequence's parameters in
 * its own query (16 batches the locks, 18 the sequences): through a slow link these dominate the schema step.
 */
export function pgDumpRoundTrips(major: number, tables: number, sequences: number, relay = false): number {
  // Through pgshift's relay (schema/relay/) the locks are pipelined and the sequences read in one query.
  if (relay) return PG_DUMP_BASE_ROUND_TRIPS + 2;
  return PG_DUMP_BASE_ROUND_TRIPS + (major < 16 ? tables : Math.ceil(tables / 1000)) + (major < 18 ? sequences : 1);
}

export function linkCost(o: {
  sourceRoundTrip: number;
  chunks: Chunk[];
  tables: number;
  sequences: number;
  /** pg_dump's major; undefined: data-only or not measured. */
  pgDumpMajor?: number;
  /** pg_dump runs through pgshift's relay (the default; PGSHIFT_PGDUMP_RELAY=off: not). */
  pgDumpRelay?: boolean;
  setupRoundTrips: number;
  jobs: number;
  copySeconds: number;
  format: (s: number) => string;
}): LinkCost {
  const rt = o.sourceRoundTrip;
  const roundTrips = {
    setup: o.setupRoundTrips,
    schemaDump: o.pgDumpMajor === undefined ? 0 : pgDumpRoundTrips(o.pgDumpMajor, o.tables, o.sequences, o.pgDumpRelay),
    data: dataRoundTrips(o.chunks, o.jobs),
  };
  const seconds = rt * (roundTrips.setup + roundTrips.schemaDump + roundTrips.data / Math.max(1, o.jobs));
  const share = o.copySeconds > 0 ? Math.min(1, seconds / o.copySeconds) : 0;
  const cost: LinkCost = { sourceRoundTrip: rt, roundTrips, seconds, share };
  if (rt < NOTABLE_ROUND_TRIP || share < DOMINANT_SHARE) return cost;
  const dataWait = (rt * roundTrips.data) / Math.max(1, o.jobs);
  const total = roundTrips.setup + roundTrips.schemaDump + roundTrips.data;
  const dumpPart =
    o.pgDumpMajor !== undefined && o.pgDumpMajor < 18 && !o.pgDumpRelay
      ? ` pg_dump ${o.pgDumpMajor} makes ${roundTrips.schemaDump} of them (${o.pgDumpMajor < 16 ? 'one per table lock and ' : ''}one per sequence); ` +
        `a newer pg_dump (${o.pgDumpMajor < 16 ? '16+ batches the locks, ' : ''}18 the sequences) removes most: install postgresql-client-18 or pass --pg-bin.`
      : '';
  cost.note =
    `Latency dominates: ${total} round trips to the source at ${(rt * 1000).toFixed(1)} ms cost about ${o.format(seconds)} ` +
    `of the ${o.format(o.copySeconds)} copy (${Math.round(share * 100)} %).${dumpPart}` +
    (dataWait >= 0.2 * seconds
      ? ` The data phase's ${roundTrips.data} spread over --jobs: --jobs ${o.jobs * 2} halves their wait if the source allows the connections.`
      : '');
  return cost;
}
