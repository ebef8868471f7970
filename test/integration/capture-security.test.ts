// Trigger capture's log belongs to pgshift alone (issue 22 item 1), on a PostgreSQL 15 source with non-superuser
// roles shaped like a Heroku/RDS database: the owner (pgshift's credential, with default privileges granting ALL
// to an application role), the application role (INSERT/UPDATE/DELETE/SELECT on the tables only) and a role
// with CONNECT only. Nobody but the owner reads or writes the log; a session shadowing `text` or `=` is still
// captured right; the applier stops on a log row the capture did not write; the target converges.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compareDatabases, formatDifference } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { captureState, captureUntilCaughtUp, isCaptureObject, spawnCapture } from '../support/capture.js';

const PASSWORD = 'role-pw-capture-sec';

describe("replicate --capture triggers: the capture log is the owner's alone (non-superuser roles, 15 → 17)", () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let app: string;
  let nobody: string;

  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  function as(role: string): pg.Client {
    const u = new URL(src.url);
    u.username = encodeURIComponent(role);
    u.password = encodeURIComponent(PASSWORD);
    u.search = '';
    return new pg.Client({ connectionString: u.toString(), ssl: { rejectUnauthorized: false } });
  }
  async function withRole<T>(role: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = as(role);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
  async function sqlState(role: string, sql: string): Promise<string> {
    return withRole(role, (c) =>
      c.query(sql).then(
        () => 'ok',
        (e) => String(e.code),
      ),
    );
  }
  async function run(): Promise<{ code: number | null; output: string }> {
    const r = spawnCapture(src.url, tgt.url, { untilCaughtUp: true });
    const e = await r.exit;
    return { code: e.code, output: r.output() };
  }

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'caps_src' }), createDatabase(pg17, { label: 'caps_tgt' })]);
    app = `${src.database}_app`;
    nobody = `${src.database}_nobody`;
    await src.admin(`CREATE ROLE ${q(app)} LOGIN PASSWORD '${PASSWORD}'; CREATE ROLE ${q(nobody)} LOGIN PASSWORD '${PASSWORD}'`);
    // The owner's default privileges hand everything it creates to the application role.
    await src.owner(`
      ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO ${q(app)};
      ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO ${q(app)};
      ALTER DEFAULT PRIVILEGES GRANT ALL ON FUNCTIONS TO ${q(app)};
      ALTER DEFAULT PRIVILEGES GRANT ALL ON SCHEMAS TO ${q(app)};
      CREATE TABLE orders (id bigint PRIMARY KEY, v text);
      CREATE TABLE notes (a int, b text);
      INSERT INTO orders SELECT g, 'o' || g FROM generate_series(1, 50) g;
      INSERT INTO notes SELECT g % 5, 'n' FROM generate_series(1, 20) g;
      REVOKE ALL ON orders, notes FROM ${q(app)};
      GRANT USAGE ON SCHEMA public TO ${q(app)};
      GRANT SELECT, INSERT, UPDATE, DELETE ON orders, notes TO ${q(app)};`);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), tgt?.drop()]);
    if (src) await src.admin(`DROP ROLE IF EXISTS ${q(app)}; DROP ROLE IF EXISTS ${q(nobody)}`).catch(() => undefined);
  });

  it('installs with nothing granted to PUBLIC or through default privileges; other roles cannot read or write the log', async () => {
    const first = await captureUntilCaughtUp(src.url, tgt.url);
    expect(first.caughtUp).toBe(true);
    const { rows } = await src.admin(`
      SELECT o.name, pg_get_userbyid(a.grantee) AS grantee, a.privilege_type FROM (
        SELECT nspname AS name, nspowner AS owner, nspacl AS acl, 'n' AS k FROM pg_namespace WHERE nspname = '_pgshift'
        UNION ALL SELECT relname, relowner, relacl, CASE relkind WHEN 'S' THEN 's' ELSE 'r' END FROM pg_class WHERE relnamespace = '_pgshift'::regnamespace
        UNION ALL SELECT proname, proowner, proacl, 'f' FROM pg_proc WHERE pronamespace = '_pgshift'::regnamespace) o,
      LATERAL aclexplode(COALESCE(o.acl, acldefault(o.k::"char", o.owner))) a WHERE a.grantee <> o.owner`);
    expect(rows).toEqual([]);
    for (const role of [nobody, app]) {
      expect(await sqlState(role, `INSERT INTO _pgshift.log (tbl, op, key) VALUES ('public.orders'::regclass, 'D', '{1}')`), role).toBe('42501');
      expect(await sqlState(role, `SELECT * FROM _pgshift.log`), role).toBe('42501');
      expect(await sqlState(role, `DELETE FROM _pgshift.log`), role).toBe('42501');
      expect(await sqlState(role, `UPDATE _pgshift.log SET key = '{2}'`), role).toBe('42501');
    }
  }, 120_000);

  it('the application role keeps writing, a session shadowing text and = is captured right, and the target converges', async () => {
    await src.admin(`CREATE SCHEMA shadow AUTHORIZATION ${q(app)}`);
    await withRole(app, async (c) => {
      await c.query(`CREATE FUNCTION shadow.never(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT false'`);
      await c.query(`CREATE OPERATOR shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = shadow.never)`);
      await c.query(`CREATE DOMAIN pg_temp.text AS pg_catalog.varchar(1)`);
      await c.query(`SET search_path = shadow, pg_catalog, public`);
      await c.query(`INSERT INTO public.orders VALUES (1001, 'by app'), (1002, 'by app')`);
      await c.query(`UPDATE public.orders SET v = 'updated by app' WHERE id <= 5`);
      await c.query(`DELETE FROM public.orders WHERE id BETWEEN 6 AND 8`);
      await c.query(`INSERT INTO public.notes VALUES (9, 'app'), (9, 'app')`);
      await c.query(`UPDATE public.notes SET b = 'upd' WHERE a = 1`);
      await c.query(`DELETE FROM public.notes WHERE a = 2`);
    });
    const { rows } = await src.admin(`SELECT op::text, count(*)::int AS n FROM _pgshift.log WHERE tbl = 'public.orders'::regclass GROUP BY 1 ORDER BY 1`);
    // 2 inserts, 5 updates (old and new key), 3 deletes — and no TRUNCATE.
    expect(rows).toEqual([
      { op: 'D', n: 3 },
      { op: 'I', n: 2 },
      { op: 'U', n: 10 },
    ]);
    await src.admin(`DROP SCHEMA shadow CASCADE`);
    const r = await captureUntilCaughtUp(src.url, tgt.url);
    expect(r.changes).toBeGreaterThan(0);
    const diffs = await compareDatabases(src, tgt, { ignore: isCaptureObject });
    expect(diffs.map(formatDifference)).toEqual([]);
  }, 120_000);

  it('a log row the capture did not write stops the run, named, with nothing applied', async () => {
    const forged = [
      [`'public.orders'::regclass, 'I', '{1,2}'`, /key \(2 values\) does not have the shape of public\.orders's key \(1 column/],
      [`'public.orders'::regclass, 'X', '{1}'`, /its operation "X" is none of I, U, D, T/],
      [`12345, 'D', '{1}'`, /names table oid 12345, which this replication does not capture/],
      [`'public.notes'::regclass, 'T', '{x}'`, /a TRUNCATE row carries a key/],
      [`'public.notes'::regclass, 'D', '{}'`, /its key \(0 values\) does not have the shape of public\.notes's row image/],
      [`'public.orders'::regclass, 'U', '{12abc}'`, /its key does not read as public\.orders's key \(id: bigint\)/],
    ] as const;
    await src.owner(`UPDATE orders SET v = 'real change' WHERE id = 20`);
    const before = (await captureState(tgt))!.batches;
    for (const [values, message] of forged) {
      const { rows } = await src.admin(`INSERT INTO _pgshift.log (tbl, op, key) VALUES (${values}) RETURNING id::text`);
      const r = await run();
      expect(r.code, r.output).toBe(4);
      expect(r.output).toMatch(new RegExp(`capture log row id ${rows[0].id} \\(xid \\d+, written [^)]+\\) was not written by pgshift's capture`));
      expect(r.output).toMatch(message);
      await src.admin(`DELETE FROM _pgshift.log WHERE id = $1`, [rows[0].id]);
    }
    // A transaction id in the future would never be consumed (lag never reaches zero).
    const { rows } = await src.admin(
      `INSERT INTO _pgshift.log (xid, tbl, op, key) VALUES ((pg_current_xact_id()::text::int8 + 1000000)::text::xid8, 'public.orders'::regclass, 'D', '{1}') RETURNING id::text`,
    );
    const r = await run();
    expect(r.code, r.output).toBe(4);
    expect(r.output).toMatch(new RegExp(`log row id ${rows[0].id} .*is not a committed transaction of the source`));
    await src.admin(`DELETE FROM _pgshift.log WHERE id = $1`, [rows[0].id]);
    expect((await captureState(tgt))!.batches).toBe(before);
    const { rows: t } = await tgt.admin(`SELECT v FROM orders WHERE id = 20`);
    expect(t).toEqual([{ v: 'o20' }]);
  }, 180_000);

  it('refuses to start when someone else can reach the log, and goes on once revoked', async () => {
    await src.owner(`GRANT SELECT ON _pgshift.log TO ${q(app)}; GRANT USAGE ON SCHEMA _pgshift TO PUBLIC`);
    const r = await run();
    expect(r.code, r.output).toBe(3);
    expect(r.output).toMatch(/change log on the source .* is reachable by others than its owner/);
    expect(r.output).toContain(`REVOKE ALL ON TABLE _pgshift.log FROM ${app}`);
    expect(r.output).toContain(`REVOKE ALL ON SCHEMA _pgshift FROM PUBLIC`);
    await src.owner(`REVOKE ALL ON _pgshift.log FROM ${q(app)}; REVOKE ALL ON SCHEMA _pgshift FROM PUBLIC`);
    // A member of the owner role reaches the log as the owner: said, not refused.
    await src.admin(`GRANT ${q(src.role)} TO ${q(nobody)}`);
    const warned = await run();
    expect(warned.code, warned.output).toBe(0);
    expect(warned.output).toContain(`${nobody} is a member of ${src.role}, the owner of the change log on the source`);
    await src.admin(`REVOKE ${q(src.role)} FROM ${q(nobody)}`);
    await captureUntilCaughtUp(src.url, tgt.url);
    const diffs = await compareDatabases(src, tgt, { ignore: isCaptureObject });
    expect(diffs.map(formatDifference)).toEqual([]);
  }, 120_000);
});
