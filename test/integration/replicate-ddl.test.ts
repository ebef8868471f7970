// DDL on the source while replicating (pgoutput): replication stops at the first change that uses the new
// definition with exit 1 and the exact statement for the target, keeps everything before it, and after the user
// runs that statement the rerun continues — also when pre-DDL changes are replayed with the old definition.
// --apply-ddl applies ADD COLUMN (nullable, no default) and DROP COLUMN itself. Real servers, PG15 → PG17,
// ending with the independent comparison.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SCHEMA = `
CREATE TABLE t (id int PRIMARY KEY, a text, b int);
INSERT INTO t SELECT g, 'a' || g, g FROM generate_series(1, 100) g;
CREATE TABLE u (id int PRIMARY KEY, a text, gone text);
INSERT INTO u SELECT g, 'a' || g, 'g' || g FROM generate_series(1, 50) g;
`;

const pairs: TestDatabase[] = [];

async function pair(label: string): Promise<{ src: TestDatabase; tgt: TestDatabase }> {
  const { pg15, pg17 } = inject('clusters');
  const [src, tgt] = await Promise.all([createDatabase(pg15, { label: `${label}_src`, replication: true }), createDatabase(pg17, { label: `${label}_tgt` })]);
  pairs.push(src, tgt);
  await src.owner(SCHEMA);
  return { src, tgt };
}

function replicate(src: TestDatabase, tgt: TestDatabase, ...extra: string[]): Promise<CliResult> {
  return runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '60', ...extra]);
}

/** The statements the error's "next:" tells the user to run on the target. */
function advised(r: CliResult): string[] {
  return [...r.stderr.matchAll(/^ {4}(ALTER TABLE .*);$/gm)].map((m) => m[1]!);
}

async function count(db: TestDatabase, sql: string): Promise<number> {
  return (await db.admin(sql)).rows[0].n;
}

describe('pgshift replicate: DDL on the source the user can follow through', () => {
  afterAll(async () => {
    for (let i = 0; i < pairs.length; i += 2) {
      await runCli(['cleanup', '--source', pairs[i]!.url, '--target', pairs[i + 1]!.url, '--force']).catch(() => undefined);
    }
    await Promise.all(pairs.map((d) => d.drop()));
  });

  it('DROP COLUMN: stops with exit 1 and the statement, keeps every change before it; after the statement the rerun continues', async () => {
    const { src, tgt } = await pair('ddl_drop');
    const first = await replicate(src, tgt);
    expect(first.code, first.stderr).toBe(0);
    // Transactions before the DDL, the DDL, then changes that use the new definition (one backlog, one batch).
    for (let i = 0; i < 5; i++) await src.owner(`INSERT INTO t VALUES (${1000 + i}, 'before', ${i}); UPDATE t SET b = -b WHERE id = ${i + 1}`);
    await src.owner(`ALTER TABLE t DROP COLUMN b`);
    await src.owner(`INSERT INTO t VALUES (2000, 'after'); UPDATE t SET a = 'after' WHERE id = 50; DELETE FROM t WHERE id = 51`);

    const stopped = await replicate(src, tgt);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('public.t');
    expect(stopped.stderr).toMatch(/column b is on the target but was dropped on the source/);
    expect(advised(stopped)).toEqual(['ALTER TABLE "public"."t" DROP COLUMN "b"']);
    // Everything before the DDL is on the target; nothing after it.
    expect(await count(tgt, `SELECT count(*)::int AS n FROM t WHERE id BETWEEN 1000 AND 1004`)).toBe(5);
    expect(await count(tgt, `SELECT count(*)::int AS n FROM t WHERE b < 0`)).toBe(5);
    expect(await count(tgt, `SELECT count(*)::int AS n FROM t WHERE id = 2000`)).toBe(0);

    // A rerun without the fix says the same thing (no drift of the advice).
    const again = await replicate(src, tgt);
    expect(again.code, again.stderr).toBe(1);
    expect(advised(again)).toEqual(advised(stopped));

    for (const sql of advised(stopped)) await tgt.owner(sql);
    const done = await replicate(src, tgt);
    expect(done.code, done.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('DROP COLUMN inside a transaction that also wrote the table before it: the rerun replays the old definition and still continues', async () => {
    const { src, tgt } = await pair('ddl_midtx');
    expect((await replicate(src, tgt)).code).toBe(0);
    await src.owner(`INSERT INTO u VALUES (500, 'pre-1', 'x')`);
    await src.owner(`BEGIN; INSERT INTO u VALUES (501, 'same tx, before', 'y'); UPDATE u SET gone = 'z' WHERE id = 1;
                     ALTER TABLE u DROP COLUMN gone; INSERT INTO u VALUES (502, 'same tx, after'); COMMIT`);
    await src.owner(`INSERT INTO u VALUES (503, 'after')`);
    const stopped = await replicate(src, tgt);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(advised(stopped)).toEqual(['ALTER TABLE "public"."u" DROP COLUMN "gone"']);
    for (const sql of advised(stopped)) await tgt.owner(sql);
    const done = await replicate(src, tgt);
    expect(done.code, done.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('ADD COLUMN with a default: the advised statement carries type, default and NOT NULL; after it the rerun continues', async () => {
    const { src, tgt } = await pair('ddl_add');
    expect((await replicate(src, tgt)).code).toBe(0);
    await src.owner(`INSERT INTO t VALUES (1000, 'before', 1)`);
    await src.owner(`ALTER TABLE t ADD COLUMN c numeric(10,2) DEFAULT 1.5 NOT NULL`);
    await src.owner(`INSERT INTO t VALUES (1001, 'after', 2, 7.25); UPDATE t SET c = 3 WHERE id = 3`);
    const stopped = await replicate(src, tgt);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toMatch(/column c exists on the source but not on the target/);
    expect(advised(stopped)).toEqual(['ALTER TABLE "public"."t" ADD COLUMN "c" numeric(10,2) DEFAULT 1.5 NOT NULL']);
    expect(await count(tgt, `SELECT count(*)::int AS n FROM t WHERE id = 1000`)).toBe(1);
    for (const sql of advised(stopped)) await tgt.owner(sql);
    const done = await replicate(src, tgt);
    expect(done.code, done.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('RENAME COLUMN and a changed type: named as RENAME and ALTER … TYPE (never ADD + DROP), and the rerun continues', async () => {
    const { src, tgt } = await pair('ddl_rename');
    expect((await replicate(src, tgt)).code).toBe(0);
    await src.owner(`ALTER TABLE t RENAME COLUMN a TO label; INSERT INTO t VALUES (1000, 'renamed', 1); UPDATE t SET label = 'x' WHERE id = 2`);
    await src.owner(`ALTER TABLE u ALTER COLUMN gone TYPE varchar(20); INSERT INTO u VALUES (1000, 'retyped', 'v')`);
    const stopped = await replicate(src, tgt, '--apply-ddl');
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(advised(stopped)).toEqual(['ALTER TABLE "public"."t" RENAME COLUMN "a" TO "label"']);
    for (const sql of advised(stopped)) await tgt.owner(sql);
    const next = await replicate(src, tgt);
    expect(next.code, next.stderr).toBe(1);
    expect(advised(next)).toEqual(['ALTER TABLE "public"."u" ALTER COLUMN "gone" TYPE character varying(20) USING "gone"::character varying(20)']);
    for (const sql of advised(next)) await tgt.owner(sql);
    const done = await replicate(src, tgt);
    expect(done.code, done.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('--apply-ddl: ADD COLUMN (nullable) and DROP COLUMN are applied on the target as the stream reaches them', async () => {
    const { src, tgt } = await pair('ddl_apply');
    expect((await replicate(src, tgt)).code).toBe(0);
    await src.owner(`INSERT INTO t VALUES (1000, 'before', 1)`);
    await src.owner(`ALTER TABLE t ADD COLUMN d jsonb; INSERT INTO t VALUES (1001, 'with d', 2, '{"k": [1, 2]}')`);
    await src.owner(`UPDATE t SET d = '{"x": 1}' WHERE id <= 10`);
    await src.owner(`ALTER TABLE t DROP COLUMN b; INSERT INTO t VALUES (1002, 'no b', null); DELETE FROM t WHERE id = 20`);
    await src.owner(`ALTER TABLE u DROP COLUMN gone; UPDATE u SET a = 'x' WHERE id < 5`);
    const r = await replicate(src, tgt, '--apply-ddl');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ADD COLUMN \\?"d\\?" jsonb on the target \(--apply-ddl\)/);
    await expectSameDatabase(src, tgt);

    // A column whose existing rows get a value (a default, NOT NULL) is not added silently: the statement is named.
    await src.owner(`ALTER TABLE t ADD COLUMN e int NOT NULL DEFAULT 0; INSERT INTO t VALUES (1003, 'e', null, 5)`);
    const stopped = await replicate(src, tgt, '--apply-ddl');
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(advised(stopped)).toEqual(['ALTER TABLE "public"."t" ADD COLUMN "e" integer DEFAULT 0 NOT NULL']);
    for (const sql of advised(stopped)) await tgt.owner(sql);
    const done = await replicate(src, tgt, '--apply-ddl');
    expect(done.code, done.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });
});
