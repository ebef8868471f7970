// The hard cases a copy must carry unchanged: awkward values of every common type, awkward identifiers,
// partitions, inheritance, generated/identity columns, dropped columns, FK cycles, TOAST, unlogged tables,
// sequences, large objects, materialized views, NOT VALID constraints, target-side triggers.
// Everything is created by the source *owner* (a Heroku-shaped non-superuser): a copy tool that works there
// works on Heroku. No step needs a superuser (large objects, schemas, types, triggers, COMMENTs and
// plpgsql functions are all within a database owner's rights), so HARDCASE_ADMIN_SQL is deliberately empty;
// keep it that way unless a case truly cannot be built otherwise, and say why next to it.
// Data is small on purpose (tests must be fast) except the few-MB TOAST values, which come from md5 chains:
// pseudo-random, incompressible for pglz, yet deterministic so failures are reproducible.
import type { TestDatabase } from './fixtures.js';

/** Superuser-only setup. Empty by design (see the header). */
export const HARDCASE_ADMIN_SQL = '';

/** Schema with a space, a double quote and mixed case, holding a table named by a reserved word. */
export const WEIRD_SCHEMA = 'Odd "Schema" é';

// The big values: ~3 MB of hex text and ~1.5 MB of random-looking bytes, built server-side.
const BIG_TEXT = `(SELECT string_agg(md5(g::text || 'pgshift'), '') FROM generate_series(1, 100000) g)`;
const BIG_BYTES = `(SELECT decode(string_agg(md5(g::text || 'bytes'), ''), 'hex') FROM generate_series(1, 100000) g)`;

