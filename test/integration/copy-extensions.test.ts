// Extensions on a non-superuser target (issue #9.3): a managed provider's admin creates them for the owner role,
// so they exist before the copy and belong to someone else. What already is as the source has it is skipped
// with a warning; what differs fails before anything is written, naming the statement and who can run it.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { compareDatabases, formatDifference } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { dumpDifferences, schemaDump } from '../support/schema-dump.js';

describe('copy into a target whose extensions another role owns', () => {
  let src: TestDatabase;
  const targets: TestDatabase[] = [];
  const target = async (label: string, major: 15 | 17 = 15) => {
    const clusters = inject('clusters');
    const t = await createDatabase(major === 15 ? clusters.pg15 : clusters.pg17, { label });
    targets.push(t);
    return t;
  };
  const hasState = async (t: TestDatabase) => (await t.admin(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgshift'`)).rows[0].n > 0;

  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'ext_src' });
    // citext and pg_trgm are trusted (the owner creates them); dblink needs a superuser.
    await src.owner(`CREATE EXTENSION citext; CREATE EXTENSION pg_trgm;
      CREATE TABLE users (id int PRIMARY KEY, email citext NOT NULL UNIQUE, name text);
      CREATE INDEX users_name_trgm ON users USING gin (name gin_trgm_ops);
      INSERT INTO users SELECT g, 'U' || g || '@Example.com', 'name ' || g FROM generate_series(1, 200) g;
      CREATE SCHEMA extensions; COMMENT ON SCHEMA extensions IS 'extensions live here';
      CREATE EXTENSION hstore SCHEMA extensions;
      CREATE TABLE prefs (user_id int PRIMARY KEY REFERENCES users, data extensions.hstore);
      INSERT INTO prefs SELECT g, ('theme=>dark,n=>' || g)::extensions.hstore FROM generate_series(1, 50) g;`);
    await src.admin(`CREATE EXTENSION dblink`);
  });
  afterAll(async () => Promise.all([src?.drop(), ...targets.map((t) => t.drop())]));

  it('skips COMMENT ON EXTENSION for extensions the admin created as the source has them, with a warning', async () => {
    const tgt = await target('ext_same');
    await tgt.admin(`CREATE EXTENSION citext; CREATE EXTENSION pg_trgm; CREATE EXTENSION dblink`);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/extension citext was already installed on the target by postgres; its comment already matches/);
    expect(r.stderr).toMatch(/extension dblink was already installed/);
    expect((await compareDatabases(src, tgt)).map(formatDifference)).toEqual([]);
    expect(dumpDifferences(await schemaDump(src), await schemaDump(tgt))).toEqual([]);
  });

  it('uses a schema the admin made for extensions as it is (CREATE SCHEMA and its comment skipped, with a warning)', async () => {
    const tgt = await target('ext_schema_premade', 17);
    await tgt.admin(`CREATE SCHEMA extensions; COMMENT ON SCHEMA extensions IS 'extensions live here';
      CREATE EXTENSION hstore SCHEMA extensions; GRANT USAGE ON SCHEMA extensions TO ${tgt.role}; CREATE EXTENSION dblink`);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /schema extensions already exists on the target \(owned by postgres\): used as it is, CREATE SCHEMA skipped; its comment already matches/,
    );
    expect((await compareDatabases(src, tgt)).map(formatDifference)).toEqual([]);
  });

  it('a pre-made schema the target role may not create the source’s objects in fails up front with the GRANT to ask for (exit 3)', async () => {
    await src.owner(`CREATE TABLE extensions.own_table (id int)`);
    try {
      const tgt = await target('ext_schema_nocreate', 17);
      await tgt.admin(`CREATE SCHEMA extensions; COMMENT ON SCHEMA extensions IS 'extensions live here';
        CREATE EXTENSION hstore SCHEMA extensions; GRANT USAGE ON SCHEMA extensions TO ${tgt.role}; CREATE EXTENSION dblink`);
      const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/schema extensions already exists on the target .* may not create the source's objects in it/);
      expect(r.stderr).toContain('GRANT USAGE, CREATE ON SCHEMA "extensions"');
      expect(await hasState(tgt)).toBe(false);
    } finally {
      await src.owner(`DROP TABLE extensions.own_table`);
    }
  });

  it('15 → 17 the same way', async () => {
    const tgt = await target('ext_same17', 17);
    await tgt.admin(`CREATE EXTENSION citext; CREATE EXTENSION pg_trgm; CREATE EXTENSION dblink`);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    expect((await compareDatabases(src, tgt)).map(formatDifference)).toEqual([]);
    const comments = `SELECT extname, obj_description(oid, 'pg_extension') AS c FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1`;
    expect((await tgt.admin(comments)).rows).toEqual((await src.admin(comments)).rows);
  });

  it('an extension comment that differs fails before anything is written, naming the statement and its owner (exit 3)', async () => {
    const tgt = await target('ext_comment');
    await tgt.admin(`CREATE EXTENSION citext; COMMENT ON EXTENSION citext IS 'set by the provider'; CREATE EXTENSION dblink`);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`COMMENT ON EXTENSION "citext" IS 'data type for case-insensitive character strings'`);
    expect(r.stderr).toMatch(/as postgres/);
    expect(await hasState(tgt)).toBe(false);
  });

  it('an extension installed in another schema fails before anything is written, with the ALTER EXTENSION remedy (exit 2)', async () => {
    const tgt = await target('ext_schema');
    await tgt.admin(`CREATE SCHEMA shared_ext; CREATE EXTENSION citext SCHEMA shared_ext; CREATE EXTENSION dblink`);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/extension citext is already installed on the target .* in schema shared_ext, the source has it in schema public/);
    expect(r.stderr).toContain('ALTER EXTENSION "citext" SET SCHEMA "public"');
    expect(await hasState(tgt)).toBe(false);
  });

  it('an extension only a superuser can create is named up front, with what to ask the admin (exit 3)', async () => {
    const tgt = await target('ext_untrusted');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/extension\(s\) dblink need a superuser/);
    expect(r.stderr).toContain('CREATE EXTENSION "dblink"');
    expect(await hasState(tgt)).toBe(false);
    // Done as told: the copy goes through.
    await tgt.admin(`CREATE EXTENSION dblink`);
    const again = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(again.code, again.stderr).toBe(0);
    expect((await compareDatabases(src, tgt)).map(formatDifference)).toEqual([]);
  });
});
