// Issue 22 item 2: the target state cannot be turned against its owner. An application role that the target
// owner's default privileges reach (ALL on new tables, schemas, sequences, functions) must not be able to read or
// write the `pgshift` schema; a state another role can write (forged here by a superuser's GRANT) is refused with
// the objects, the role and the fix named, before cleanup drops or terminates anything on the source; what was
// switched off is kept as facts, and a forged or legacy statement is never run. Non-superuser roles, real servers.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { connect, type Client } from '../../src/db/connect.js';
import { MIGRATIONS, migrateState } from '../../src/state/migrations.js';
import { restoreSwitches, switchOff } from '../../src/replicate/apply/switches.js';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, runSql, type TestDatabase } from '../support/fixtures.js';
import { slotsAndPublications } from '../support/replication.js';

const SCHEMA = `
CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 100) g;
CREATE TABLE "Odd ""name""; x" (id int PRIMARY KEY, user_id int CONSTRAINT "fk ""odd""; drop" REFERENCES users (id) ON UPDATE CASCADE ON DELETE SET NULL DEFERRABLE);
INSERT INTO "Odd ""name""; x" SELECT g, g FROM generate_series(1, 50) g;
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER users_audit AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION audit();
ALTER TABLE users ENABLE ALWAYS TRIGGER users_audit;
`;

/** A login role with a password (over TLS, like the application's credential). */
async function createRole(db: TestDatabase, name: string): Promise<string> {
  const password = randomBytes(8).toString('hex');
  await runSql(db.cluster.adminUrl, `CREATE ROLE "${name}" LOGIN NOSUPERUSER PASSWORD '${password}'`);
  return `postgres://${name}:${password}@${db.cluster.host}:${db.cluster.port}/${db.database}?sslmode=require`;
}

/** Every privilege on the state schema and its objects held by a role other than their owner (catalog, not pgshift). */
async function foreignGrants(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.admin(`
    SELECT o.what || ' ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END || ' ' || a.privilege_type AS g
      FROM (SELECT 'schema' AS what, nspowner AS owner, COALESCE(nspacl, acldefault('n', nspowner)) AS acl FROM pg_namespace WHERE nspname = 'pgshift'
            UNION ALL SELECT c.oid::regclass::text, c.relowner, COALESCE(c.relacl, acldefault('r', c.relowner)) FROM pg_class c WHERE c.relnamespace = 'pgshift'::regnamespace
            UNION ALL SELECT p.oid::regprocedure::text, p.proowner, COALESCE(p.proacl, acldefault('f', p.proowner)) FROM pg_proc p WHERE p.pronamespace = 'pgshift'::regnamespace) o,
           aclexplode(o.acl) a
     WHERE a.grantee <> o.owner ORDER BY 1`);
  return rows.map((r) => r.g);
}

async function foreignKeys(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.admin(
    `SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated AS k FROM pg_constraint WHERE contype = 'f' ORDER BY 1`,
  );
  return rows.map((r) => r.k);
}