export const HARDCASE_OWNER_SQL = String.raw`
SET TimeZone = 'UTC';

-- Types --------------------------------------------------------------------------------------------------
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'it''s "complicated"');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN email AS text CHECK (VALUE ~ '@') ;
CREATE TYPE complex_t AS (re double precision, im double precision, label text);
CREATE TYPE floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);

CREATE TABLE types_zoo (
  id integer PRIMARY KEY,
  f4 real, f8 double precision, num numeric, num_fixed numeric(40, 20),
  i2 smallint, i8 bigint, flag boolean,
  ts timestamp, tstz timestamptz, t time, ttz timetz, iv interval, d date,
  by bytea, tx text, ch char(6), vc varchar(20), qc "char",
  arr integer[], arr2 text[][], arr_lb integer[],
  j json, jb jsonb, u uuid, ip inet, net cidr, mac macaddr, mac8 macaddr8,
  b bit(8), vb bit varying, m money, x xml, tsv tsvector, pt point,
  e mood, ea mood[], dom posint, em email, comp complex_t, comps complex_t[],
  r4 int4range, rts tstzrange, rd daterange, rn numrange, rf floatrange, mr int4multirange
);
INSERT INTO types_zoo VALUES
 (1, '-0', '-0', 'NaN', '0.00000000000000000001',
  -32768, -9223372036854775808, true,
  '2024-02-29 23:59:59.999999', '2024-02-29 23:59:59.999999+05:30', '24:00:00', '12:34:56.789012+05:30',
  '1 year 2 mons 3 days 04:05:06.789012', '0044-03-15 BC',
  '\x00010200ff00'::bytea, E'tab\there\nnewline\r\\backslash \\N "quotes" ''apos''', 'ab', 'trailing  ', 'q',
  '{1,NULL,3}', '{{a,b},{NULL,"d e"}}', '[0:2]={7,8,9}',
  '{"b": 1,   "a":2, "a" : 3 }', '{"z": [1, 2.50, null], "a": "é", "n": 1e400}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
  B'10100101', B'1', '12.34', '<a b="1">x &amp; y</a>', 'the quick brown fox', '(1.5,-2)',
  'happy', '{sad,NULL,"it''s \"complicated\""}', 1, 'a@b', '(1.5,-0,"x, y")', ARRAY['(1,2,a)'::complex_t, NULL, '(,,)'::complex_t],
  '[1,10)', '[2024-01-01 00:00:00.000001+00,infinity)', '(,2024-01-01]', '(-1.5,NaN]'::numrange, '[-Infinity,0]', '{[1,3),[5,7)}'),
 (2, 'NaN', 'Infinity', '123456789012345678901234567890.123456789012345678901234567890', '-99999999999999999999.99999999999999999999',
  32767, 9223372036854775807, false,
  'infinity', '-infinity', '00:00:00.000001', '00:00:00-15:59', '-1 days +00:00:00.000001', 'infinity',
  '\x'::bytea, 'héllo 🐘 中文 ∑ \u0001? no: literal', '', '', E'\\',
  '{}', '{{"\\\\",","},{"{","}"}}', '{-1}',
  '[1, 2, {"k": "v"}]', '[]', '00000000-0000-0000-0000-000000000000',
  '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00:00:00',
  B'00000000', B'', '-92233720368547758.08', '<?xml version="1.0"?><r/>', '', '(0,0)',
  'sad', '{}', 2147483647, 'x@y', '(NaN,Infinity,"")', '{}',
  'empty', '(,)', '[2024-02-29,2024-03-01)', '[0,0]', '(,)', '{}'),
 (3, '-Infinity', '1e-308', 'Infinity', '0',
  0, 0, NULL,
  '4713-01-01 00:00:00 BC', '2000-01-01 00:00:00+00', '23:59:59.999999', '24:00:00+00', '-178000000 years', '-infinity',
  decode(repeat('00', 64), 'hex'), E'\\N', NULL, NULL, NULL,
  '{NULL}', '{{NULL}}', NULL,
  '{"\u0000": "nul kept in json text"}', '{"nested": {"deep": [true, false]}}', NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, '{NULL}', NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 3.4028235e38, 1.7976931348623157e308, '-Infinity', NULL,
  NULL, NULL, NULL, '1999-12-31 23:59:59.5', '1999-12-31 23:59:59.500001-08', NULL, NULL, '0', '2000-02-29',
  NULL, 'line1' || chr(10) || 'line2' || chr(13) || chr(10) || 'end', NULL, NULL, NULL,
  NULL, NULL, NULL, 'null', 'null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
COMMENT ON TABLE types_zoo IS 'every common type with its awkward values';
COMMENT ON COLUMN types_zoo.f4 IS 'row 1 holds -0: must not become 0';

-- Awkward identifiers ------------------------------------------------------------------------------------
CREATE SCHEMA "Odd ""Schema"" é";
CREATE TABLE "Odd ""Schema"" é"."select" (
  "order" integer PRIMARY KEY, "Mixed Case" text, "with space" text, """quoted""" text, "group" mood
);
INSERT INTO "Odd ""Schema"" é"."select" VALUES (1, 'A', 'b c', '"', 'ok'), (2, NULL, '', '''', NULL);
CREATE INDEX "idx ""weird"" name" ON "Odd ""Schema"" é"."select" (lower("Mixed Case"), "with space" DESC NULLS LAST);
CREATE TABLE "UPPER_lower" ("ID" integer PRIMARY KEY, "user" text);
INSERT INTO "UPPER_lower" VALUES (1, 'u'), (2, 'v');
COMMENT ON TABLE "Odd ""Schema"" é"."select" IS 'reserved word, in a schema with quotes and a space';

-- Partitions (one leaf with a different physical column order, plus a default partition) -----------------
CREATE TABLE measurements (id integer NOT NULL, at date NOT NULL, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measurements_2025 (v text, at date NOT NULL, id integer NOT NULL);
ALTER TABLE measurements ATTACH PARTITION measurements_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE measurements_default PARTITION OF measurements DEFAULT;
INSERT INTO measurements SELECT g, date '2024-01-01' + (g * 5), 'm' || g FROM generate_series(1, 300) g;
INSERT INTO measurements VALUES (1000, '1999-01-01', 'default leaf'), (1001, 'infinity', 'default leaf too');

-- Inheritance: the parent has rows of its own (must be read with ONLY) -----------------------------------
CREATE TABLE vehicles (id integer PRIMARY KEY, name text);
CREATE TABLE cars (doors smallint) INHERITS (vehicles);
INSERT INTO vehicles VALUES (1, 'generic'), (2, 'cart');
INSERT INTO cars VALUES (3, 'sedan', 4), (4, 'coupe', 2);

-- Generated, identity, dropped column ---------------------------------------------------------------------
CREATE TABLE order_lines (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  qty integer NOT NULL, price numeric(12, 2) NOT NULL,
  total numeric GENERATED ALWAYS AS (qty * price) STORED
);
INSERT INTO order_lines (qty, price) SELECT g % 7 + 1, g * 1.25 FROM generate_series(1, 200) g;
CREATE TABLE tickets (id integer GENERATED BY DEFAULT AS IDENTITY (START WITH 100 INCREMENT BY 3) PRIMARY KEY, note text);
INSERT INTO tickets (note) SELECT 'n' || g FROM generate_series(1, 20) g;
INSERT INTO tickets (id, note) VALUES (5000, 'explicit id beyond the sequence');
CREATE TABLE dropped_col (a integer PRIMARY KEY, gone text, c text);
INSERT INTO dropped_col SELECT g, 'soon gone ' || g, 'c' || g FROM generate_series(1, 50) g;
ALTER TABLE dropped_col DROP COLUMN gone;
ALTER TABLE dropped_col ADD COLUMN added_later integer DEFAULT 42;
INSERT INTO dropped_col (a, c) VALUES (51, 'after drop');

-- FK cycle, DEFERRABLE -------------------------------------------------------------------------------------
CREATE TABLE team (id integer PRIMARY KEY, captain_id integer NOT NULL);
CREATE TABLE player (id integer PRIMARY KEY, team_id integer NOT NULL REFERENCES team DEFERRABLE INITIALLY DEFERRED);
ALTER TABLE team ADD CONSTRAINT team_captain_fk FOREIGN KEY (captain_id) REFERENCES player DEFERRABLE INITIALLY DEFERRED;
BEGIN;
INSERT INTO team SELECT g, g * 10 FROM generate_series(1, 5) g;
INSERT INTO player SELECT g, g / 10 FROM generate_series(10, 59) g;
COMMIT;

-- TOAST: large values that compress badly -----------------------------------------------------------------
CREATE TABLE blobs (id integer PRIMARY KEY, body text, raw bytea);
INSERT INTO blobs VALUES (1, ${BIG_TEXT}, ${BIG_BYTES}), (2, 'small', '\x00'), (3, NULL, NULL);
ALTER TABLE blobs ALTER COLUMN body SET STORAGE EXTERNAL;

-- Unlogged ------------------------------------------------------------------------------------------------
CREATE UNLOGGED TABLE session_cache (k text PRIMARY KEY, v jsonb);
INSERT INTO session_cache SELECT 'k' || g, jsonb_build_object('n', g) FROM generate_series(1, 30) g;

-- Sequences -----------------------------------------------------------------------------------------------
CREATE SEQUENCE invoice_no START 1000;
SELECT setval('invoice_no', 4242, true);
CREATE SEQUENCE not_called_yet INCREMENT BY -2 MINVALUE -1000 MAXVALUE 1000 START 1000 CACHE 5 CYCLE;
SELECT setval('not_called_yet', 500, false);
CREATE SEQUENCE untouched;

-- Large objects (one > 1 MB) -------------------------------------------------------------------------------
SELECT lo_from_bytea(0, 'hello large object');
SELECT lo_from_bytea(0, '\x00ff00ff'::bytea);
SELECT lo_from_bytea(0, ''::bytea);
SELECT lo_from_bytea(0, (SELECT decode(string_agg(md5(g::text || 'lo'), ''), 'hex') FROM generate_series(1, 80000) g));
-- Applications keep large-object OIDs in columns: a copy must keep each object under the same OID.
CREATE TABLE documents (id integer PRIMARY KEY, content oid NOT NULL);
INSERT INTO documents SELECT row_number() OVER (ORDER BY oid), oid FROM pg_largeobject_metadata;

-- Materialized views (one populated, one WITH NO DATA that must stay unpopulated) ------------------------
CREATE MATERIALIZED VIEW line_totals AS SELECT qty, sum(total) AS total, count(*) AS n FROM order_lines GROUP BY qty;
CREATE UNIQUE INDEX line_totals_qty ON line_totals (qty);
CREATE MATERIALIZED VIEW never_refreshed AS SELECT id, note FROM tickets WITH NO DATA;
CREATE VIEW big_tickets AS SELECT id, note FROM tickets WHERE id > 1000;

-- NOT VALID constraints with violating rows that must stay (and one that happens to hold) -----------------
CREATE TABLE readings (id integer PRIMARY KEY, v integer, team_id integer);
INSERT INTO readings VALUES (1, -5, 1), (2, 10, 99), (3, 7, 2);
ALTER TABLE readings ADD CONSTRAINT readings_v_nonneg CHECK (v >= 0) NOT VALID;
ALTER TABLE readings ADD CONSTRAINT readings_team_fk FOREIGN KEY (team_id) REFERENCES team NOT VALID;
ALTER TABLE readings ADD CONSTRAINT readings_v_small CHECK (v < 1000) NOT VALID;

-- Audit trigger: if it fired on the target during copy, audit_log would gain rows ------------------------
CREATE TABLE audit_log (id bigserial PRIMARY KEY, table_name text NOT NULL, row_id integer, at timestamptz DEFAULT '2000-01-01');
CREATE FUNCTION audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_log (table_name, row_id) VALUES (TG_TABLE_NAME, NEW.id);
  RETURN NEW;
END $$;
CREATE TABLE payments (id integer PRIMARY KEY, amount numeric(12, 2));
CREATE TRIGGER payments_audit AFTER INSERT ON payments FOR EACH ROW EXECUTE FUNCTION audit_insert();
INSERT INTO payments SELECT g, g * 10 FROM generate_series(1, 25) g;
CREATE TRIGGER payments_disabled BEFORE UPDATE ON payments FOR EACH ROW EXECUTE FUNCTION audit_insert();
ALTER TABLE payments DISABLE TRIGGER payments_disabled;

-- No primary key, duplicate rows; text, uuid and composite keys --------------------------------------------
CREATE TABLE event_log (at timestamptz, kind text, payload jsonb);
INSERT INTO event_log VALUES
  ('2024-01-01 00:00:00.000001+00', 'dup', '{"a": 1}'), ('2024-01-01 00:00:00.000001+00', 'dup', '{"a": 1}'),
  ('2024-01-01 00:00:00.000001+00', 'dup', '{"a": 1}'), (NULL, NULL, NULL), (NULL, NULL, NULL);
CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL);
INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Deutschland'), ('ñ', 'eñe'), ('Z z', 'space');
CREATE TABLE devices (id uuid PRIMARY KEY, label text);
INSERT INTO devices SELECT md5(g::text)::uuid, 'dev ' || g FROM generate_series(1, 40) g;
CREATE TABLE stock (warehouse text, sku integer, qty integer NOT NULL, PRIMARY KEY (warehouse, sku));
INSERT INTO stock SELECT 'w' || (g % 3), g, g * 2 FROM generate_series(1, 60) g;
CREATE INDEX stock_qty_partial ON stock (qty) WHERE qty > 10;
COMMENT ON TABLE event_log IS 'no primary key: duplicates are real rows';

ANALYZE;
`;

/** Build the hard-case schema in a fresh database (admin part first, then everything as the owner). */
export async function buildHardCases(db: TestDatabase): Promise<void> {
  if (HARDCASE_ADMIN_SQL.trim()) await db.admin(HARDCASE_ADMIN_SQL);
  await db.owner(HARDCASE_OWNER_SQL);
}
