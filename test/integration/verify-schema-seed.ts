// One object of every class `pg_dump --schema-only` prints, created the same way on source and target, and
// the table of changes verify must notice: each case changes one class on the target and puts it back.
// ADMIN_SEED_SQL needs a superuser (operator classes/families, event triggers, foreign-data wrappers).

export const ADMIN_SEED_SQL = `
CREATE FOREIGN DATA WRAPPER dummy_fdw;
GRANT USAGE ON FOREIGN DATA WRAPPER dummy_fdw TO PUBLIC; -- not to the owner: each test database has its own owner role name
CREATE FUNCTION public.int4_cmp_rev(int4, int4) RETURNS int4 LANGUAGE sql IMMUTABLE STRICT AS 'SELECT btint4cmp($2, $1)';
CREATE OPERATOR FAMILY public.rev_int_fam USING btree;
CREATE OPERATOR CLASS public.rev_int_ops FOR TYPE int4 USING btree FAMILY public.rev_int_fam AS
  OPERATOR 1 > , OPERATOR 2 >= , OPERATOR 3 = , OPERATOR 4 <= , OPERATOR 5 < , FUNCTION 1 public.int4_cmp_rev(int4, int4);
CREATE FUNCTION public.ddl_log() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER ddl_log ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION public.ddl_log();
`;

export const OWNER_SEED_SQL = `
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'application schema';
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text COLLATE "C");
CREATE DOMAIN positive_int AS int CONSTRAINT positive_int_check CHECK (VALUE > 0);
CREATE FUNCTION float8_diff(float8, float8) RETURNS float8 LANGUAGE sql IMMUTABLE STRICT AS 'SELECT $1 - $2';
CREATE TYPE floatrange AS RANGE (subtype = float8, subtype_diff = float8_diff);
CREATE COLLATION my_coll (locale = 'C');
CREATE FUNCTION int_eq3(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 = $2';
CREATE OPERATOR === (leftarg = int, rightarg = int, function = int_eq3, commutator = ===);
CREATE FUNCTION mood_to_int(mood) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT array_position(enum_range(NULL::mood), $1) $$;
CREATE CAST (mood AS int) WITH FUNCTION mood_to_int(mood);
CREATE AGGREGATE my_sum(int) (sfunc = int4pl, stype = int, initcond = '0');
CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1';
COMMENT ON FUNCTION add_one(int) IS 'adds one';
CREATE TEXT SEARCH DICTIONARY my_dict (TEMPLATE = simple, STOPWORDS = english, ACCEPT = true);
CREATE TEXT SEARCH CONFIGURATION my_ts (PARSER = default);
ALTER TEXT SEARCH CONFIGURATION my_ts ADD MAPPING FOR asciiword, word WITH my_dict;
CREATE SERVER film_server FOREIGN DATA WRAPPER dummy_fdw OPTIONS (host 'films.example', dbname 'films');
CREATE USER MAPPING FOR PUBLIC SERVER film_server;
CREATE FOREIGN TABLE films (code text OPTIONS (column_name 'c'), title text) SERVER film_server OPTIONS (table_name 'films');

CREATE TABLE app.tenants (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.docs (
  id int PRIMARY KEY,
  tenant int NOT NULL REFERENCES app.tenants (id),
  title text,
  body text,
  m mood,
  n positive_int,
  CONSTRAINT title_len CHECK (length(title) < 200)
) WITH (fillfactor = 90);
INSERT INTO app.tenants VALUES (1, 'one'), (2, 'two');
INSERT INTO app.docs SELECT g, 1 + g % 2, 'doc ' || g, repeat('x', g), 'ok', g FROM generate_series(1, 20) g;
ALTER TABLE app.docs ALTER COLUMN title SET STATISTICS 250;
ALTER TABLE app.docs ALTER COLUMN tenant SET (n_distinct = 50);
ALTER TABLE app.docs ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX docs_tenant ON app.docs (tenant) WITH (fillfactor = 70);
CREATE INDEX docs_lower_title ON app.docs (lower(title));
ALTER INDEX app.docs_lower_title ALTER COLUMN 1 SET STATISTICS 1000;
CREATE STATISTICS app.docs_stats (dependencies) ON tenant, m FROM app.docs;
COMMENT ON TABLE app.docs IS 'documents';
COMMENT ON COLUMN app.docs.body IS 'markdown';
COMMENT ON INDEX app.docs_tenant IS 'per tenant';
COMMENT ON CONSTRAINT title_len ON app.docs IS 'short titles';
ALTER TABLE app.docs ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.docs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON app.docs USING (tenant = current_setting('app.tenant', true)::int);
COMMENT ON POLICY tenant_isolation ON app.docs IS 'one tenant at a time';
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER docs_touch BEFORE UPDATE ON app.docs FOR EACH ROW EXECUTE FUNCTION app.touch();
COMMENT ON TRIGGER docs_touch ON app.docs IS 'touches';
CREATE TABLE app.docs_log (id int, at timestamptz);
CREATE RULE docs_log_rule AS ON INSERT TO app.docs_log WHERE NEW.id < 0 DO INSTEAD NOTHING;
CREATE VIEW app.doc_titles AS SELECT id, title FROM app.docs WHERE id > 0;
CREATE MATERIALIZED VIEW app.doc_counts AS SELECT tenant, count(*) AS n FROM app.docs GROUP BY tenant;
CREATE SEQUENCE app.invoice_no START 1000;
CREATE PROCEDURE reset_docs() LANGUAGE sql AS 'DELETE FROM app.docs WHERE false';
`;

