// The same seed SQL runs on source and target, so verify can be tested without depending on pgshift copy.
// Every type whose text could differ between servers or majors is present: floats (NaN, -0, Infinity),
// timestamps with microseconds, intervals, json/jsonb, bytea, arrays, enums, money, generated columns.
export const SEED_SQL = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE items (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  price numeric(10,2) DEFAULT 0 CHECK (price >= 0),
  f float8, r real,
  at timestamptz, d date, iv interval,
  doc jsonb, j json, b bytea, tags text[], flag boolean, m mood, cash money, qty positive_int,
  name_upper text GENERATED ALWAYS AS (upper(name)) STORED
);
INSERT INTO items (name, price, f, r, at, d, iv, doc, j, b, tags, flag, m, cash, qty)
SELECT 'item ' || g, (g % 1000) / 7.0, g / 3.0, g / 7.0,
       timestamptz '2024-03-01 12:00:00.123456+00' + g * interval '1 minute 1.000001 second',
       date '2020-01-01' + g, g * interval '1 hour 3 minutes',
       jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 3), 'nested', jsonb_build_object('x', g / 3.0)),
       json_build_object('g', g, 'b', true), decode(md5(g::text), 'hex'), ARRAY['t' || g % 5, NULL, 'q"uote'],
       g % 2 = 0, (ARRAY['sad','ok','happy'])[1 + g % 3]::mood, g * 1.25, 1 + g % 50
  FROM generate_series(1, 3000) g;
UPDATE items SET f = 'NaN' WHERE id = 17;
UPDATE items SET f = '-0' WHERE id = 18;
UPDATE items SET f = 'Infinity', r = '-Infinity' WHERE id = 21;
UPDATE items SET name = E'multi\\nline "quoted" \\\\ back, comma', tags = '{}' WHERE id = 22;
CREATE INDEX items_at ON items (at);
CREATE INDEX items_lower_name ON items (lower(name)) WHERE flag;

CREATE TABLE order_lines (
  order_id int NOT NULL, line_no int NOT NULL, sku text NOT NULL, qty int NOT NULL DEFAULT 1,
  item_id bigint REFERENCES items (id),
  PRIMARY KEY (order_id, line_no)
);
INSERT INTO order_lines SELECT o, l, 'SKU-' || o || '-' || l, l, 1 + (o * l) % 3000 FROM generate_series(1, 400) o, generate_series(1, 5) l;
ALTER TABLE order_lines ADD CONSTRAINT qty_small CHECK (qty < 100) NOT VALID;

-- No primary key, with duplicate rows.
CREATE TABLE events (kind text, payload jsonb, at timestamp);
INSERT INTO events SELECT 'k' || g % 7, jsonb_build_object('n', g % 10), timestamp '2024-01-01' + (g % 10) * interval '1 day'
  FROM generate_series(1, 500) g;

-- Text key with non-ASCII text (byte order differs from UTF-16 order above the BMP).
CREATE TABLE tags (name text PRIMARY KEY, n int);
INSERT INTO tags VALUES ('zebra', 1), ('Émile', 2), ('日本', 3), ('😀 smile', 4), ('￮ halfwidth', 5), ('a', 6);

-- A table big enough for many buckets and several block-range chunks.
CREATE TABLE big (id int PRIMARY KEY, v text, w double precision);
INSERT INTO big SELECT g, repeat(md5(g::text), 3), g * 1.5 FROM generate_series(1, 60000) g;

CREATE TABLE measurements (id int, at date, value numeric, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO measurements SELECT g, date '2024-01-01' + g % 700, g * 0.001 FROM generate_series(1, 2000) g;

CREATE TABLE parent_inh (id int PRIMARY KEY, label text);
CREATE TABLE child_inh (extra text) INHERITS (parent_inh);
INSERT INTO parent_inh VALUES (1, 'parent row');
INSERT INTO child_inh VALUES (2, 'child row', 'x');

CREATE SEQUENCE invoice_no START 1000;
SELECT setval('invoice_no', 1234);

CREATE MATERIALIZED VIEW item_totals AS SELECT m, count(*) AS n, sum(price) AS total FROM items GROUP BY m;
CREATE VIEW cheap_items AS SELECT id, name FROM items WHERE price < 10;

CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.sku := upper(NEW.sku); RETURN NEW; END $$;
CREATE TRIGGER order_lines_touch BEFORE UPDATE ON order_lines FOR EACH ROW EXECUTE FUNCTION touch();
CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1';
CREATE FUNCTION add_two(x int) RETURNS int LANGUAGE sql IMMUTABLE RETURN x + 2;
ANALYZE;
`;
