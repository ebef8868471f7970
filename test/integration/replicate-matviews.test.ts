// Materialized views at the end of a live migration (issue #23): not replicated, so --until-caught-up's finish
// refreshes on the target those populated on the source — in dependency order — unless --no-refresh-matviews.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { isCaptureObject } from '../support/capture.js';

const SCHEMA = `
CREATE TABLE orders (id integer PRIMARY KEY, customer integer NOT NULL, amount numeric(10,2) NOT NULL);
INSERT INTO orders SELECT g, g % 10, g * 1.5 FROM generate_series(1, 500) g;
CREATE MATERIALIZED VIEW totals AS SELECT customer, sum(amount) AS total, count(*) AS n FROM orders GROUP BY customer;
CREATE MATERIALIZED VIEW top_customers AS SELECT customer, total FROM totals WHERE total > 18000;
CREATE MATERIALIZED VIEW never_filled AS SELECT count(*) AS n FROM orders WITH NO DATA;
`;

async function contents(db: TestDatabase, view: string): Promise<string> {
  const { rows } = await db.admin(`SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') AS s FROM ${view} t`);
  return rows[0].s;
}

describe('replicate --until-caught-up: materialized views at the finish', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'mv_src', replication: true }), createDatabase(pg17, { label: 'mv_tgt' })]);
    await src.owner(SCHEMA);
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  const changeAndRefreshSource = async (n: number) => {
    await src.owner(`INSERT INTO orders SELECT g, g % 10, g * 2 FROM generate_series(${n}, ${n + 99}) g;
      REFRESH MATERIALIZED VIEW totals; REFRESH MATERIALIZED VIEW top_customers;`);
  };

  it("--no-refresh-matviews leaves the target's views as old as the copy", async () => {
    const before = await contents(tgt, 'totals');
    await changeAndRefreshSource(10_000);
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--no-refresh-matviews', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson<{ matviews: unknown }>(r).matviews).toBe(null);
    expect(await contents(tgt, 'totals')).toBe(before);
    expect(await contents(tgt, 'totals')).not.toBe(await contents(src, 'totals'));
  });

  it('the finish refreshes the populated ones (a view on a view included), says how long, and leaves unpopulated ones alone', async () => {
    await changeAndRefreshSource(20_000);
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = parseJson<{ matviews: { views: number; seconds: number } }>(r);
    expect(out.matviews.views).toBe(2);
    for (const v of ['totals', 'top_customers']) expect(await contents(tgt, v), v).toBe(await contents(src, v));
    const { rows } = await tgt.admin(`SELECT relispopulated FROM pg_class WHERE relname = 'never_filled'`);
    expect(rows[0].relispopulated).toBe(false);
    await expectSameDatabase(src, tgt);
  });
});

describe('replicate --capture triggers --until-caught-up: materialized views at the finish', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'mvc_src' }), createDatabase(pg17, { label: 'mvc_tgt' })]);
    await src.owner(SCHEMA);
    const r = await runCli(['replicate', '--capture', 'triggers', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it("refreshes the target's populated views once caught up", async () => {
    await src.owner(`INSERT INTO orders SELECT g, g % 10, g * 2 FROM generate_series(30000, 30099) g;
      REFRESH MATERIALIZED VIEW totals; REFRESH MATERIALIZED VIEW top_customers;`);
    const r = await runCli(['replicate', '--capture', 'triggers', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson<{ matviews: { views: number } }>(r).matviews.views).toBe(2);
    for (const v of ['totals', 'top_customers']) expect(await contents(tgt, v), v).toBe(await contents(src, v));
    // The capture's own objects live on the source only.
    await expectSameDatabase(src, tgt, { ignore: isCaptureObject });
  });
});
