// A sequence's state (last_value, is_called), read one way for copy, verify and replicate. Sequence reads are
// not transactional: this is the value at the moment of reading, whatever snapshot the connection holds.
import type { Client } from '../db/connect.js';
import type { SequenceInfo } from './tables.js';

export interface SequenceState {
  lastValue: string;
  isCalled: boolean;
}

/**
 * Many sequences in two round trips per batch, never one per sequence: pg_sequence_last_value() gives last_value
 * of every called sequence; the never-called ones (NULL there, is_called = false — every sequence of an empty
 * table) are then read together, each from its own relation (the value setval must restore), in UNION ALLs.
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
    const states: (SequenceState | undefined)[] = rows.map((r) => (r.v === null ? undefined : { lastValue: r.v, isCalled: true }));
    const uncalled = batch.flatMap((s, i) => (states[i] === undefined ? [{ s, i }] : []));
    {
      // `qualified` is already quoted (ident.ts); the positions are our own integers. Planning grows faster than
      // linearly with the branches of one UNION: UNION_BRANCHES at a time.
      for (let u = 0; u < uncalled.length; u += UNION_BRANCHES) {
        const sql = uncalled
          .slice(u, u + UNION_BRANCHES)
          .map(({ s, i }) => `SELECT ${i} AS i, last_value::text AS v, is_called AS c FROM ${s.qualified}`)
          .join('\nUNION ALL ');
        const { rows: read } = await client.query<{ i: number; v: string; c: boolean }>(sql);
        for (const r of read) states[r.i] = { lastValue: r.v, isCalled: r.c };
      }
    }
    for (let i = 0; i < batch.length; i++) {
      const st = states[i];
      if (!st) throw new Error(`internal: no state read for sequence ${batch[i]!.qualified}`);
      out.push(st);
    }
  }
  return out;
}

const UNION_BRANCHES = 100;

/** Sequences per statement (each one holds a lock until the statement's transaction ends). */
export const SEQUENCE_BATCH = 500;
