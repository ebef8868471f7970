// verify's totalsOnly (what pgshift cutover times before its freeze, writes still going on): every table is read
// once, as an equal verify reads it, and a differing table is reported different without being narrowed down to
// buckets and rows — the reads that made the cutover's predicted verify 3–4 times the measured one under pgbench.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { verifyDatabases } from '../../src/verify/index.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SEED = `
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
INSERT INTO accounts SELECT g, g FROM generate_series(1, 5000) g;
CREATE TABLE quiet (id int PRIMARY KEY, v text);
INSERT INTO quiet SELECT g, 'v' || g FROM generate_series(1, 100) g;
`;

describe('verify totalsOnly: read once, never narrowed', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'vtot_src' }), createDatabase(pg17, { label: 'vtot_tgt' })]);
    await Promise.all([src.owner(SEED), tgt.owner(SEED)]);
    // A write the target has not received yet, as under a running pgbench.
    await src.owner(`UPDATE accounts SET balance = balance + 1 WHERE id = 4242`);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop()]));

  const specs = () => [parseConnectionUrl(src.url, 'source'), parseConnectionUrl(tgt.url, 'target')] as const;

  it('a differing table is reported different with no rows located; an equal one equal', async () => {
    const [s, t] = specs();
    const r = await verifyDatabases(s, t, { mode: 'offline', totalsOnly: true });
    expect(r.ok).toBe(false);
    const accounts = r.tables.find((x) => x.table === 'public.accounts')!;
    expect(accounts).toMatchObject({ match: false, sourceRows: 5000, targetRows: 5000, differingBuckets: 0, differentRows: 0 });
    expect(accounts.differences).toEqual([]);
    expect(accounts.notes).toContain('totals differ (not narrowed: totals only)');
    expect(r.tables.find((x) => x.table === 'public.quiet')).toMatchObject({ match: true, sourceRows: 100 });
  });

  it('without it, the same verify narrows the difference down to the row (the proof inside the freeze)', async () => {
    const [s, t] = specs();
    const r = await verifyDatabases(s, t, { mode: 'offline' });
    const accounts = r.tables.find((x) => x.table === 'public.accounts')!;
    expect(accounts).toMatchObject({ match: false, differentRows: 1 });
    expect(accounts.differences).toHaveLength(1);
  });
});
