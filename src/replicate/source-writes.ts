// "Caught up" is a moment, not a state: the application may go on writing. This module says whether it does,
// from the source's own row counters (pg_stat_all_tables: inserted + updated + deleted rows, partitions
// included) of the replicated tables, sampled while the run streams and once more after its finish. The
// counters reach the view with up to ~1 s of delay (PostgreSQL flushes a backend's statistics at most once a
// second while it works): a window shorter than that can miss writes, so the report says how long it watched.
import type { Client } from '../db/connect.js';

export interface SourceWrites {
  /** Rows inserted, updated or deleted on the replicated tables during the window. */
  rows: number;
  /** The window those rows were counted over, ending after the finish. */
  seconds: number;
  rowsPerSecond: number;
}

/** How long a window the report prefers: the oldest sample within this much of the end is its start. */
const WINDOW_MS = 10_000;

// pg_partition_tree lists no rows for a table that is not partitioned: the table itself is added.
export const COUNT_SQL = `SELECT COALESCE(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del), 0)::int8::text AS n
  FROM pg_catalog.unnest($1::text[]) AS t(name)
  CROSS JOIN LATERAL (SELECT pg_catalog.to_regclass(t.name) AS relid
                      UNION SELECT relid FROM pg_catalog.pg_partition_tree(pg_catalog.to_regclass(t.name))) AS p
  JOIN pg_catalog.pg_stat_all_tables s ON s.relid = p.relid`;

export class SourceWriteMeter {
  private readonly samples: Array<{ t: number; rows: bigint }> = [];

  /** @param tables the replicated tables, as qualified (quoted) names */
  constructor(private readonly tables: string[]) {}

  /** Takes a sample; a failed read is skipped (the report then covers a shorter window, or none). */
  async sample(src: Client): Promise<void> {
    try {
      const { rows } = await src.query<{ n: string }>(COUNT_SQL, [this.tables]);
      this.samples.push({ t: Date.now(), rows: BigInt(rows[0]!.n) });
      // Only the newest samples matter: keep the list short on a run that streams for days.
      const horizon = Date.now() - 2 * WINDOW_MS;
      while (this.samples.length > 2 && this.samples[1]!.t < horizon) this.samples.shift();
    } catch {
      // The counters are advice; a lost connection is the applier's to handle.
    }
  }

  /** Writes seen from the newest sample at least WINDOW_MS before the last one (or the oldest) to the last. */
  report(): SourceWrites | null {
    const last = this.samples.at(-1);
    if (!last || this.samples.length < 2) return null;
    const first = [...this.samples].reverse().find((s) => last.t - s.t >= WINDOW_MS) ?? this.samples[0]!;
    const seconds = (last.t - first.t) / 1000;
    const rows = Number(last.rows - first.rows);
    return { rows: Math.max(0, rows), seconds, rowsPerSecond: seconds > 0 ? Math.max(0, rows) / seconds : 0 };
  }
}

/** The sentence printed after "Caught up": the source still written (freeze first) or quiet over the window. */
export function describeSourceWrites(w: SourceWrites | null, formatCount: (n: number) => string): string | null {
  if (!w) return null;
  const window = `${w.seconds.toFixed(1)} s`;
  if (w.rows > 0) {
    return `The source is still being written: ${formatCount(w.rows)} rows changed on the replicated tables in the last ${window} (~${formatCount(Math.round(w.rowsPerSecond))}/s). Freeze writes to the source, then run the same command again before switching the application.`;
  }
  return `No writes to the replicated tables seen on the source in the last ${window} (its statistics lag up to ~1 s). Keep writes frozen until the application points to the target.`;
}

/** A timestamp as the clock time a person at the console compares with theirs (UTC, to the second). */
export function clock(iso: string): string {
  return `${iso.slice(11, 19)} UTC`;
}
