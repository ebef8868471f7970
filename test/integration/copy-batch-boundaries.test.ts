// Restore batches never lose a dependent entry (issue #23): with one TOC entry per batch, every COMMENT, ACL and
// DEFAULT ACL opens a batch of its own — where pg_restore --section used to skip it while copy exited 0. Judged
// by pg_dump --schema-only (ACLs included) of source and target, 15 → 15.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, runSql, type TestDatabase } from '../support/fixtures.js';
import { dumpDifferences, schemaDump } from '../support/schema-dump.js';

const reader = `bb_reader_${process.pid}`;

const SCHEMA = `
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'schema comment';
GRANT USAGE ON SCHEMA app TO ${reader};
CREATE TYPE app.mood AS ENUM ('calm', 'busy');
COMMENT ON TYPE app.mood IS 'type comment';
CREATE TABLE app.a (id integer PRIMARY KEY, b text CONSTRAINT b_len CHECK (length(b) < 100), c integer, m app.mood);
COMMENT ON TABLE app.a IS 'table comment';
COMMENT ON COLUMN app.a.b IS 'column comment';
COMMENT ON CONSTRAINT b_len ON app.a IS 'check comment';
COMMENT ON CONSTRAINT a_pkey ON app.a IS 'primary key comment';
GRANT SELECT, INSERT ON app.a TO ${reader};
CREATE INDEX a_c ON app.a (c);
COMMENT ON INDEX app.a_c IS 'index comment';
CREATE TABLE app.d (id integer PRIMARY KEY, a_id integer CONSTRAINT d_a_fk REFERENCES app.a, note text);
COMMENT ON CONSTRAINT d_a_fk ON app.d IS 'foreign key comment';
GRANT SELECT (note) ON app.d TO ${reader};
CREATE SEQUENCE app.s;
COMMENT ON SEQUENCE app.s IS 'sequence comment';
GRANT USAGE ON SEQUENCE app.s TO ${reader};
CREATE VIEW app.v AS SELECT id, b FROM app.a;
COMMENT ON VIEW app.v IS 'view comment';
COMMENT ON COLUMN app.v.b IS 'view column comment';
GRANT SELECT ON app.v TO ${reader};
CREATE FUNCTION app.f(x integer) RETURNS integer LANGUAGE sql AS 'SELECT x + 1';
COMMENT ON FUNCTION app.f(integer) IS 'function comment';
REVOKE ALL ON FUNCTION app.f(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.f(integer) TO ${reader};
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER a_touch BEFORE UPDATE ON app.a FOR EACH ROW EXECUTE FUNCTION app.touch();
COMMENT ON TRIGGER a_touch ON app.a IS 'trigger comment';
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO ${reader};
INSERT INTO app.a SELECT g, 'b' || g, g % 7, 'calm' FROM generate_series(1, 200) g;
INSERT INTO app.d SELECT g, g, 'n' || g FROM generate_series(1, 100) g;
`;

describe('copy: a batch boundary before every dependent entry (COMMENT, ACL, DEFAULT ACL)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15 } = inject('clusters');
    await runSql(pg15.adminUrl, `DO $$ BEGIN CREATE ROLE ${reader}; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'bb_src' }), createDatabase(pg15, { label: 'bb_tgt' })]);
    await src.owner(SCHEMA);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), tgt?.drop()]);
    await runSql(inject('clusters').pg15.adminUrl, `DROP ROLE IF EXISTS ${reader}`).catch(() => undefined);
  });

  it('one entry per batch: pg_dump -s (ACLs included) of the target equals the source', async () => {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--keep-acl'], { env: { PGSHIFT_SCHEMA_BATCH: '1' } });
    expect(r.code, r.stderr).toBe(0);
    const [a, b] = [await schemaDump(src, { acl: true }), await schemaDump(tgt, { acl: true })];
    expect(a).toContain('COMMENT ON TABLE app.a');
    expect(a).toContain('ALTER DEFAULT PRIVILEGES');
    expect(dumpDifferences(a, b)).toEqual([]);
    await expectSameDatabase(src, tgt);
  });
});
