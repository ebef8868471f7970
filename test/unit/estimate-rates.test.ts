// Rates the probe could not measure (a sample that read no rows, a zero timing) must never reach the model as
// 0, NaN or Infinity: an infinite step made the simulation loop forever at 100 % CPU (a CI run hung in
// `estimate`). usableRates replaces them with the stated defaults; the simulation itself refuses to spin.
import { describe, expect, it } from 'vitest';
import { tableKey } from '../../src/catalog/table-id.js';
import type { Chunk } from '../../src/copy/plan.js';
import type { BuildJob } from '../../src/copy/schedule.js';
import { DEFAULT_RATES, usableRates, type Rates } from '../../src/estimate/rates.js';
import { simulateDataPhase, type DataPhaseInput } from '../../src/estimate/simulate.js';

const key = tableKey({ schema: 'public', name: 't' });
const input: DataPhaseInput = {
  tables: [{ key, display: 'public.t', heapBytes: 10e6, toastBytes: 0, rows: 1000, columns: 2, format: 'binary' }],
  chunks: [{ schema: 'public', name: 't', chunk: 0, chunks: 1, method: 'whole', lo: null, hi: null, estBytes: 10e6 } as Chunk],
  builds: [
    {
      kind: 'index',
      schema: 'public',
      table: 't',
      name: 't_idx',
      stateName: 't_idx',
      statements: ['CREATE INDEX t_idx ON t (a)'],
      needsData: [key],
      needsKeys: [],
    } satisfies BuildJob,
  ],
  indexBytes: { [JSON.stringify(['public', 't_idx'])]: 0 },
  jobs: 1,
  indexJobs: 1,
};

describe('estimate: rates the model can run on', () => {
  it('a rate of zero stalls the simulation: it throws, it never spins', async () => {
    // indexWrite 0 over 0 index bytes is NaN seconds of work: the loop this guards against.
    await expect(simulateDataPhase(input, { ...DEFAULT_RATES, indexWrite: 0 })).rejects.toThrow(/cannot advance.*public\.t t_idx/);
    await expect(simulateDataPhase(input, { ...DEFAULT_RATES, copy: { text: 0, binary: 0 } })).rejects.toThrow(/cannot advance/);
  });

  it('usableRates replaces zero, negative, NaN and infinite values with the defaults and names them', async () => {
    const bad: Rates = {
      ...DEFAULT_RATES,
      copy: { text: NaN, binary: 0 },
      perTable: { [key]: 0, other: 5e6 },
      perIndex: { a: { seconds: NaN, rows: 10, heapBytes: 1, indexBytes: 1 }, b: { seconds: 0.1, rows: 10, heapBytes: 1, indexBytes: 1 } },
      indexWrite: 0,
      scan: Infinity,
      chunkOverhead: -1,
      capacity: 0.5,
      contention: { copy: { copy: 0.5, build: NaN }, build: { copy: 0.5, build: 0.5 } },
      foreignKeyRows: 0,
      foreignKeySampleRows: 100,
      parallelBuild: { processes: 3, speedup: Infinity },
      commitFlush: { bytes: 0, seconds: 0.002 },
    };
    const { rates, replaced } = usableRates(bad);
    expect(replaced.sort()).toEqual(
      [
        'capacity',
        'chunkOverhead',
        'commitFlush',
        'contention',
        'copy.binary',
        'copy.text',
        'foreignKeyRows',
        'indexWrite',
        'parallelBuild',
        `perIndex a`,
        `perTable ${key}`,
        'scan',
      ].sort(),
    );
    expect(rates.copy).toEqual(DEFAULT_RATES.copy);
    expect(rates.perTable).toEqual({ other: 5e6 });
    expect(Object.keys(rates.perIndex)).toEqual(['b']);
    expect(rates.contention).toBeUndefined();
    expect(rates.foreignKeyRows).toBeUndefined();
    expect(rates.parallelBuild).toBeUndefined();
    expect(rates.commitFlush).toBeUndefined();
    expect([rates.indexWrite, rates.scan, rates.chunkOverhead, rates.capacity]).toEqual([
      DEFAULT_RATES.indexWrite,
      DEFAULT_RATES.scan,
      DEFAULT_RATES.chunkOverhead,
      DEFAULT_RATES.capacity,
    ]);
    // What is left runs: the phase ends, at a finite time.
    const sim = await simulateDataPhase(input, rates);
    expect(Number.isFinite(sim.seconds) && sim.seconds > 0).toBe(true);
    // Good rates pass unchanged.
    expect(usableRates(DEFAULT_RATES)).toEqual({ rates: DEFAULT_RATES, replaced: [] });
  });
});
