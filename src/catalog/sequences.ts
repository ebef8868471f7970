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
