// Sequences: last_value and is_called must match, or the target will hand out keys the source already used.
import { listSequences } from '../catalog/tables.js';
import type { TableFilter } from '../catalog/filter.js';
import type { Client } from '../db/connect.js';
import { classifyError } from '../errors.js';
import type { SequenceReport, SequenceValue } from './types.js';

async function readValues(client: Client, side: string, filter: Partial<TableFilter>): Promise<Map<string, SequenceValue>> {
  const out = new Map<string, SequenceValue>();
  for (const seq of await listSequences(client, filter)) {
    // A sequence is a one-row relation; its state is not transactional, so this is its current value.
    const { rows } = await client
      .query<{ v: string; c: boolean }>(`SELECT last_value::text AS v, is_called AS c FROM ${seq.qualified}`)
      .catch((err) => {
        throw classifyError(err, `${side} sequence ${seq.display}`, {
          phase: 'verify',
          object: seq.display,
          hint: 'grant SELECT on the sequence to the connecting role, or leave it out with --exclude',
        });
      });
    out.set(seq.display, { lastValue: rows[0]!.v, isCalled: rows[0]!.c });
  }
  return out;
}

export async function compareSequences(source: Client, target: Client, filter: Partial<TableFilter>): Promise<SequenceReport[]> {
  const [s, t] = await Promise.all([readValues(source, 'source', filter), readValues(target, 'target', filter)]);
  const names = [...new Set([...s.keys(), ...t.keys()])].sort();
  return names.map((name) => {
    const a = s.get(name) ?? null;
    const b = t.get(name) ?? null;
    return { sequence: name, match: !!a && !!b && a.lastValue === b.lastValue && a.isCalled === b.isCalled, source: a, target: b };
  });
}
