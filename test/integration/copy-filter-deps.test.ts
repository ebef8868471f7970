// --include/--exclude that leave out something a copied object depends on (issue #8.3): refused in preflight
// (exit 2, nothing written) with each dependent object and the flags that work; those flags then copy. A column
// comment on a left-out table whose name needs quoting goes with it. A schema step that fails says how to start over.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { compareDatabases, formatDifference } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SOURCE = `
CREATE TABLE customers (id int PRIMARY KEY, name text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric);
CREATE TABLE items (id int PRIMARY KEY, sku text);
CREATE VIEW v_items AS SELECT id, sku FROM items;
CREATE VIEW v_items_2 AS SELECT id FROM v_items WHERE id > 1;
CREATE MATERIALIZED VIEW mv_items AS SELECT count(*) AS n FROM items;
CREATE TABLE "Ledger" (id int PRIMARY KEY, amount numeric);
CREATE FUNCTION ledger_total() RETURNS numeric LANGUAGE sql STABLE BEGIN ATOMIC SELECT sum(amount) FROM "Ledger"; END;
CREATE TABLE counters (id int PRIMARY KEY);
CREATE SEQUENCE counter_seq OWNED BY counters.id;
CREATE TABLE tickets (id bigint PRIMARY KEY DEFAULT nextval('counter_seq'), title text);
CREATE TABLE "Audit Log" ("Event Id" int PRIMARY KEY, "What" text);
COMMENT ON TABLE "Audit Log" IS 'left out whole';
COMMENT ON COLUMN "Audit Log"."What" IS 'a column comment on a table whose name needs quoting';
COMMENT ON CONSTRAINT "Audit Log_pkey" ON "Audit Log" IS 'and a key comment';
CREATE TABLE secrets (id int PRIMARY KEY, tenant text);
CREATE TABLE notes (id int PRIMARY KEY, tenant text, body text);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_known_tenant ON notes USING (EXISTS (SELECT 1 FROM secrets s WHERE s.tenant = notes.tenant));
CREATE RULE notes_keep_secret AS ON DELETE TO notes DO ALSO DELETE FROM secrets WHERE secrets.id = OLD.id;
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
INSERT INTO orders SELECT g, 1 + g % 50, g * 1.5 FROM generate_series(1, 200) g;
INSERT INTO items SELECT g, 'sku' || g FROM generate_series(1, 30) g;
INSERT INTO "Ledger" SELECT g, g FROM generate_series(1, 10) g;
INSERT INTO tickets (title) SELECT 't' || g FROM generate_series(1, 5) g;
INSERT INTO "Audit Log" SELECT g, 'e' || g FROM generate_series(1, 10) g;
REFRESH MATERIALIZED VIEW mv_items;`;

describe('copy --include/--exclude checks dependencies before writing anything', () => {
  let src: TestDatabase;
  const targets: TestDatabase[] = [];
  const target = async (label: string) => {
    const t = await createDatabase(inject('clusters').pg17, { label });
    targets.push(t);
    return t;
  };
  const untouched = async (t: TestDatabase) =>
    (await t.admin(`SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'pgshift')`)).rows[0]
      .n === 0;

  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'deps_src' });
    await src.owner(SOURCE);
  });
  afterAll(async () => Promise.all([src?.drop(), ...targets.map((t) => t.drop())]));

  it('a view and a materialized view over a left-out table: refused with the --exclude flags for the whole chain, which then work', async () => {
    const tgt = await target('deps_views');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', 'public.items']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/view public\.v_items depends on table public\.items/);
    expect(r.stderr).toMatch(/materialized view public\.mv_items depends on table public\.items/);
    expect(r.stderr).toMatch(/--exclude public\.(v_items|mv_items)/);
    expect(r.stderr).toContain('--exclude public.v_items_2'); // the view over the view, too
    expect(await untouched(tgt)).toBe(true);

    const flags = [...r.stderr.matchAll(/--exclude (public\.\S+?)[;,\s]/g)].map((m) => m[1]!);
    const ok = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', 'public.items', ...flags.flatMap((f) => ['--exclude', f])]);
    expect(ok.code, ok.stderr).toBe(0);
    const left = /public\.(v_|mv_)?items/;
    const diffs = (await compareDatabases(src, tgt)).filter((d) => !left.test(d.object));
    expect(diffs.map(formatDifference)).toEqual([]);
    expect((await tgt.admin(`SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('items', 'v_items', 'v_items_2', 'mv_items')`)).rows[0].n).toBe(0);
  });

  it('a foreign key pointing at a left-out table: refused, naming the key and --exclude of its table', async () => {
    const tgt = await target('deps_fk');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', 'public.customers']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/constraint orders_customer_id_fkey on table public\.orders depends on table public\.customers/);
    expect(r.stderr).toContain('--exclude public.orders');
    expect(await untouched(tgt)).toBe(true);
  });

  it('a function whose body names a left-out table: refused, saying no flag leaves a function out', async () => {
    const tgt = await target('deps_fn');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', 'public.Ledger']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/function public\.ledger_total\(\) depends on table public\."Ledger"/);
    expect(r.stderr).toMatch(/cannot be left out with --exclude/);
    expect(await untouched(tgt)).toBe(true);
  });

  it('a default drawing on a sequence owned by a left-out table: refused, naming the column default', async () => {
    const tgt = await target('deps_seq');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', 'public.counters']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/default value for column id of table public\.tickets depends on sequence public\.counter_seq/);
    expect(await untouched(tgt)).toBe(true);
  });

  it('a policy and a rule of a copied table that read a left-out one: refused, naming both', async () => {
    const tgt = await target('deps_policy');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', 'public.secrets']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/policy notes_known_tenant on table public\.notes depends on table public\.secrets/);
    expect(r.stderr).toMatch(/rule notes_keep_secret on table public\.notes depends on table public\.secrets/);
    expect(r.stderr).toContain('--exclude public.notes');
    expect(await untouched(tgt)).toBe(true);
  });

  it('a left-out table whose name needs quoting takes its table, column and key comments with it', async () => {
    const tgt = await target('deps_quoted');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', 'public.Audit Log']);
    expect(r.code, r.stderr).toBe(0);
    const diffs = (await compareDatabases(src, tgt)).filter((d) => !/Audit Log/.test(d.object));
    expect(diffs.map(formatDifference)).toEqual([]);
    expect((await tgt.admin(`SELECT count(*)::int AS n FROM pg_description d JOIN pg_class c ON c.oid = d.objoid WHERE c.relname = 'tickets'`)).rows[0].n).toBe(
      0,
    );
  });

  it('--data-only --include of a table with a foreign key to a left-out one is fine: no schema is restored', async () => {
    const tgt = await target('deps_dataonly');
    expect((await runCli(['copy', '--source', src.url, '--target', tgt.url, '--schema-only'])).code).toBe(0);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--data-only', '--include', 'public.customers']);
    expect(r.code, r.stderr).toBe(0);
    const r2 = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--data-only', '--include', 'public.orders']);
    expect(r2.code, r2.stderr).toBe(0);
    expect((await tgt.admin(`SELECT count(*)::int AS n FROM orders`)).rows[0].n).toBe(200);
  });

  it('a schema step that fails names a way out that works: cleanup --force, then a fresh run', async () => {
    const tgt = await target('deps_circle');
    // --keep-owner names a role the target does not have: pre-data fails; starting over without it works.
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--keep-owner']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/pgshift cleanup --target <same URL> --force, .*then pgshift copy again/);
    expect((await runCli(['cleanup', '--target', tgt.url, '--force'])).code).toBe(0);
    const fresh = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect((await compareDatabases(src, tgt)).map(formatDifference)).toEqual([]);
  });
});
