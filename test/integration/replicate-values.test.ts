// The pgoutput decoder reads values with Buffer's own UTF-8 decoder and plain byte arithmetic, and the applier
// writes them into binary text[] parameters reserved for the worst case and cut to size (issue #28, drain3):
// every awkward value must still arrive as exactly the text the source produced — NULLs, empty strings,
// unchanged TOAST values (absent, kept), bytea, json key order, jsonb, arrays with NULL and quoted elements,
// numeric NaN and long digits, microseconds, backslashes and quotes, multibyte text below and above the size at
// which a value is measured exactly (4,096 UTF-16 units), composite keys and keyless FULL-identity rows.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('pgshift replicate: awkward values arrive byte for byte', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  const catchUp = async () => {
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '120']);
    expect(r.code, r.stderr).toBe(0);
    return parseJson(r);
  };

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'repl_values_src', replication: true }), createDatabase(pg17, { label: 'repl_values_tgt' })]);
    await src.owner(`
      CREATE TABLE v (
        id int PRIMARY KEY, t text, b bytea, j json, jb jsonb, n numeric, ts timestamptz, a int[], ta text[],
        big text, counter int);
      ALTER TABLE v ALTER COLUMN big SET STORAGE EXTERNAL;
      CREATE TABLE ck (k1 text, k2 int, v text, PRIMARY KEY (k1, k2));
      CREATE TABLE full_rows (a int, b text, c jsonb);
      ALTER TABLE full_rows REPLICA IDENTITY FULL;
      INSERT INTO v (id, big, counter) SELECT g, repeat('é' || md5(g::text), 300), 0 FROM generate_series(1, 6) g;`);
    const first = await catchUp();
    expect(first.caughtUp).toBe(true);
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('inserts, folded updates, unchanged TOAST, deletes and keyless rows keep every value exact', { timeout: 300_000 }, async () => {
    await src.owner(`
      INSERT INTO v (id, t, b, j, jb, n, ts, a, ta, big, counter) VALUES
        (10, E'back\\\\slash \\\\N "double" ''single'' {brace} tab\\there', '\\x00ff5c27', '{"b": 1,  "a": [1, 2]}', '{"z": null, "a": "\\u00e9"}',
         'NaN', '2024-02-29 23:59:59.123456+05:30', '{1,NULL,3}', ARRAY['a,b', NULL, '"q"', '', 'NULL'], NULL, 1),
        (11, '', '\\x', '""', '[]', '-0.000000000000000000000000000001', 'infinity', '{}', '{}', '', 2),
        (12, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (13, repeat('ünï ✓ 😀 ', 700), decode(repeat('ab', 5000), 'hex'), ('{"k": "' || repeat('ß', 5000) || '"}')::json, '{"k": 1}',
         '123456789012345678901234567890.123456789012345678901234567890', '1999-12-31 23:59:59.999999+00', '{2147483647}', ARRAY[repeat('€', 4096)],
         repeat('x', 4095) || '€', 3);`);
    await src.owner(`
      BEGIN;
      -- Updates of one row folded into one (a later value wins); big stays unchanged TOAST (absent from the messages).
      UPDATE v SET counter = counter + 1, t = 'first' WHERE id <= 6;
      UPDATE v SET counter = counter + 1, t = E'second \\\\ ''q''' WHERE id <= 6;
      UPDATE v SET jb = '{"b": [1, {"c": null}], "a": 1.50}', n = '1e-20' WHERE id = 2;
      UPDATE v SET big = NULL WHERE id = 3;
      UPDATE v SET t = NULL, ta = ARRAY[NULL]::text[] WHERE id = 10;
      DELETE FROM v WHERE id = 4;
      INSERT INTO v (id, t, counter) VALUES (4, 're-inserted', 9);
      COMMIT;
      INSERT INTO ck VALUES ('a"b', 1, 'x'), (E'c\\\\d', 2, 'y'), ('', 3, ''), ('ü', 4, NULL);
      BEGIN;
      UPDATE ck SET v = 'changed' WHERE k1 = 'a"b';
      UPDATE ck SET v = 'changed again' WHERE k1 = 'a"b';
      DELETE FROM ck WHERE k1 = '';
      COMMIT;
      INSERT INTO full_rows VALUES (1, 'x', '{"a": 1}'), (1, 'x', '{"a": 1}'), (2, NULL, NULL), (3, E'q''\\\\', '[1, "2"]');
      UPDATE full_rows SET b = 'one of two' WHERE ctid = (SELECT ctid FROM full_rows WHERE a = 1 LIMIT 1);
      DELETE FROM full_rows WHERE a = 2;
      UPDATE full_rows SET c = '{"b": 2}' WHERE a = 3;`);
    const r = await catchUp();
    expect(r.caughtUp).toBe(true);
    expect(r.changes).toBeGreaterThan(20);
    const big = await tgt.admin(`SELECT id, length(big) AS n FROM v WHERE id <= 6 ORDER BY id`);
    // The unchanged TOAST values were kept (the UPDATEs did not carry them), the one set to NULL is NULL.
    expect(big.rows.map((x) => x.n)).toEqual([9900, 9900, null, null, 9900, 9900]);
    await expectSameDatabase(src, tgt);
  });
});