describe('the pgshift state on the target belongs to its owner alone', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let app: string;
  let appUrl: string;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'sec_src', replication: true }), createDatabase(pg17, { label: 'sec_tgt' })]);
    app = `${tgt.database}_app`;
    appUrl = await createRole(tgt, app);
    await src.owner(SCHEMA);
    // The owner's default privileges reach every new schema, table, sequence and function (a common setup).
    await tgt.owner(`
      ALTER DEFAULT PRIVILEGES GRANT ALL ON SCHEMAS TO "${app}";
      ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO "${app}";
      ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO "${app}";
      ALTER DEFAULT PRIVILEGES GRANT ALL ON FUNCTIONS TO "${app}";`);
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
    await runSql(tgt.cluster.adminUrl, `DROP ROLE IF EXISTS "${app}"`).catch(() => undefined);
  });

  it('after a run, no other role holds any privilege on the state, and the application role can neither read nor write it', async () => {
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '60', '--json']);
    expect(r.code, r.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
    expect(await foreignGrants(tgt)).toEqual([]);
    // The attack of the issue: a statement for cleanup to run as the owner.
    await expect(
      runSql(
        appUrl,
        `INSERT INTO pgshift.replication_switch (kind, tbl, name, restore) VALUES ('trigger', 'public.users', 'x', ARRAY['GRANT "${tgt.role}" TO "${app}"'])`,
      ),
    ).rejects.toThrow(/permission denied/);
    await expect(runSql(appUrl, `SELECT * FROM pgshift.replication`)).rejects.toThrow(/permission denied/);
    await expect(runSql(appUrl, `CREATE TABLE pgshift.mine (x int)`)).rejects.toThrow(/permission denied/);
  });

  it('a state another role can write is refused, naming the role, the objects and the fix; nothing is dropped on the source; followed literally, the fix works and a forged row is never run', async () => {
    const before = await slotsAndPublications(src);
    expect(before.slots).toHaveLength(1);
    // Forged: a superuser opens the state to the application role, which plants a row.
    await tgt.admin(`GRANT ALL ON SCHEMA pgshift TO "${app}"; GRANT ALL ON ALL TABLES IN SCHEMA pgshift TO "${app}" WITH GRANT OPTION`);
    await runSql(appUrl, `GRANT INSERT ON pgshift.replication_switch TO PUBLIC`); // passed on: revoked with CASCADE
    await runSql(
      appUrl,
      `INSERT INTO pgshift.replication_switch (kind, tbl, name, definition) VALUES ('foreign-key', 'public.users', 'evil', 'FOREIGN KEY (id) REFERENCES public.users(id); GRANT "${tgt.role}" TO "${app}"')`,
    );

    for (const args of [
      ['cleanup', '--source', src.url, '--target', tgt.url],
      ['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '30'],
    ]) {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('does not trust it');
      expect(r.stderr).toContain(app);
      expect(r.stderr).toContain('pgshift.replication_switch');
      expect(await slotsAndPublications(src)).toEqual(before);
    }
    const refused = await runCli(['cleanup', '--source', src.url, '--target', tgt.url]);
    const fix = /as its owner run: (.*) and run pgshift again/.exec(refused.stderr)?.[1];
    expect(fix, refused.stderr).toMatch(/^REVOKE ALL ON SCHEMA "pgshift" FROM .* CASCADE;/);
    await tgt.owner(fix!);
    expect(await foreignGrants(tgt)).toEqual([]);

    // Trusted again, the planted row is read as facts: it does not parse as a foreign key, so it is named, not run.
    const planted = await runCli(['cleanup', '--source', src.url, '--target', tgt.url]);
    expect(planted.code, planted.stderr).not.toBe(0);
    expect(planted.stderr).toContain('evil');
    expect(planted.stderr).toContain('removed nothing');
    expect(await slotsAndPublications(src)).toEqual(before);
    await tgt.owner(`DELETE FROM pgshift.replication_switch WHERE name = 'evil'`);
    // Even the owner's own state never makes cleanup end and drop a slot that is not a pgoutput slot of this
    // database (a standby's physical slot here).
    const standby = `${src.database}_standby`;
    await src.admin(`SELECT pg_create_physical_replication_slot($1)`, [standby]);
    await tgt.owner(`UPDATE pgshift.replication SET slot = $1`, [standby]);
    const physical = await runCli(['cleanup', '--source', src.url, '--target', tgt.url]);
    expect(physical.code, physical.stderr).toBe(2);
    expect(physical.stderr).toContain(`slot ${standby}`);
    expect((await src.admin(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1`, [standby])).rows[0].n).toBe(1);
    await src.admin(`SELECT pg_drop_replication_slot($1)`, [standby]);
    await tgt.owner(`UPDATE pgshift.replication SET slot = $1`, [before.slots[0]]);
    const done = await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--json']);
    expect(done.code, done.stderr).toBe(0);
    expect(parseJson(done).ok).toBe(true);
    expect(await slotsAndPublications(src)).toEqual({ slots: [], publications: [] });
    const { rows } = await tgt.admin(`SELECT pg_has_role($1, $2, 'MEMBER') AS m`, [app, tgt.role]);
    expect(rows[0].m).toBe(false);
  });

  it('a state schema another role owns is refused before anything is read from it', async () => {
    await tgt.admin(`GRANT CREATE ON DATABASE "${tgt.database}" TO "${app}"`);
    await runSql(appUrl, `CREATE SCHEMA pgshift`);
    const r = await runCli(['cleanup', '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`schema pgshift is owned by ${app}`);
    await tgt.admin(`DROP SCHEMA pgshift; REVOKE CREATE ON DATABASE "${tgt.database}" FROM "${app}"`);
  });
});

describe('what was switched off is kept as facts, and the statement is built from them', () => {
  let db: TestDatabase;
  let c: Client;

  beforeAll(async () => {
    db = await createDatabase(inject('clusters').pg15, { label: 'sec_facts' });
    await db.owner(SCHEMA);
    c = await connect(parseConnectionUrl(db.url, 'target'));
  });
  afterAll(async () => {
    await c?.end();
    await db?.drop();
  });

  it('facts from the catalog round-trip odd names; a tampered definition is refused, never run', async () => {
    await migrateState(c);
    const keys = await foreignKeys(db);
    const off = await switchOff(c, ['public.users', 'public."Odd ""name""; x"']);
    expect(off).toEqual({ triggers: 1, foreignKeys: 1, identities: 0 });
    const { rows } = await db.admin(`SELECT kind, tbl, name, definition, restore FROM pgshift.replication_switch ORDER BY kind`);
    expect(rows).toEqual([
      {
        kind: 'foreign-key',
        tbl: 'public."Odd ""name""; x"',
        name: 'fk "odd"; drop',
        definition: 'FOREIGN KEY (user_id) REFERENCES public.users(id) ON UPDATE CASCADE ON DELETE SET NULL DEFERRABLE',
        restore: null,
      },
      { kind: 'trigger', tbl: 'public.users', name: 'users_audit', definition: 'A', restore: null },
    ]);
    // The owner's own state, tampered: an injected statement after the definition does not parse.
    await db.owner(`UPDATE pgshift.replication_switch SET definition = definition || '; CREATE TABLE pwned (x int)' WHERE kind = 'foreign-key'`);
    await expect(restoreSwitches(c)).rejects.toThrow(/does not read as a foreign key/);
    expect((await db.admin(`SELECT to_regclass('public.pwned') IS NULL AS gone`)).rows[0].gone).toBe(true);
    await db.owner(`UPDATE pgshift.replication_switch SET definition = replace(definition, '; CREATE TABLE pwned (x int)', '') WHERE kind = 'foreign-key'`);
    // The trigger came back in the first call (foreign keys go last); the key now.
    expect(await restoreSwitches(c)).toEqual({ triggers: 0, foreignKeys: 1, identities: 0 });
    expect(await foreignKeys(db)).toEqual(keys);
    expect((await db.admin(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'users_audit'`)).rows[0].tgenabled).toBe('A');
  });

  it('rows an older pgshift wrote are converted by migration 7 when they are what it wrote; any other statement is named, never run', async () => {
    // A state at version 6, as the previous pgshift left it mid-replication.
    await db.owner(`DROP SCHEMA pgshift CASCADE; CREATE SCHEMA pgshift;
      CREATE TABLE pgshift.schema_migrations (id int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    for (const m of MIGRATIONS.filter((x) => x.id <= 6)) {
      await db.owner(m.sql);
      await db.owner(`INSERT INTO pgshift.schema_migrations (id, name) VALUES ($1, $2)`, [m.id, m.name]);
    }
    const keys = await foreignKeys(db);
    await db.owner(`
      INSERT INTO pgshift.replication_switch (kind, tbl, name, restore) VALUES
        ('foreign-key', 'public."Odd ""name""; x"', 'fk "odd"; drop', ARRAY['ALTER TABLE public."Odd ""name""; x" ADD CONSTRAINT "fk ""odd""; drop" FOREIGN KEY (user_id) REFERENCES public.users(id) ON UPDATE CASCADE ON DELETE SET NULL DEFERRABLE']),
        ('trigger', 'public.users', 'users_audit', ARRAY['ALTER TABLE public.users ENABLE ALWAYS TRIGGER "users_audit"']),
        ('trigger', 'public.users', 'planted', ARRAY['CREATE TABLE public.pwned (x int)']);
      ALTER TABLE "Odd ""name""; x" DROP CONSTRAINT "fk ""odd""; drop";
      ALTER TABLE users DISABLE TRIGGER users_audit;`);
    await migrateState(c);
    const { rows } = await db.admin(`SELECT name, definition, restore FROM pgshift.replication_switch ORDER BY name`);
    expect(rows).toEqual([
      {
        name: 'fk "odd"; drop',
        definition: 'FOREIGN KEY (user_id) REFERENCES public.users(id) ON UPDATE CASCADE ON DELETE SET NULL DEFERRABLE',
        restore: null,
      },
      { name: 'planted', definition: null, restore: ['CREATE TABLE public.pwned (x int)'] },
      { name: 'users_audit', definition: 'A', restore: null },
    ]);
    await expect(restoreSwitches(c)).rejects.toThrow(/planted.*older pgshift/);
    expect((await db.admin(`SELECT to_regclass('public.pwned') IS NULL AS gone`)).rows[0].gone).toBe(true);
    await db.owner(`DELETE FROM pgshift.replication_switch WHERE name = 'planted'`);
    expect(await restoreSwitches(c)).toEqual({ triggers: 1, foreignKeys: 1, identities: 0 });
    expect(await foreignKeys(db)).toEqual(keys);
  });
});