export interface SchemaCase {
  name: string;
  /** SQL on the target that makes it differ (as the owner, or as the superuser with admin: true). */
  change: string;
  restore: string;
  admin?: boolean;
  /** Every schema difference verify must report, as "kind object". */
  expect: string[];
  /** Tables whose rows differ too (the change shows in their data). */
  tables?: string[];
}

export const SCHEMA_CASES: SchemaCase[] = [
  {
    name: 'dropped RLS policy',
    change: 'DROP POLICY tenant_isolation ON app.docs',
    restore: `CREATE POLICY tenant_isolation ON app.docs USING (tenant = current_setting('app.tenant', true)::int); COMMENT ON POLICY tenant_isolation ON app.docs IS 'one tenant at a time'`,
    expect: ['policy tenant_isolation on app.docs', 'comment on policy tenant_isolation on app.docs'],
  },
  {
    name: 'changed RLS policy',
    change: 'ALTER POLICY tenant_isolation ON app.docs USING (true)',
    restore: `ALTER POLICY tenant_isolation ON app.docs USING (tenant = current_setting('app.tenant', true)::int)`,
    expect: ['policy tenant_isolation on app.docs'],
  },
  {
    name: 'RLS disabled',
    change: 'ALTER TABLE app.docs DISABLE ROW LEVEL SECURITY',
    restore: 'ALTER TABLE app.docs ENABLE ROW LEVEL SECURITY',
    expect: ['table app.docs'],
  },
  {
    name: 'RLS not forced',
    change: 'ALTER TABLE app.docs NO FORCE ROW LEVEL SECURITY',
    restore: 'ALTER TABLE app.docs FORCE ROW LEVEL SECURITY',
    expect: ['table app.docs'],
  },
  {
    name: 'dropped operator',
    change: 'DROP OPERATOR === (int, int)',
    restore: 'CREATE OPERATOR === (leftarg = int, rightarg = int, function = int_eq3, commutator = ===)',
    expect: ['operator public.===(integer, integer)'],
  },
  {
    name: 'renamed operator class',
    admin: true,
    change: 'ALTER OPERATOR CLASS public.rev_int_ops USING btree RENAME TO rev_int_ops2',
    restore: 'ALTER OPERATOR CLASS public.rev_int_ops2 USING btree RENAME TO rev_int_ops',
    expect: ['operator class public.rev_int_ops using btree', 'operator class public.rev_int_ops2 using btree'],
  },
  {
    name: 'operator family member added',
    admin: true,
    change: 'ALTER OPERATOR FAMILY public.rev_int_fam USING btree ADD OPERATOR 3 = (int4, int8)',
    restore: 'ALTER OPERATOR FAMILY public.rev_int_fam USING btree DROP OPERATOR 3 (int4, int8)',
    expect: ['operator family public.rev_int_fam using btree'],
  },
  {
    name: 'dropped cast',
    change: 'DROP CAST (mood AS int)',
    restore: 'CREATE CAST (mood AS int) WITH FUNCTION mood_to_int(mood)',
    expect: ['cast (public.mood AS integer)'],
  },
  {
    name: 'changed aggregate',
    change: `CREATE OR REPLACE AGGREGATE my_sum(int) (sfunc = int4pl, stype = int, initcond = '1')`,
    restore: `CREATE OR REPLACE AGGREGATE my_sum(int) (sfunc = int4pl, stype = int, initcond = '0')`,
    expect: ['aggregate public.my_sum(integer)'],
  },
  {
    name: 'changed collation',
    change: `DROP COLLATION my_coll; CREATE COLLATION my_coll (locale = 'POSIX')`,
    restore: `DROP COLLATION my_coll; CREATE COLLATION my_coll (locale = 'C')`,
    expect: ['collation public.my_coll'],
  },
  {
    name: 'enum label',
    change: `ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'`,
    restore: `ALTER TYPE mood RENAME VALUE 'fine' TO 'ok'`,
    expect: ['type public.mood'],
    tables: ['app.docs'],
  },
  { name: 'composite attribute', change: 'ALTER TYPE pair ADD ATTRIBUTE c int', restore: 'ALTER TYPE pair DROP ATTRIBUTE c', expect: ['type public.pair'] },
  {
    name: 'domain constraint',
    change: 'ALTER DOMAIN positive_int DROP CONSTRAINT positive_int_check',
    restore: 'ALTER DOMAIN positive_int ADD CONSTRAINT positive_int_check CHECK (VALUE > 0)',
    expect: ['type public.positive_int'],
  },
  {
    name: 'range definition',
    change: 'DROP TYPE floatrange; CREATE TYPE floatrange AS RANGE (subtype = float8)',
    restore: 'DROP TYPE floatrange; CREATE TYPE floatrange AS RANGE (subtype = float8, subtype_diff = float8_diff)',
    expect: ['type public.floatrange'],
  },
  {
    name: 'table comment',
    change: `COMMENT ON TABLE app.docs IS 'changed'`,
    restore: `COMMENT ON TABLE app.docs IS 'documents'`,
    expect: ['comment on table app.docs'],
  },
  {
    name: 'column comment',
    change: 'COMMENT ON COLUMN app.docs.body IS NULL',
    restore: `COMMENT ON COLUMN app.docs.body IS 'markdown'`,
    expect: ['comment on table column app.docs.body'],
  },
  {
    name: 'index comment',
    change: 'COMMENT ON INDEX app.docs_tenant IS NULL',
    restore: `COMMENT ON INDEX app.docs_tenant IS 'per tenant'`,
    expect: ['comment on index app.docs_tenant'],
  },
  {
    name: 'constraint comment',
    change: 'COMMENT ON CONSTRAINT title_len ON app.docs IS NULL',
    restore: `COMMENT ON CONSTRAINT title_len ON app.docs IS 'short titles'`,
    expect: ['comment on table constraint title_len on app.docs'],
  },
  {
    name: 'trigger comment',
    change: 'COMMENT ON TRIGGER docs_touch ON app.docs IS NULL',
    restore: `COMMENT ON TRIGGER docs_touch ON app.docs IS 'touches'`,
    expect: ['comment on trigger docs_touch on app.docs'],
  },
  {
    name: 'function comment',
    change: `COMMENT ON FUNCTION add_one(int) IS 'adds 1'`,
    restore: `COMMENT ON FUNCTION add_one(int) IS 'adds one'`,
    expect: ['comment on function public.add_one(integer)'],
  },
  {
    name: 'schema comment',
    change: 'COMMENT ON SCHEMA app IS NULL',
    restore: `COMMENT ON SCHEMA app IS 'application schema'`,
    expect: ['comment on schema app'],
  },
  {
    name: 'new comment on a type',
    change: `COMMENT ON TYPE mood IS 'feelings'`,
    restore: 'COMMENT ON TYPE mood IS NULL',
    expect: ['comment on type public.mood'],
  },
  {
    name: 'index statistics target',
    change: 'ALTER INDEX app.docs_lower_title ALTER COLUMN 1 SET STATISTICS 500',
    restore: 'ALTER INDEX app.docs_lower_title ALTER COLUMN 1 SET STATISTICS 1000',
    expect: ['index app.docs_lower_title on docs'],
  },
  {
    name: 'index reloptions',
    change: 'ALTER INDEX app.docs_tenant SET (fillfactor = 50)',
    restore: 'ALTER INDEX app.docs_tenant SET (fillfactor = 70)',
    expect: ['index app.docs_tenant on docs'],
  },
  {
    name: 'index clustered',
    change: 'ALTER TABLE app.docs CLUSTER ON docs_tenant',
    restore: 'ALTER TABLE app.docs SET WITHOUT CLUSTER',
    expect: ['index app.docs_tenant on docs'],
  },
  {
    name: 'column statistics target',
    change: 'ALTER TABLE app.docs ALTER COLUMN title SET STATISTICS 100',
    restore: 'ALTER TABLE app.docs ALTER COLUMN title SET STATISTICS 250',
    expect: ['column app.docs.title'],
  },
  {
    name: 'column options',
    change: 'ALTER TABLE app.docs ALTER COLUMN tenant RESET (n_distinct)',
    restore: 'ALTER TABLE app.docs ALTER COLUMN tenant SET (n_distinct = 50)',
    expect: ['column app.docs.tenant'],
  },
  {
    name: 'column storage',
    change: 'ALTER TABLE app.docs ALTER COLUMN body SET STORAGE EXTENDED',
    restore: 'ALTER TABLE app.docs ALTER COLUMN body SET STORAGE EXTERNAL',
    expect: ['column app.docs.body'],
  },
  {
    name: 'table reloptions',
    change: 'ALTER TABLE app.docs SET (fillfactor = 80)',
    restore: 'ALTER TABLE app.docs SET (fillfactor = 90)',
    expect: ['table app.docs'],
  },
  {
    name: 'replica identity',
    change: 'ALTER TABLE app.docs REPLICA IDENTITY FULL',
    restore: 'ALTER TABLE app.docs REPLICA IDENTITY DEFAULT',
    expect: ['table app.docs'],
  },
  {
    name: 'dropped rule',
    change: 'DROP RULE docs_log_rule ON app.docs_log',
    restore: 'CREATE RULE docs_log_rule AS ON INSERT TO app.docs_log WHERE NEW.id < 0 DO INSTEAD NOTHING',
    expect: ['rule docs_log_rule on app.docs_log'],
  },
  {
    name: 'disabled rule',
    change: 'ALTER TABLE app.docs_log DISABLE RULE docs_log_rule',
    restore: 'ALTER TABLE app.docs_log ENABLE RULE docs_log_rule',
    expect: ['rule docs_log_rule on app.docs_log'],
  },
  {
    name: 'disabled trigger',
    change: 'ALTER TABLE app.docs DISABLE TRIGGER docs_touch',
    restore: 'ALTER TABLE app.docs ENABLE TRIGGER docs_touch',
    expect: ['trigger docs_touch on app.docs'],
  },
  {
    name: 'deferrable foreign key',
    change: 'ALTER TABLE app.docs ALTER CONSTRAINT docs_tenant_fkey DEFERRABLE',
    restore: 'ALTER TABLE app.docs ALTER CONSTRAINT docs_tenant_fkey NOT DEFERRABLE',
    expect: ['constraint docs_tenant_fkey on app.docs'],
  },
  {
    name: 'view definition',
    change: 'CREATE OR REPLACE VIEW app.doc_titles AS SELECT id, title FROM app.docs WHERE id > 1',
    restore: 'CREATE OR REPLACE VIEW app.doc_titles AS SELECT id, title FROM app.docs WHERE id > 0',
    expect: ['view app.doc_titles'],
  },
  {
    name: 'view options',
    change: 'ALTER VIEW app.doc_titles SET (security_barrier = true)',
    restore: 'ALTER VIEW app.doc_titles RESET (security_barrier)',
    expect: ['view app.doc_titles'],
  },
  {
    name: 'materialized view definition',
    change:
      'DROP MATERIALIZED VIEW app.doc_counts; CREATE MATERIALIZED VIEW app.doc_counts AS SELECT tenant, count(*) AS n FROM app.docs WHERE id > 0 GROUP BY tenant',
    restore: 'DROP MATERIALIZED VIEW app.doc_counts; CREATE MATERIALIZED VIEW app.doc_counts AS SELECT tenant, count(*) AS n FROM app.docs GROUP BY tenant',
    expect: ['materialized view app.doc_counts'],
  },
  {
    name: 'function body',
    change: `CREATE OR REPLACE FUNCTION add_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 2'`,
    restore: `CREATE OR REPLACE FUNCTION add_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1'`,
    expect: ['function public.add_one(x integer)'],
  },
  {
    name: 'function volatility',
    change: 'ALTER FUNCTION add_one(int) VOLATILE',
    restore: 'ALTER FUNCTION add_one(int) IMMUTABLE',
    expect: ['function public.add_one(x integer)'],
  },
  {
    name: 'procedure body',
    change: `CREATE OR REPLACE PROCEDURE reset_docs() LANGUAGE sql AS 'DELETE FROM app.docs WHERE id < 0'`,
    restore: `CREATE OR REPLACE PROCEDURE reset_docs() LANGUAGE sql AS 'DELETE FROM app.docs WHERE false'`,
    expect: ['procedure public.reset_docs()'],
  },
  {
    name: 'dropped extended statistics',
    change: 'DROP STATISTICS app.docs_stats',
    restore: 'CREATE STATISTICS app.docs_stats (dependencies) ON tenant, m FROM app.docs',
    expect: ['statistics app.docs_stats on docs'],
  },
  {
    name: 'sequence definition',
    change: 'ALTER SEQUENCE app.invoice_no INCREMENT 2',
    restore: 'ALTER SEQUENCE app.invoice_no INCREMENT 1',
    expect: ['sequence app.invoice_no'],
  },
  {
    name: 'text search configuration mapping',
    change: 'ALTER TEXT SEARCH CONFIGURATION my_ts DROP MAPPING FOR word',
    restore: 'ALTER TEXT SEARCH CONFIGURATION my_ts ADD MAPPING FOR word WITH my_dict',
    expect: ['text search configuration public.my_ts'],
  },
  {
    name: 'text search dictionary options',
    change: 'ALTER TEXT SEARCH DICTIONARY my_dict (ACCEPT = false)',
    restore: 'ALTER TEXT SEARCH DICTIONARY my_dict (ACCEPT = true)',
    expect: ['text search dictionary public.my_dict'],
  },
  {
    name: 'foreign server options',
    change: `ALTER SERVER film_server OPTIONS (SET host 'elsewhere.example')`,
    restore: `ALTER SERVER film_server OPTIONS (SET host 'films.example')`,
    expect: ['foreign server film_server'],
  },
  {
    name: 'foreign table options',
    change: `ALTER FOREIGN TABLE films OPTIONS (SET table_name 'movies')`,
    restore: `ALTER FOREIGN TABLE films OPTIONS (SET table_name 'films')`,
    expect: ['table public.films'],
  },
  {
    name: 'disabled event trigger',
    admin: true,
    change: 'ALTER EVENT TRIGGER ddl_log DISABLE',
    restore: 'ALTER EVENT TRIGGER ddl_log ENABLE',
    expect: ['event trigger ddl_log'],
  },
  {
    name: 'dropped extension',
    change: 'DROP EXTENSION pgcrypto',
    restore: 'CREATE EXTENSION pgcrypto',
    expect: ['extension pgcrypto', 'comment on extension pgcrypto'],
  },
];
