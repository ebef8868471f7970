// Sequences: last_value and is_called must match, or the target will hand out keys the source already used.
import { readSequenceStates } from '../catalog/sequences.js';
import type { SequenceInfo } from '../catalog/tables.js';
import type { Client } from '../db/connect.js';
import { classifyError } from '../errors.js';
import type { SequenceReport, SequenceValue } from './types.js';

async function readValues(client: Client, side: string, seqs: SequenceInfo[]): Promise<Map<string, SequenceValue>> {
  const states = await readSequenceStates(client, seqs).catch((err) => {
    throw classifyError(err, `${side}: reading sequences`, {
      phase: 'verify',
      hint: 'grant SELECT on the sequences to the connecting role, or leave them out with --exclude',
    });
  });
  return new Map(seqs.map((seq, i) => [seq.display, states[i]!]));
}

/** `listed`: each side's sequences (listed with its tables, plan.ts listDataRelations). */
export async function compareSequences(source: Client, target: Client, listed: { source: SequenceInfo[]; target: SequenceInfo[] }): Promise<SequenceReport[]> {
  const [s, t] = await Promise.all([readValues(source, 'source', listed.source), readValues(target, 'target', listed.target)]);
  const names = [...new Set([...s.keys(), ...t.keys()])].sort();
  return names.map((name) => {
    const a = s.get(name) ?? null;
    const b = t.get(name) ?? null;
    return { sequence: name, match: !!a && !!b && a.lastValue === b.lastValue && a.isCalled === b.isCalled, source: a, target: b };
  });
}
