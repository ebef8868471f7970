// copy beyond the happy path: Heroku's internal schemas, unreadable tables, --include/--exclude,
// --schema-only then --data-only, --resume with nothing to resume. Every successful copy ends with the
// independent comparison of test/support/compare.ts.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { compareDatabases, expectSameDatabase, tableRowCounts } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('pgshift copy: modes, filters and refusals', () => {
  let src: TestDatabase;
  const targets: TestDatabase[] = [];
  const target = async (label: string) => {
    const t = await createDatabase(inject('clusters').pg17, { label });
    targets.push(t);
    return t;
  };
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'modes_src' });
    await src.owner(`
      CREATE SCHEMA heroku_ext;
      CREATE EXTENSION pgcrypto WITH SCHEMA heroku_ext;
      CREATE TABLE customers (id int PRIMARY KEY, token bytea DEFAULT heroku_ext.gen_random_bytes(8), name text);
      INSERT INTO customers (id, name) SELECT g, 'c' || g FROM generate_series(1, 2000) g;
      CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, note text);
      INSERT INTO orders (customer_id, note) SELECT 1 + g % 2000, repeat('n', g % 50) FROM generate_series(1, 5000) g;
      CREATE TABLE audit_trail (at timestamptz DEFAULT now(), what text);
      CREATE FUNCTION trail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit_trail(what) VALUES (TG_TABLE_NAME); RETURN NEW; END $$;
      CREATE TRIGGER orders_trail AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION trail();
      CREATE TABLE scratch_log (line text);
      INSERT INTO scratch_log SELECT 'line ' || g FROM generate_series(1, 100) g;
    `);
    // What Heroku installs as a superuser: an internal schema with an event trigger a customer role can't recreate.
    await src.admin(`
      CREATE SCHEMA _heroku;
      CREATE FUNCTION _heroku.watch_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
      CREATE EVENT TRIGGER _heroku_watch ON ddl_command_end EXECUTE FUNCTION _heroku.watch_ddl();
    `);
  });
  afterAll(async () => {
    await src?.admin(`DROP EVENT TRIGGER IF EXISTS _heroku_watch`);
    await Promise.all([src?.drop(), ...targets.map((t) => t.drop())]);
  });

  it('copies a Heroku-shaped source into a non-superuser target: heroku_ext kept, _heroku event trigger skipped', async () => {
    const tgt = await target('modes_heroku');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skipped event trigger _heroku_watch \(its function is in a schema pgshift does not copy/);
    expect(r.stdout).toMatch(/Copied 4 tables/);
    expect((await tgt.admin(`SELECT extnamespace::regnamespace::text AS ns FROM pg_extension WHERE extname = 'pgcrypto'`)).rows).toEqual([
      { ns: 'heroku_ext' },
    ]);
    // The only differences allowed: the _heroku schema and its function, which pgshift leaves behind on purpose.
    const diffs = await compareDatabases(src, tgt);
    expect(diffs.filter((d) => !/_heroku/.test(d.object))).toEqual([]);
  });

  it('refuses when the source role cannot read a table: exit 3, the table named, the target untouched', async () => {
    await src.admin(`CREATE TABLE private_notes (id int PRIMARY KEY); REVOKE ALL ON private_notes FROM PUBLIC`);
    try {
      const tgt = await target('modes_denied');
      const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--json']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/cannot read public\.private_notes/);
      expect(r.stderr).toMatch(/GRANT SELECT ON public\.private_notes/);
      expect(parseJson(r)).toMatchObject({ ok: false, error: { exitCode: 3, phase: 'preflight' } });
      expect((await tgt.admin(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgshift'`)).rows[0].n).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(src.password);
    } finally {
      await src.admin(`DROP TABLE private_notes`);
    }
  });

  it("refuses up front when the source role's connection limit leaves no room for --jobs (exit 2)", async () => {
    await src.admin(`ALTER ROLE "${src.role}" CONNECTION LIMIT 3`);
    try {
      const tgt = await target('modes_connlimit');
      const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '4']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/room for 2 more connection\(s\) \(limited by the role's CONNECTION LIMIT\), and this copy needs 4/);
      expect(r.stderr).toMatch(/lower --jobs/);
      expect((await tgt.admin(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgshift'`)).rows[0].n).toBe(0);
      // Within the limit it goes through: coordinator + 2 workers = 3.
      const ok = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '2']);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      await src.admin(`ALTER ROLE "${src.role}" CONNECTION LIMIT -1`);
    }
  });

  it('never copies a subset silently: a table whose row-level security would hide rows fails the copy (exit 3)', async () => {
    await src.owner(`
      CREATE TABLE tenant_notes (id int PRIMARY KEY, tenant text);
      INSERT INTO tenant_notes SELECT g, 't' || (g % 3) FROM generate_series(1, 30) g;
      ALTER TABLE tenant_notes ENABLE ROW LEVEL SECURITY;
      ALTER TABLE tenant_notes FORCE ROW LEVEL SECURITY;
      CREATE POLICY only_t0 ON tenant_notes USING (tenant = 't0');`);
    try {
      const tgt = await target('modes_rls');
      const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/row-level security would hide rows of public\.tenant_notes/);
      expect(r.stderr).toMatch(/BYPASSRLS/);
      expect((await tgt.admin(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgshift'`)).rows[0].n).toBe(0);
    } finally {
      await src.owner(`DROP TABLE tenant_notes`);
    }
  });

  it('copies a table without columns (its rows still count)', async () => {
    await src.owner(`CREATE TABLE heartbeat (); INSERT INTO heartbeat DEFAULT VALUES; INSERT INTO heartbeat DEFAULT VALUES;`);
    try {
      const tgt = await target('modes_nocols');
      const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--include', 'public.heartbeat', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect((await tgt.owner(`SELECT count(*)::int AS n FROM heartbeat`)).rows[0].n).toBe(2);
    } finally {
      await src.owner(`DROP TABLE heartbeat`);
    }
  });

  it('--exclude leaves the matching tables out, data and definition', async () => {
    const tgt = await target('modes_exclude');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', 'public.scratch_*', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r).tables).toBe(3);
    const counts = await tableRowCounts(tgt);
    expect(counts.get('public.orders')).toBe(5000);
    expect(counts.has('public.scratch_log')).toBe(false); // left out whole: definition and rows
    // Everything else is identical; the only differences are the excluded table (and Heroku's internals).
    const diffs = (await compareDatabases(src, tgt)).filter((d) => !/_heroku/.test(d.object));
    expect(diffs.length).toBeGreaterThan(0);
    expect(diffs.filter((d) => !/scratch_log/.test(d.object))).toEqual([]);
  });

  it('--schema-only, then --data-only into that schema, gives the same database without firing triggers', async () => {
    const tgt = await target('modes_split');
    const s = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--schema-only', '--json']);
    expect(s.code, s.stderr).toBe(0);
    expect(parseJson(s)).toMatchObject({ mode: 'schema-only', rows: 0 });
    expect((await tableRowCounts(tgt)).get('public.orders')).toBe(0);
    // A fresh run may not start over a finished one's state: data-only ignores the empty-target rule only.
    const d = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--data-only', '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(parseJson(d)).toMatchObject({ mode: 'data-only', rows: 2000 + 5000 + 100 });
    expect((await tableRowCounts(tgt)).get('public.audit_trail')).toBe(0);
    const enabled = await tgt.admin(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'orders_trail'`);
    expect(enabled.rows).toEqual([{ tgenabled: 'O' }]); // re-enabled after the load
    const diffs = await compareDatabases(src, tgt);
    expect(diffs.filter((d) => !/_heroku/.test(d.object))).toEqual([]);
  });

  it('--data-only that fails mid-load names the table, keeps triggers and keys recorded, and --resume restores them', async () => {
    const tgt = await target('modes_dataonly_fail');
    expect((await runCli(['copy', '--source', src.url, '--target', tgt.url, '--schema-only'])).code).toBe(0);
    // A target-only rule the source rows break: the load of public.orders fails.
    await tgt.owner(`ALTER TABLE orders ADD CONSTRAINT short_notes CHECK (length(note) < 40)`);
    const failed = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--data-only']);
    expect(failed.code).toBe(4);
    expect(failed.stderr).toMatch(/data: copying public\.orders.*short_notes/);
    expect(failed.stderr).toMatch(/--resume/);
    // While interrupted, the disabled trigger and the dropped key are on record, not lost.
    expect((await tgt.owner(`SELECT tbl, name FROM pgshift.copy_trigger`)).rows).toEqual([{ tbl: 'public.orders', name: 'orders_trail' }]);
    expect((await tgt.owner(`SELECT name FROM pgshift.copy_fk`)).rows).toEqual([{ name: 'orders_customer_id_fkey' }]);

    await tgt.owner(`ALTER TABLE orders DROP CONSTRAINT short_notes`);
    const resumed = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--resume', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await tgt.admin(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'orders_trail'`)).rows).toEqual([{ tgenabled: 'O' }]);
    expect((await tgt.admin(`SELECT convalidated FROM pg_constraint WHERE conname = 'orders_customer_id_fkey'`)).rows).toEqual([{ convalidated: true }]);
    expect((await tableRowCounts(tgt)).get('public.audit_trail')).toBe(0);
    const diffs = await compareDatabases(src, tgt);
    expect(diffs.filter((d) => !/_heroku/.test(d.object))).toEqual([]);
  });

  it('--data-only refuses a target table that already has rows (exit 2)', async () => {
    const tgt = await target('modes_dirty');
    expect((await runCli(['copy', '--source', src.url, '--target', tgt.url, '--schema-only'])).code).toBe(0);
    await tgt.owner(`INSERT INTO scratch_log VALUES ('already here')`);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--data-only']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/table public\.scratch_log on the target already has rows/);
  });

  it('--resume with nothing to resume is a usage error (exit 2); --resume after success does nothing', async () => {
    const tgt = await target('modes_resume');
    const none = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--resume']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no pgshift copy to resume/);
    expect((await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', '_heroku.*'])).code).toBe(0);
    const again = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--resume', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(parseJson(again)).toMatchObject({ alreadyComplete: true });
    await expectSameDatabase(src, tgt, { ignore: (d) => /_heroku/.test(d.object) });
  });

  it('cleanup removes the copy state, keeps an unfinished copy unless --force, and is idempotent', async () => {
    const tgt = await target('modes_cleanup');
    expect((await runCli(['copy', '--source', src.url, '--target', tgt.url])).code).toBe(0);
    const hasState = async () => (await tgt.admin(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgshift'`)).rows[0].n === 1;
    expect(await hasState()).toBe(true);
    // As if the copy had been interrupted: its state is what --resume needs.
    await tgt.owner(`UPDATE pgshift.copy_run SET finished_at = NULL`);
    const refused = await runCli(['cleanup', '--target', tgt.url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/unfinished copy.*--resume impossible/);
    expect(refused.stderr).toMatch(/--force/);
    expect(await hasState()).toBe(true);
    const forced = await runCli(['cleanup', '--target', tgt.url, '--force', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(parseJson(forced)).toMatchObject({ ok: true, nothingToDo: false });
    expect(await hasState()).toBe(false);
    const again = await runCli(['cleanup', '--target', tgt.url]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Nothing to clean up/);
    // The data is untouched.
    expect((await tableRowCounts(tgt)).get('public.orders')).toBe(5000);
    expect(forced.stdout + forced.stderr).not.toContain(tgt.password);
  });
});
