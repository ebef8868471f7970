// The probe's schema sample as the model gets it: a measured per-statement cost with the note that says how it
// was measured, or, when the target refused the sample, no cost (the stated default stays) and a note that
// names copy's future failure and where to look.
import { describe, expect, it } from 'vitest';
import { median } from '../../src/estimate/median.js';
import { schemaRates } from '../../src/estimate/probe-schema.js';

const sample = { sql: 'CREATE TABLE public.t (id int);', statements: 412, entries: 400, of: 800 };

describe('estimate probe: schema sample', () => {
  it('a measured sample gives its cost per statement and says what was applied', () => {
    const r = schemaRates(sample, { perStatement: 0.0012, seconds: 0.5 });
    expect(r.perObject).toBe(0.0012);
    expect(r.note).toBe('schema: the first 400 of 800 pre-data entries (412 statements) applied on the target in 0.50s and rolled back: 1.20 ms per statement');
  });

  it('a refused sample gives no cost and points to inventory', () => {
    const r = schemaRates(sample, { refused: 'type "mood" already exists' });
    expect(r.perObject).toBeUndefined();
    expect(r.note).toContain('the target refused the first 400 pre-data entries (type "mood" already exists)');
    expect(r.note).toContain('pgshift inventory --source … --target …');
  });

  it('median: the middle value, the mean of the middle two, 0 for none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBe(0);
  });
});
