// estimate counts the refresh of the populated materialized views inside the replication freeze (issue #23.5):
// replicate --until-caught-up's finish refreshes them with writes frozen. Modelled from sizes: the tables each
// view's query reads (through plain views), what it writes, and its indexes; shown as its own line per strategy.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SCHEMA = `
CREATE TABLE orders (id integer PRIMARY KEY, customer integer NOT NULL, amount numeric(10,2) NOT NULL, note text);
INSERT INTO orders SELECT g, g % 10, g * 1.5, repeat('n', 100) FROM generate_series(1, 50000) g;
CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;
-- Three rows from 50,000: the refresh costs the scan of orders, not the size of the view.
CREATE MATERIALIZED VIEW totals AS SELECT customer, sum(amount) AS total FROM orders GROUP BY customer;
CREATE UNIQUE INDEX totals_customer ON totals (customer);
CREATE MATERIALIZED VIEW big_totals AS SELECT customer, count(*) AS n FROM big_orders GROUP BY customer;
CREATE MATERIALIZED VIEW never_filled AS SELECT count(*) AS n FROM orders WITH NO DATA;
ANALYZE;
`;

interface Estimate {
  verifySeconds: number;
  phases: { name: string; seconds: number }[];
  rates: { scan: number };
  strategy: {
    dumpRestore: { freezeSeconds: number };
    replication: { freezeSeconds: number; catchUpSeconds: number; foreignKeySeconds: number; matviews: { views: number; seconds: number } };
    verdict: string;
  };
}

describe('pgshift estimate: materialized views in the replication freeze', () => {
  let src: TestDatabase;
  let plain: TestDatabase;

  beforeAll(async () => {
    const { pg15 } = inject('clusters');
    [src, plain] = await Promise.all([createDatabase(pg15, { label: 'estmv_src', replication: true }), createDatabase(pg15, { label: 'estmv_plain' })]);
    await Promise.all([src.owner(SCHEMA), plain.owner(`CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100); ANALYZE;`)]);
  });
  afterAll(async () => Promise.all([src?.drop(), plain?.drop()]));

  it('--json: the populated views and their refresh time, counted in the replication freeze, from the size of what they read', async () => {
    const r = await runCli(['estimate', '--source', src.url, '--probe-seconds', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = parseJson<Estimate>(r);
    const mv = e.strategy.replication.matviews;
    expect(mv.views).toBe(2); // never_filled is not populated: neither copy nor the finish refreshes it
    // The same refresh is copy's phase (dump/restore freezes for the whole copy, so it is in there already).
    expect(mv.seconds).toBeCloseTo(e.phases.find((p) => p.name === 'materialized views')!.seconds, 9);
    // Both views read all of orders (one through a plain view): at least two scans of it at the rate used.
    const { rows } = await src.admin(`SELECT pg_table_size('orders') AS b`);
    expect(mv.seconds).toBeGreaterThanOrEqual((2 * Number(rows[0].b)) / e.rates.scan);
    // No sequences on this source: the freeze is catch-up + fixed finish + keys + views + verify.
    const rep = e.strategy.replication;
    expect(rep.freezeSeconds).toBeCloseTo(rep.catchUpSeconds + 0.5 + rep.foreignKeySeconds + mv.seconds + e.verifySeconds, 6);
    expect(e.strategy.verdict).toMatch(/refresh 2 materialized view\(s\)/);

    const text = await runCli(['estimate', '--source', src.url, '--probe-seconds', '1']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/replication: +catch-up [\d.]+s \+ sequences \+ materialized views [\d.]+s \+ verify/);
    expect(text.stdout).toMatch(
      /\n {4}materialized views: [\d.]+s at replicate's finish \(2 populated view\(s\), refreshed in dependency order\); --no-refresh-matviews removes it from the freeze/,
    );
    expect(text.stdout).toMatch(/\n {4}materialized views: [\d.]+s of the copy \(2 populated view\(s\) refreshed on the target\)/);
  });

  it('a source without materialized views: zero, and no line', async () => {
    const r = await runCli(['estimate', '--source', plain.url, '--probe-seconds', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson<Estimate>(r).strategy.replication.matviews).toEqual({ views: 0, seconds: 0 });
    const text = await runCli(['estimate', '--source', plain.url, '--probe-seconds', '1']);
    expect(text.stdout).not.toContain('materialized views:');
  });
});
