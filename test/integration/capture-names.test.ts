// Trigger capture (issue 21 items 7 and 9): columns named like the aliases the capture and apply SQL use
// (n, o, t, k, l, key, tbl…) must not be taken for the row, with and without a key; reg* values (regclass,
// regtype, …) arrive as names, not as the source's OIDs. Judged by the independent comparison.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compareDatabases, formatDifference } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { captureUntilCaughtUp, isCaptureObject } from '../support/capture.js';

// Every alias the generated trigger and apply SQL use, as a column name; some rows equal in every other column.
const SCHEMA = `
CREATE TABLE shadow_bag (n int, o int, t text, k int, l text, key text, tbl int, op text, xid int, id int);
INSERT INTO shadow_bag SELECT g % 3, g % 2, 't' || (g % 4), 1, 'l', 'key', g, 'op', 0, 0 FROM generate_series(1, 10) g;
CREATE TABLE shadow_keyed (id int PRIMARY KEY, n int, o int, t text, k int, l text, key text, tbl int);
INSERT INTO shadow_keyed SELECT g, 1, 1, 't', 1, 'l', 'key', 1 FROM generate_series(1, 10) g;
CREATE TABLE shadow_named_key (n int, o int, t text, PRIMARY KEY (n, o));
INSERT INTO shadow_named_key SELECT g, g, 't' FROM generate_series(1, 10) g;
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE FUNCTION f_one() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE regs (id int PRIMARY KEY, c regclass, ty regtype, p regproc, pr regprocedure, ns regnamespace, cf regconfig);
CREATE TABLE regs_bag (c regclass, ty regtype);
CREATE TABLE regs_key (c regclass PRIMARY KEY, v int);
INSERT INTO regs VALUES (0, 'shadow_keyed', 'mood', 'f_one', 'f_one()', 'public', 'english');
INSERT INTO regs_bag VALUES ('regs', 'mood');
INSERT INTO regs_key VALUES ('shadow_bag', 1);
`;

const CHANGES = `
INSERT INTO shadow_bag VALUES (7, 7, 'new', 1, 'l', 'key', 99, 'op', 0, 0), (7, 7, 'new', 1, 'l', 'key', 99, 'op', 0, 0);
UPDATE shadow_bag SET t = 'upd' WHERE tbl IN (1, 2, 3);
DELETE FROM shadow_bag WHERE tbl IN (4, 5);
UPDATE shadow_bag SET n = n + 10 WHERE tbl = 6;
INSERT INTO shadow_keyed VALUES (11, 2, 2, 'new', 2, 'l2', 'k2', 2);
UPDATE shadow_keyed SET t = 'upd', n = 5 WHERE id <= 3;
UPDATE shadow_keyed SET id = id + 100 WHERE id = 4;
DELETE FROM shadow_keyed WHERE id IN (5, 6);
INSERT INTO shadow_named_key VALUES (11, 11, 'new');
UPDATE shadow_named_key SET t = 'upd' WHERE n <= 3;
UPDATE shadow_named_key SET n = n + 100 WHERE n = 4;
DELETE FROM shadow_named_key WHERE n IN (5, 6);
INSERT INTO regs VALUES (1, 'shadow_bag', 'mood', 'now', 'pg_catalog.lower(text)', 'public', 'english');
INSERT INTO regs VALUES (2, 'regs', 'mood[]', 'f_one', 'f_one()', 'pg_catalog', 'simple');
INSERT INTO regs_bag VALUES ('shadow_keyed', 'mood'), ('regs', 'integer');
UPDATE regs SET c = 'shadow_named_key' WHERE id = 2;
INSERT INTO regs_key VALUES ('regs', 2), ('regs_bag', 3);
UPDATE regs_key SET v = 10 WHERE c = 'shadow_bag'::regclass;
UPDATE regs_key SET c = 'shadow_keyed' WHERE c = 'regs'::regclass;
`;

describe('replicate --capture triggers: columns named like the capture SQL aliases, reg* values (15 → 17)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'capn_src' }), createDatabase(pg17, { label: 'capn_tgt' })]);
    await src.owner(SCHEMA);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop()]));

  async function expectIdentical(): Promise<void> {
    const diffs = await compareDatabases(src, tgt, { ignore: isCaptureObject });
    expect(diffs.map(formatDifference)).toEqual([]);
  }

  it('INSERT, UPDATE and DELETE on tables with columns n, o, t, k, l (with and without a key) and reg* values converge exactly', async () => {
    const first = await captureUntilCaughtUp(src.url, tgt.url);
    expect(first.caughtUp).toBe(true);
    await expectIdentical();
    // The target's regs must hold names: rename nothing, but the OIDs differ between the two servers.
    await src.owner(CHANGES);
    const second = await captureUntilCaughtUp(src.url, tgt.url);
    expect(second.changes).toBeGreaterThan(0);
    await expectIdentical();
    const { rows } = await tgt.admin(`SET search_path = ''; SELECT c::text AS c, ty::text AS ty FROM public.regs ORDER BY id`).then((r: any) => r[1]);
    expect(rows).toEqual([
      { c: 'public.shadow_keyed', ty: 'public.mood' },
      { c: 'public.shadow_bag', ty: 'public.mood' },
      { c: 'public.shadow_named_key', ty: 'public.mood[]' },
    ]);
    // Deletes and updates again after a converged batch (the rows now differ only in the shadowing columns).
    await src.owner(`DELETE FROM shadow_bag WHERE n = 7; UPDATE shadow_bag SET o = o + 1; DELETE FROM regs_bag WHERE ty = 'mood'::regtype`);
    await captureUntilCaughtUp(src.url, tgt.url);
    await expectIdentical();
  }, 240_000);
});
