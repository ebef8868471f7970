// Ways a copy could lose or duplicate rows, or hang, each reproduced for real: tables whose names join to the
// same dotted string; two runs on one target; Ctrl-C/SIGTERM mid-data; a resume after the source changed; a
// partial --data-only reload. Every copy ends with the independent comparison.
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { doneChunks, pgshiftSessions, spawnCli, waitWhileRunning } from '../support/spawn.js';

// No primary key (page-range chunks) and a uuid key (page-range chunks too: not an integer), ~20 chunks at 1MB.
const SEED_SQL = `
  CREATE TABLE events (n integer, pad text);
  INSERT INTO events SELECT g % 5000, md5(g::text) FROM generate_series(1, 200000) g;
  CREATE TABLE docs (id uuid PRIMARY KEY, n integer, pad text);
  INSERT INTO docs SELECT md5('d' || g)::uuid, g, md5(g::text) FROM generate_series(1, 100000) g;
  ANALYZE;
`;
const copyArgs = (src: TestDatabase, tgt: TestDatabase, ...extra: string[]) => [
  'copy',
  '--source',
  src.url,
  '--target',
  tgt.url,
  '--jobs',
  '1',
  '--split-larger-than',
  '1MB',
  ...extra,
];
const pgshiftDumpDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith('pgshift-dump-'));

