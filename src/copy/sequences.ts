// Sequences: the source's last_value/is_called, read right after the snapshot, set on the target.
import { readSequenceState, type SequenceState } from '../catalog/sequences.js';
import type { SequenceInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';

export interface SequenceSetting extends SequenceState {
  sequence: string;
  qualified: string;
}

export async function readSequences(src: Client, sequences: SequenceInfo[]): Promise<SequenceSetting[]> {
  const out: SequenceSetting[] = [];
  for (const s of sequences) out.push({ sequence: s.display, qualified: s.qualified, ...(await readSequenceState(src, s)) });
  return out;
}

export async function applySequences(tgt: Client, values: SequenceSetting[]): Promise<void> {
  for (const v of values) {
    await tgt.query(`SELECT pg_catalog.setval($1::regclass, $2::bigint, $3)`, [v.qualified, v.lastValue, v.isCalled]);
  }
}
