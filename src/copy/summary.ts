// What a copy reports (human output and --json).
import type { RoundTripCounts } from '../db/roundtrips.js';
import type { CopyMode } from '../state/store.js';
import type { PgDumpChoice } from './schema-preflight.js';
import type { StreamSummary } from './stream-stats.js';

export interface CopySummary {
  ok: true;
  mode: CopyMode;
  resumed: boolean;
  /** True when this run's data came from a snapshot newer than the first run's. */
  newSnapshot: boolean;
  alreadyComplete: boolean;
  tables: number;
  chunks: number;
  rows: number;
  bytes: number;
  indexes: number;
  sequences: number;
  largeObjects: number;
  materializedViews: number;
  /** Tables partly copied before the source changed (a resume): verify after the freeze decides. */
  staleTables: string[];
  seconds: number;
  phases: Record<string, number>;
  /** The pg_dump/pg_restore pair used for the schema (null: --data-only). */
  pgDump: PgDumpChoice | null;
  /** Round trips per side and phase (src/db/roundtrips.ts); pg_dump's own are not included. */
  roundTrips?: RoundTripCounts;
  /** The data phase's streams from the source: bytes on the wire, seconds streaming, per large chunk. */
  stream?: StreamSummary;
}

export function emptySummary(mode: CopyMode, resumed: boolean): CopySummary {
  return {
    ok: true,
    mode,
    resumed,
    newSnapshot: resumed,
    alreadyComplete: false,
    tables: 0,
    chunks: 0,
    rows: 0,
    bytes: 0,
    indexes: 0,
    sequences: 0,
    largeObjects: 0,
    materializedViews: 0,
    staleTables: [],
    seconds: 0,
    phases: {},
    pgDump: null,
  };
}