describe('copy safety', () => {
  const dbs: TestDatabase[] = [];
  let src: TestDatabase;
  const target = async (label: string) => {
    const db = await createDatabase(inject('clusters').pg17, { label });
    dbs.push(db);
    return db;
  };

  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'safety_src' });
    dbs.push(src);
    await src.owner(SEED_SQL);
  });
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
  });

  it('copies "a.b".c and a."b.c" as two tables (their dotted names are the same string)', async () => {
    const s = await createDatabase(inject('clusters').pg15, { label: 'dots_src' });
    dbs.push(s);
    await s.owner(`
      CREATE SCHEMA "a.b"; CREATE SCHEMA a;
      CREATE TABLE "a.b".c (id int PRIMARY KEY, v text);
      CREATE TABLE a."b.c" (id int PRIMARY KEY, v text);
      INSERT INTO "a.b".c SELECT g, 'first ' || g FROM generate_series(1, 1000) g;
      INSERT INTO a."b.c" SELECT g, 'second ' || g FROM generate_series(1, 500) g;`);
    const t = await target('dots_tgt');
    const r = await runCli(['copy', '--source', s.url, '--target', t.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { rows } = await t.admin(`SELECT (SELECT count(*) FROM "a.b".c)::int AS first, (SELECT count(*) FROM a."b.c")::int AS second`);
    expect(rows[0]).toEqual({ first: 1000, second: 500 });
    await expectSameDatabase(s, t);
  });

  it('refuses a second run (copy, copy --resume, cleanup) while one works on the target, naming it', async () => {
    const t = await target('lock_tgt');
    const first = spawnCli(copyArgs(src, t));
    await waitWhileRunning(first, 'a chunk was committed', async () => (await doneChunks(t)) > 0);
    // Hold the first run mid-data: its next COPY waits on this lock until the refusals are checked.
    const holder = new pg.Client({ connectionString: t.adminUrl.replace(/[?&]sslmode=[^&]*/, '') });
    await holder.connect();
    await holder.query('BEGIN; LOCK TABLE events, docs IN ACCESS EXCLUSIVE MODE');
    for (const args of [copyArgs(src, t, '--resume'), copyArgs(src, t), ['cleanup', '--target', t.url, '--force']]) {
      const r = await runCli(args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/another pgshift run is working on the target .*pgshift copy \[[^\]]+:\d+\]/);
      expect(r.stderr).not.toMatch(/interrupted/);
      expect(r.stderr).not.toContain(src.password);
    }
    expect(first.exited()).toBe(false);
    await holder.query('COMMIT');
    await holder.end();
    const done = await first.exit;
    expect(done.code, first.output()).toBe(0);
    await expectSameDatabase(src, t);
  });

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} with --jobs 1 ends within seconds (exit ${code}), leaves nothing open, and --resume finishes`, async () => {
      const t = await target(`sig_${code}`);
      const run = spawnCli(copyArgs(src, t));
      await waitWhileRunning(run, 'a third of the chunks were committed', async () => (await doneChunks(t)) >= 6);
      const sentAt = Date.now();
      run.child.kill(signal);
      const guard = setTimeout(() => process.kill(-run.child.pid!, 'SIGKILL'), 30_000);
      const exit = await run.exit;
      clearTimeout(guard);
      expect(exit.signal, `still running 30 s after ${signal}:\n${run.output()}`).toBeNull();
      expect(Date.now() - sentAt).toBeLessThan(10_000);
      expect(exit.code, run.output()).toBe(code);
      expect(run.output()).toMatch(/--resume/);
      // The source coordinator must not stay idle in transaction (it would hold back vacuum in production).
      const deadline = Date.now() + 5_000;
      while ((await pgshiftSessions(src)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await pgshiftSessions(src)).toEqual([]);
      expect(await pgshiftSessions(t)).toEqual([]);
      expect(pgshiftDumpDirs().filter((n) => n.startsWith(`pgshift-dump-${run.child.pid}-`))).toEqual([]);
      const r = await runCli(copyArgs(src, t, '--resume'));
      expect(r.code, r.stderr).toBe(0);
      await expectSameDatabase(src, t);
    });
  }

  it('--resume after a run stopped before recording itself (state schema only) says there is nothing to resume; the plain command then copies', async () => {
    // What a crash leaves between the state schema's first transaction and migration 1 (seen with a target
    // restart 0.7 s into a copy): the schema and its migrations table, no copy_run.
    const t = await target('norun_tgt');
    await t.owner(`CREATE SCHEMA pgshift; REVOKE ALL ON SCHEMA pgshift FROM PUBLIC;
      CREATE TABLE pgshift.schema_migrations (id int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
      REVOKE ALL ON pgshift.schema_migrations FROM PUBLIC`);
    const r = await runCli(copyArgs(src, t, '--resume'));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/no pgshift copy to resume on this target; nothing was changed/);
    expect(r.stderr).toMatch(/next: run the same command without --resume/);
    const again = await runCli(copyArgs(src, t));
    expect(again.code, again.stderr).toBe(0);
    await expectSameDatabase(src, t);
  });

  it('a resume after the source changed never duplicates rows of page-range chunks, and names the changed tables', async () => {
    const s = await createDatabase(inject('clusters').pg15, { label: 'changed_src' });
    dbs.push(s);
    await s.owner(SEED_SQL);
    const t = await target('changed_tgt');
    const run = spawnCli(copyArgs(s, t));
    await waitWhileRunning(run, 'a few chunks were committed', async () => (await doneChunks(t)) >= 3);
    process.kill(-run.child.pid!, 'SIGKILL');
    await run.exit;
    // Every row gets a new version at the end of the heap: page ranges now cut the rows differently.
    await s.owner(`UPDATE events SET n = n + 1; UPDATE docs SET n = n + 1;`);
    await new Promise((r) => setTimeout(r, 1500)); // statistics counters are flushed about once a second
    const r = await runCli(copyArgs(s, t, '--resume', '--json'));
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.resumed).toBe(true);
    expect(summary.staleTables.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/may be stale/);
    const { rows } = await t.admin(`SELECT (SELECT count(*) FROM events)::int AS events, (SELECT count(*) FROM docs)::int AS docs`);
    expect(rows[0]).toEqual({ events: 200000, docs: 100000 });
    await expectSameDatabase(s, t);
  });

  it('an --include that matches no table is a usage error (exit 2) and writes nothing', async () => {
    const t = await target('nomatch_tgt');
    const r = await runCli(['copy', '--source', src.url, '--target', t.url, '--include', 'public.evnts']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--include "public\.evnts" matches no table/);
    const { rows } = await t.admin(`SELECT to_regnamespace('pgshift') IS NULL AS clean`);
    expect(rows[0].clean).toBe(true);
  });

  it('--data-only --include one table touches only that table and its own sequence', async () => {
    const s = await createDatabase(inject('clusters').pg15, { label: 'partial_src' });
    dbs.push(s);
    await s.owner(`
      CREATE TABLE orders (id serial PRIMARY KEY, v text);
      CREATE TABLE other (id int PRIMARY KEY);
      CREATE SEQUENCE invoice_no;
      INSERT INTO orders (v) SELECT 'o' || g FROM generate_series(1, 100) g;
      SELECT setval('invoice_no', 500);
      SELECT lo_from_bytea(424242, 'source large object');`);
    const t = await target('partial_tgt');
    expect((await runCli(['copy', '--source', s.url, '--target', t.url])).code).toBe(0);
    // The target moves on: its standalone sequence and large object must survive a reload of one table.
    await t.owner(`SELECT setval('invoice_no', 900); SELECT lo_put(424242, 0, 'TARGET'); TRUNCATE orders;`);
    const r = await runCli(['copy', '--source', s.url, '--target', t.url, '--data-only', '--include', 'public.orders']);
    expect(r.code, r.stderr).toBe(0);
    const { rows } = await t.admin(
      `SELECT (SELECT last_value FROM invoice_no)::int AS inv, convert_from(lo_get(424242), 'UTF8') AS lo, (SELECT count(*) FROM orders)::int AS orders,
              (SELECT last_value FROM orders_id_seq)::int AS oseq`,
    );
    expect(rows[0]).toEqual({ inv: 900, lo: 'TARGET large object', orders: 100, oseq: 100 });
  });
});
