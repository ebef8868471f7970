// A sequence's state (last_value, is_called), read one way for copy, verify and replicate. Sequence reads are
// not transactional: this is the value at the moment of reading, whatever snapshot the connection holds.
import type { Client } from '../db/connect.js';
import type { SequenceInfo } from './tables.js';

export interface SequenceState {
  lastValue: string;
  isCalled: boolean;
}

export async function readSequenceState(client: Client, seq: Pick<SequenceInfo, 'qualified'>): Promise<SequenceState> {
  const { rows } = await client.query<{ v: string; c: boolean }>(`SELECT last_value::text AS v, is_called AS c FROM ${seq.qualified}`);
  return { lastValue: rows[0]!.v, isCalled: rows[0]!.c };
}

/**
 * Many sequences in one round trip: pg_sequence_last_value() gives last_value of every called sequence; only
 * the never-called ones (NULL there, is_called = false) are read one by one, for the value setval must restore.
 */
export async function readSequenceStates(client: Client, seqs: Pick<SequenceInfo, 'qualified'>[]): Promise<SequenceState[]> {
  const out: SequenceState[] = [];
  // Batches: each read locks its sequence until the statement's transaction ends (mind the lock table).
  for (let at = 0; at < seqs.length; at += SEQUENCE_BATCH) {
    const batch = seqs.slice(at, at + SEQUENCE_BATCH);
    const { rows } = await client.query<{ v: string | null }>(
      `SELECT pg_catalog.pg_sequence_last_value(s::regclass)::text AS v FROM unnest($1::text[]) WITH ORDINALITY AS t(s, i) ORDER BY i`,
      [batch.map((s) => s.qualified)],
    );
    for (let i = 0; i < batch.length; i++) {
      const v = rows[i]!.v;
      out.push(v === null ? await readSequenceState(client, batch[i]!) : { lastValue: v, isCalled: true });
    }
  }
  return out;
}

/** Sequences per statement (each one holds a lock until the statement's transaction ends). */
export const SEQUENCE_BATCH = 500;
