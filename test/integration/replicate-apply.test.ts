// The applier groups changes by table and sends each table's consecutive same-shape changes as one statement,
// collapsing repeated UPDATEs of a row into one. These are the cases where that could go wrong if it were done
// carelessly; each ends with the independent source-vs-target comparison.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('pgshift replicate: grouped apply keeps every table exact', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  const catchUp = async () => {
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '120']);
    expect(r.code, r.stderr).toBe(0);
    return parseJson(r);
  };

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'repl_apply_src', replication: true }), createDatabase(pg17, { label: 'repl_apply_tgt' })]);
    await src.owner(`
      CREATE TABLE uq (id int PRIMARY KEY, code int UNIQUE, note text);
      INSERT INTO uq SELECT g, g, 'n' FROM generate_series(1, 10) g;
      CREATE TABLE parent (id int PRIMARY KEY, v text);
      CREATE TABLE child (extra int) INHERITS (parent);
      ALTER TABLE child ADD PRIMARY KEY (id);
      INSERT INTO parent VALUES (1, 'parent-1'), (2, 'parent-2');
      INSERT INTO child VALUES (1, 'child-1', 10), (2, 'child-2', 20);
      CREATE TABLE doc (id int PRIMARY KEY, big text, counter int, tag text);
      ALTER TABLE doc ALTER COLUMN big SET STORAGE EXTERNAL;
      INSERT INTO doc SELECT g, repeat(md5(g::text), 4000), 0, 't' FROM generate_series(1, 20) g;
      CREATE TABLE hot (id int PRIMARY KEY, balance bigint NOT NULL);
      INSERT INTO hot SELECT g, 0 FROM generate_series(1, 5) g;
      CREATE TABLE orders (id int PRIMARY KEY, note text);
      CREATE TABLE lines (id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders DEFERRABLE INITIALLY DEFERRED, qty int);
      CREATE TABLE nokey (a int, b text);
      ALTER TABLE nokey REPLICA IDENTITY FULL;
      INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (2, 'y');`);
    const first = await catchUp();
    expect(first.caughtUp).toBe(true);
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('applies swaps of unique values, inheritance, unchanged TOAST, hot rows, key changes, re-inserts and FKs exactly', { timeout: 300_000 }, async () => {
    await src.owner(`
      -- Unique values swapped inside one transaction: transient conflicts must not be introduced by grouping.
      BEGIN;
      UPDATE uq SET code = 100 WHERE id = 1; UPDATE uq SET code = 1 WHERE id = 2; UPDATE uq SET code = 2 WHERE id = 1;
      UPDATE uq SET note = 'a' WHERE id = 3; UPDATE uq SET note = 'b' WHERE id = 3;
      COMMIT;
      -- Parent and child rows share ids: a change to one must not touch the other.
      UPDATE ONLY parent SET v = 'parent-1 changed' WHERE id = 1;
      DELETE FROM ONLY parent WHERE id = 2;
      UPDATE child SET v = 'child-2 changed' WHERE id = 2;
      -- The big value is not sent with these UPDATEs (unchanged TOAST): it must stay as it is.
      UPDATE doc SET counter = counter + 1 WHERE id <= 10;
      UPDATE doc SET counter = counter + 1, tag = 'u' WHERE id <= 5;
      UPDATE doc SET counter = counter + 1 WHERE id <= 10;
      UPDATE doc SET big = 'small now' WHERE id = 7;`);
    await src.owner(`
      -- Many transactions hammer a few rows (collapsed per batch), interleaved with other tables.
      DO $$ BEGIN
        FOR i IN 1..3000 LOOP
          UPDATE hot SET balance = balance + i WHERE id = 1 + i % 5;
          IF i % 300 = 0 THEN
            INSERT INTO orders VALUES (i, 'o' || i);
            INSERT INTO lines VALUES (i, i, i % 7);
          END IF;
          IF i % 500 = 0 THEN COMMIT; END IF;
        END LOOP;
      END $$;`);
    await src.owner(`
      -- A child row inserted before its parent in another transaction order; a key that changes; a row deleted and re-inserted.
      BEGIN;
      INSERT INTO lines VALUES (5000, 5000, 1);
      INSERT INTO orders VALUES (5000, 'late parent');
      UPDATE orders SET id = 6000 WHERE id = 300;
      UPDATE lines SET order_id = 6000 WHERE order_id = 300;
      UPDATE orders SET note = 'moved' WHERE id = 6000;
      DELETE FROM hot WHERE id = 2;
      INSERT INTO hot VALUES (2, -1);
      UPDATE hot SET balance = balance - 1 WHERE id = 2;
      COMMIT;
      -- Duplicate rows without a key: exactly one is changed.
      UPDATE nokey SET b = 'z' WHERE ctid = (SELECT ctid FROM nokey WHERE a = 1 LIMIT 1);`);
    const r = await catchUp();
    expect(r.caughtUp).toBe(true);
    expect(r.changes).toBeGreaterThan(3000);
    await expectSameDatabase(src, tgt);
  });
});
