// Sequences: the source's last_value/is_called, read on the snapshot connection, set on the target.
import type { SequenceInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';

export interface SequenceValue {
  sequence: string;
  qualified: string;
  lastValue: string;
  isCalled: boolean;
}

// Sequence reads are not transactional: this is the value at the time of reading, read right after the snapshot.
export async function readSequences(src: Client, sequences: SequenceInfo[]): Promise<SequenceValue[]> {
  const out: SequenceValue[] = [];
  for (const s of sequences) {
    const { rows } = await src.query(`SELECT last_value::text AS last_value, is_called FROM ${s.qualified}`);
    out.push({ sequence: s.display, qualified: s.qualified, lastValue: rows[0].last_value, isCalled: rows[0].is_called });
  }
  return out;
}

export async function applySequences(tgt: Client, values: SequenceValue[]): Promise<void> {
  for (const v of values) {
    await tgt.query(`SELECT pg_catalog.setval($1::regclass, $2::bigint, $3)`, [v.qualified, v.lastValue, v.isCalled]);
  }
}
