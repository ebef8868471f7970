// The probe's schema step: what one pre-data statement costs on this target. The first entries of the source's
// pre-data SQL (schema.ts renders them as copy's restore would) are applied on the target inside a transaction
// that is always rolled back, so the cost per statement includes the target's catalog, its disk and the link.
// The stated default (2.5 ms) over-predicted the schema phase on every shape of bench:estimate; measured, one
// statement cost 0.3–3.2 ms on the same target from one probe to the next (its disk's state).
//
// A sample the target refuses (a missing extension or role, an object only a superuser may create, objects
// already there) is no measurement, but it is news: copy's schema step would stop on the same statement.
import type { Client } from '../db/connect.js';
import type { SchemaSample } from './schema.js';

export type SchemaProbe = { perStatement: number; seconds: number } | { refused: string };

export async function timeSchemaSample(c: Client, sample: SchemaSample, roundTrip: number, signal: AbortSignal): Promise<SchemaProbe> {
  if (signal.aborted) throw signal.reason;
  // Bounded: an empty target holds no lock these statements wait for, and the sample is a few hundred entries.
  await c.query(`BEGIN; SET LOCAL lock_timeout = '2s'; SET LOCAL statement_timeout = '60s'`);
  try {
    const t0 = process.hrtime.bigint();
    await c.query(sample.sql);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { perStatement: Math.max(0, seconds - roundTrip) / Math.max(1, sample.statements), seconds };
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    return { refused: (err as Error).message.split('\n')[0]! };
  } finally {
    // Always rolled back; the dump's SET and set_config calls were made inside it and are undone with it.
    await c.query('ROLLBACK').catch(() => undefined);
  }
}

/** The per-statement cost the model runs on (none when refused), and the note that says where it came from. */
export function schemaRates(sample: SchemaSample, r: SchemaProbe): { perObject?: number; note: string } {
  if ('perStatement' in r) {
    return {
      perObject: r.perStatement,
      note:
        `schema: the first ${sample.entries} of ${sample.of} pre-data entries (${sample.statements} statements) applied on the target in ` +
        `${r.seconds.toFixed(2)}s and rolled back: ${(r.perStatement * 1000).toFixed(2)} ms per statement`,
    };
  }
  return {
    note:
      `schema: the target refused the first ${sample.entries} pre-data entries (${r.refused}); copy's schema step would stop there too — ` +
      `pgshift inventory --source … --target … names what gets in the way. The per-statement cost is the stated default`,
  };
}
