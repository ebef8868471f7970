// verify reports materialized views as derived data (issue #23.5): contents that differ are named apart from
// the tables, never counted as lost rows, and still exit 1 (after a cutover the application would read the stale
// rows); the populated state (WITH DATA / WITH NO DATA) is always compared. Each printed remedy is followed as
// written, and the databases then compare equal (test/support/compare.ts, not pgshift's verify).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SCHEMA = `
CREATE TABLE orders (id integer PRIMARY KEY, customer integer NOT NULL, amount numeric(10,2) NOT NULL);
INSERT INTO orders SELECT g, g % 10, g * 1.5 FROM generate_series(1, 500) g;
CREATE MATERIALIZED VIEW totals AS SELECT customer, sum(amount) AS total, count(*) AS n FROM orders GROUP BY customer;
CREATE MATERIALIZED VIEW oldest AS SELECT min(id) AS id FROM orders; -- the rows added later do not change it
CREATE MATERIALIZED VIEW lazy AS SELECT count(*) AS n FROM orders WITH NO DATA;
`;

interface Derived {
  table: string;
  match: boolean;
  comparedAs: string;
  populated: { source: boolean | null; target: boolean | null };
  definition: string;
  remedy: string | null;
}
interface Report {
  ok: boolean;
  tables: { table: string; match: boolean }[];
  derived: Derived[];
  summary: { tablesDiffering: number; derivedDiffering: number };
  nextSteps: { about: string; text: string }[];
}

describe('pgshift verify: materialized views are derived data (15 → 17)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'vderived_src' }), createDatabase(pg17, { label: 'vderived_tgt' })]);
    await src.owner(SCHEMA);
    const c = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(c.code, c.stderr).toBe(0);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop()]));

  const verify = async () => {
    const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
    const text = await runCli(['verify', '--source', src.url, '--target', tgt.url]);
    expect(text.code, text.stderr).toBe(r.code);
    return { code: r.code, rep: parseJson<Report>(r), text: text.stdout };
  };
  const view = (rep: Report, name: string) => rep.derived.find((d) => d.table === name)!;

  /** Run, as the owner on the target, every REFRESH the printed remedies say to run "on the target". */
  const followOnTarget = async (text: string) => {
    const statements = [...text.matchAll(/(REFRESH MATERIALIZED VIEW [^\s()]+(?: WITH NO DATA)?) on the target/g)].map((m) => m[1]!);
    expect(statements.length).toBeGreaterThan(0);
    for (const s of new Set(statements)) await tgt.owner(s);
    return [...new Set(statements)];
  };

  it('right after the copy: equal, the unpopulated view on both sides included', async () => {
    const { code, rep } = await verify();
    expect(code).toBe(0);
    expect(rep.tables.map((t) => t.table)).toEqual(['public.orders']);
    expect(rep.derived.map((d) => [d.table, d.match, d.populated])).toEqual([
      ['public.lazy', true, { source: false, target: false }],
      ['public.oldest', true, { source: true, target: true }],
      ['public.totals', true, { source: true, target: true }],
    ]);
  });

  it('a view refreshed on the source after the copy: named as derived, not as lost rows; exit 1; the printed refresh makes it equal', async () => {
    // The same new rows on both sides (as replication would bring them): only the source's view is refreshed.
    const rows = `INSERT INTO orders SELECT g, g % 10, g * 2 FROM generate_series(1000, 1099) g`;
    await src.owner(`${rows}; REFRESH MATERIALIZED VIEW totals`);
    await tgt.owner(rows);
    const { code, rep, text } = await verify();
    expect(code).toBe(1);
    expect(rep.ok).toBe(false);
    expect(rep.summary).toMatchObject({ tablesDiffering: 0, derivedDiffering: 1 });
    expect(rep.tables.every((t) => t.match)).toBe(true);
    expect(view(rep, 'public.totals')).toMatchObject({ match: false, comparedAs: 'multiset', definition: 'equal', populated: { source: true, target: true } });
    expect(view(rep, 'public.totals').remedy).toMatch(/^derived: refresh on the target or the source — REFRESH MATERIALIZED VIEW public\.totals on the target/);
    expect(rep.nextSteps.map((s) => s.about)).toEqual(['derived']);
    expect(text).toContain('Derived data — materialized views (3): 1 differ');
    expect(text).toMatch(/✗ public\.totals: contents differ \(source 10 rows, target 10: 10 row\(s\) only on the source, 10 only on the target\)/);
    expect(text).toMatch(/Tables \(1\)[\s\S]*✓\s+public\.orders\s+600\s+600/);
    expect(text).not.toMatch(/TRUNCATE|table\(s\) differ/);

    expect(await followOnTarget(text)).toEqual(['REFRESH MATERIALIZED VIEW public.totals']);
    expect((await verify()).code).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('a view populated on one side only, either way: both named with their populated state; the printed statements make them equal', async () => {
    await tgt.owner(`REFRESH MATERIALIZED VIEW lazy; REFRESH MATERIALIZED VIEW oldest WITH NO DATA`);
    const { code, rep, text } = await verify();
    expect(code).toBe(1);
    expect(rep.summary).toMatchObject({ tablesDiffering: 0, derivedDiffering: 2 });
    expect(view(rep, 'public.lazy')).toMatchObject({ match: false, populated: { source: false, target: true } });
    expect(view(rep, 'public.oldest')).toMatchObject({ match: false, populated: { source: true, target: false } });
    expect(text).toContain('✗ public.lazy: populated on the target only (WITH NO DATA on the source, WITH DATA on the target)');
    expect(text).toContain('✗ public.oldest: populated on the source only (WITH DATA on the source, WITH NO DATA on the target)');
    expect(view(rep, 'public.oldest').remedy).toBe('derived: refresh on the target — REFRESH MATERIALIZED VIEW public.oldest on the target');

    expect((await followOnTarget(text)).sort()).toEqual(['REFRESH MATERIALIZED VIEW public.lazy WITH NO DATA', 'REFRESH MATERIALIZED VIEW public.oldest']);
    expect((await verify()).code).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('a view whose definition differs: named in the schema and as derived', async () => {
    await tgt.owner(`DROP MATERIALIZED VIEW oldest; CREATE MATERIALIZED VIEW oldest AS SELECT max(id) AS id FROM orders`);
    const { code, rep } = await verify();
    expect(code).toBe(1);
    expect(view(rep, 'public.oldest')).toMatchObject({ match: false, definition: 'different' });
    expect(view(rep, 'public.oldest').remedy).toMatch(/^recreate it on the target from the source definition/);
  });
});
