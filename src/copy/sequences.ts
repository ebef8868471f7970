// Sequences: the source's last_value/is_called, read right after the snapshot, set on the target.
import { readSequenceStates, SEQUENCE_BATCH, type SequenceState } from '../catalog/sequences.js';
import { listSequences, type SequenceInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';

export interface SequenceSetting extends SequenceState {
  sequence: string;
  qualified: string;
}

export async function readSequences(src: Client, sequences: SequenceInfo[]): Promise<SequenceSetting[]> {
  const states = await readSequenceStates(src, sequences);
  return sequences.map((s, i) => ({ sequence: s.display, qualified: s.qualified, ...states[i]! }));
}

/** A round trip per batch, not per sequence (thousands on schema-per-tenant databases). */
export async function applySequences(tgt: Client, values: SequenceSetting[]): Promise<void> {
  for (let at = 0; at < values.length; at += SEQUENCE_BATCH) {
    const batch = values.slice(at, at + SEQUENCE_BATCH);
    await tgt.query(`SELECT pg_catalog.setval(s::regclass, v, c) FROM unnest($1::text[], $2::int8[], $3::bool[]) AS t(s, v, c)`, [
      batch.map((v) => v.qualified),
      batch.map((v) => v.lastValue),
      batch.map((v) => v.isCalled),
    ]);
  }
}

/**
 * Set every target sequence that exists there to the source's current value (replicate's finish: sequences are
 * not replicated). One existence check for all of them, not one per sequence.
 */
export async function syncSequences(src: Client, tgt: Client): Promise<number> {
  const values = await readSequences(src, await listSequences(src));
  const { rows } = await tgt.query<{ ok: boolean }>(`SELECT to_regclass(s) IS NOT NULL AS ok FROM unnest($1::text[]) WITH ORDINALITY AS t(s, i) ORDER BY i`, [
    values.map((v) => v.qualified),
  ]);
  const present = values.filter((_, i) => rows[i]!.ok);
  await applySequences(tgt, present);
  return present.length;
}
