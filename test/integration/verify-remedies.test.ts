// verify's next steps fit the state of the target (issue #29.4), and each one works when followed as printed
// (the URLs in place of `…`): an empty target → copy; an interrupted copy → copy --resume; a finished copy with
// differing tables → TRUNCATE ONLY (with the tables that reference them) + copy --data-only --include; a
// replication → replicate --until-caught-up. Every case ends with the independent comparison (compare.ts).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { isCaptureObject } from '../support/capture.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { doneChunks, sleep, spawnCli } from '../support/spawn.js';

const SCHEMA = `
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 200) g;
CREATE TABLE orders (id serial PRIMARY KEY, customer integer NOT NULL REFERENCES customers, amount numeric(10,2) NOT NULL);
INSERT INTO orders (customer, amount) SELECT 1 + g % 200, g * 1.5 FROM generate_series(1, 1000) g;
CREATE TABLE notes (id serial PRIMARY KEY, body text);
INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 300) g;
CREATE TABLE untouched (k text PRIMARY KEY);
INSERT INTO untouched SELECT 'k' || g FROM generate_series(1, 50) g;
-- A name that needs quoting in SQL and in the shell.
CREATE TABLE "Odd Name" (id integer PRIMARY KEY, v text);
INSERT INTO "Odd Name" SELECT g, 'v' || g FROM generate_series(1, 20) g;
-- Reserved words: the schema part of a printed name must be quoted for the statement to run.
CREATE SCHEMA "user";
CREATE TABLE "user"."order" (id integer PRIMARY KEY, v text);
INSERT INTO "user"."order" SELECT g, 'o' || g FROM generate_series(1, 20) g;
CREATE SEQUENCE invoice_no;
SELECT setval('invoice_no', 42);
`;

/** Words of one printed command line, as a POSIX shell splits them (plain words and '…' quoting only). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)) words.push(m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!);
  return words;
}

/**
 * Follow the "Result" block of a verify text report literally: each `on the target:` statement runs as the
 * target's owner, each `run:`/`then:` command runs with the URLs in place of `…`. Returns what was done.
 */
async function follow(text: string, src: TestDatabase, tgt: TestDatabase): Promise<string[]> {
  const result = text.slice(text.indexOf('Result: target does NOT match source'));
  const done: string[] = [];
  for (const line of result.split('\n')) {
    const sql = /^\s+on the target: (.*)$/.exec(line);
    const command = /^\s+(?:run|then):\s+(pgshift .*)$/.exec(line);
    if (sql) {
      await tgt.owner(sql[1]!);
      done.push(sql[1]!);
    } else if (command) {
      const args = shellWords(command[1]!.replace('--source …', `--source ${src.url}`).replace('--target …', `--target ${tgt.url}`)).slice(1);
      const r = await runCli(args);
      expect(r.code, `${command[1]}\n${r.stderr}`).toBe(0);
      done.push(command[1]!);
    }
  }
  return done;
}

async function verify(src: TestDatabase, tgt: TestDatabase) {
  const json = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
  const text = await runCli(['verify', '--source', src.url, '--target', tgt.url]);
  expect(text.code, text.stderr).toBe(json.code);
  return { code: json.code, rep: parseJson(json), text: text.stdout };
}

describe('verify: next steps fit the target and work as printed', () => {
  let src: TestDatabase;
  let big: TestDatabase;
  const targets: TestDatabase[] = [];
  const target = async (label: string) => {
    const t = await createDatabase(inject('clusters').pg17, { label });
    targets.push(t);
    return t;
  };

  beforeAll(async () => {
    const { pg15 } = inject('clusters');
    [src, big] = await Promise.all([createDatabase(pg15, { label: 'vrem_src', replication: true }), createDatabase(pg15, { label: 'vrem_big' })]);
    await src.owner(SCHEMA);
    // Enough rows in small chunks that a copy can be stopped between two of them.
    await big.owner(`CREATE TABLE wide (id integer PRIMARY KEY, pad text);
      INSERT INTO wide SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 60000) g; ANALYZE;`);
  });
  afterAll(async () => {
    for (const t of targets) await runCli(['cleanup', '--source', src.url, '--target', t.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), big?.drop(), ...targets.map((t) => t.drop())]);
  });

  it('before any copy (empty target): copy, not TRUNCATE', async () => {
    const tgt = await target('vrem_empty');
    const { code, rep, text } = await verify(src, tgt);
    expect(code).toBe(1);
    expect(rep.targetState).toEqual({ kind: 'empty' });
    expect(rep.nextSteps).toEqual([expect.objectContaining({ about: 'target', command: 'pgshift copy --source … --target …' })]);
    expect(text).not.toMatch(/TRUNCATE|--data-only/);
    expect(await follow(text, src, tgt)).toEqual(['pgshift copy --source … --target …']);
    expect((await verify(src, tgt)).code).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  /** A copy of `big` into tgt, returned once its first chunk is committed. */
  const copyUnderway = async (tgt: TestDatabase) => {
    const run = spawnCli(['copy', '--source', big.url, '--target', tgt.url, '--jobs', '1', '--split-larger-than', '1MB']);
    const deadline = Date.now() + 120_000;
    while ((await doneChunks(tgt)) === 0) {
      if (run.exited()) throw new Error(`copy ended before it could be stopped mid-data:\n${run.output()}`);
      if (Date.now() > deadline) throw new Error('no chunk was committed within 120 s');
      await sleep(20);
    }
    return run;
  };

  it('a copy still running: let it finish (no --resume, which it would refuse)', async () => {
    const tgt = await target('vrem_running');
    const held = new pg.Client({ connectionString: tgt.adminUrl.replace(/[?&]sslmode=[^&]*/, '') });
    await held.connect();
    const run = await copyUnderway(tgt);
    try {
      // SHARE: the copy's next COPY into wide waits; verify's reads do not.
      await held.query('BEGIN; LOCK TABLE wide IN SHARE MODE');
      const { code, rep, text } = await verify(big, tgt);
      expect(code).toBe(1);
      expect(rep.targetState).toMatchObject({ kind: 'copy', finished: false, running: expect.stringMatching(/^pgshift copy \[/) });
      expect(rep.nextSteps).toEqual([
        { about: 'target', text: expect.stringMatching(/^a pgshift copy is still running into this target \(pgshift copy \[.*\): let it finish/) },
      ]);
      expect(text).not.toMatch(/TRUNCATE|--data-only|--resume|run: /);
    } finally {
      await held.query('COMMIT');
      await held.end();
    }
    expect((await run.exit).code, run.output()).toBe(0);
    expect((await verify(big, tgt)).code).toBe(0);
    await expectSameDatabase(big, tgt);
  });

  it('an interrupted copy: the exact copy --resume', async () => {
    const tgt = await target('vrem_partial');
    const run = await copyUnderway(tgt);
    process.kill(-run.child.pid!, 'SIGKILL'); // the machine running pgshift is lost
    await run.exit;
    const { code, rep, text } = await verify(big, tgt);
    expect(code).toBe(1);
    expect(rep.targetState).toMatchObject({ kind: 'copy', finished: false });
    expect(rep.nextSteps).toEqual([expect.objectContaining({ about: 'target', command: 'pgshift copy --source … --target … --resume' })]);
    expect(text).not.toMatch(/TRUNCATE|--data-only/);
    expect(await follow(text, big, tgt)).toEqual(['pgshift copy --source … --target … --resume']);
    expect((await verify(big, tgt)).code).toBe(0);
    await expectSameDatabase(big, tgt);
  });

  it('a finished copy with differing tables: TRUNCATE ONLY them and what references them, then copy --data-only --include', async () => {
    const tgt = await target('vrem_done');
    const c = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(c.code, c.stderr).toBe(0);
    await tgt.owner(`UPDATE customers SET name = 'changed' WHERE id = 7; DELETE FROM notes WHERE id = 3; SELECT setval('notes_id_seq', 9999); SELECT setval('invoice_no', 77);
      UPDATE "Odd Name" SET v = 'other' WHERE id = 2; DELETE FROM "user"."order" WHERE id = 5`);
    const { code, rep, text } = await verify(src, tgt);
    expect(code).toBe(1);
    expect(rep.targetState).toMatchObject({ kind: 'copy', finished: true, mode: 'full' });
    expect(rep.summary).toMatchObject({ tablesDiffering: 4, sequencesDiffering: 2 });
    // orders references customers: TRUNCATE refuses customers alone, so orders is emptied and reloaded with it.
    const tables = rep.nextSteps.find((s: { about: string }) => s.about === 'tables');
    expect(tables.sql).toBe('TRUNCATE ONLY public."Odd Name", public.customers, public.notes, public.orders, "user"."order";');
    expect(tables.command).toBe(
      "pgshift copy --source … --target … --data-only --include 'public.Odd Name' --include public.customers --include public.notes --include public.orders --include user.order",
    );
    expect(tables.text).toMatch(/the tables whose foreign keys reference them \(public\.orders\)/);
    expect(text).not.toContain('--resume');
    // What the old advice led to: a resume cannot take other tables (and this copy is finished anyway).
    const resume = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--resume', '--include', 'public.customers']);
    expect(resume.code).toBe(2);
    expect(resume.stderr).toMatch(/cannot change on --resume/);

    // notes_id_seq belongs to notes: the reload sets it. invoice_no belongs to no table: its own statement.
    expect(rep.nextSteps.filter((s: { about: string }) => s.about === 'sequences')).toEqual([
      expect.objectContaining({
        text: expect.stringMatching(/^1 sequence\(s\) differ: public\.invoice_no/),
        sql: "SELECT setval('public.invoice_no', 42, true);",
      }),
    ]);
    expect(await follow(text, src, tgt)).toEqual([tables.sql, tables.command, "SELECT setval('public.invoice_no', 42, true);"]);
    expect((await verify(src, tgt)).code).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('a schema-only copy: load the data with copy --data-only', async () => {
    const tgt = await target('vrem_schema');
    const c = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--schema-only']);
    expect(c.code, c.stderr).toBe(0);
    const { code, rep, text } = await verify(src, tgt);
    expect(code).toBe(1);
    expect(rep.targetState).toMatchObject({ kind: 'copy', finished: true, mode: 'schema-only' });
    expect(rep.nextSteps).toEqual([expect.objectContaining({ about: 'tables', command: 'pgshift copy --source … --target … --data-only' })]);
    expect(text).not.toMatch(/TRUNCATE|--resume|setval/);
    expect(await follow(text, src, tgt)).toEqual(['pgshift copy --source … --target … --data-only']);
    expect((await verify(src, tgt)).code).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('a replication feeding the target: catch up with replicate --until-caught-up', async () => {
    const tgt = await target('vrem_repl');
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(r.code, r.stderr).toBe(0);
    await src.owner(`INSERT INTO notes (body) VALUES ('written after the catch-up'); UPDATE customers SET name = 'renamed' WHERE id = 9`);
    const { code, rep, text } = await verify(src, tgt);
    expect(code).toBe(1);
    expect(rep.targetState).toMatchObject({ kind: 'replication', capture: 'pgoutput', copyDone: true });
    expect(rep.nextSteps).toEqual([expect.objectContaining({ about: 'tables', command: 'pgshift replicate --source … --target … --until-caught-up' })]);
    expect(text).not.toMatch(/TRUNCATE|--data-only|--resume/);
    expect(await follow(text, src, tgt)).toEqual(['pgshift replicate --source … --target … --until-caught-up']);
    expect((await verify(src, tgt)).code).toBe(0);
    await expectSameDatabase(src, tgt);
    expect((await runCli(['cleanup', '--source', src.url, '--target', tgt.url])).code).toBe(0);
  });

  it('a trigger capture feeding the target: the same, with --capture triggers', async () => {
    const tgt = await target('vrem_capture');
    const r = await runCli(['replicate', '--capture', 'triggers', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(r.code, r.stderr).toBe(0);
    await src.owner(`DELETE FROM orders WHERE id = 11; SELECT setval('invoice_no', 100)`);
    const { code, rep, text } = await verify(src, tgt);
    expect(code).toBe(1);
    expect(rep.targetState).toMatchObject({ kind: 'replication', capture: 'triggers', copyDone: true, running: null });
    expect(rep.nextSteps).toEqual([
      expect.objectContaining({ about: 'tables', command: 'pgshift replicate --source … --target … --capture triggers --until-caught-up' }),
    ]);
    expect(await follow(text, src, tgt)).toEqual(['pgshift replicate --source … --target … --capture triggers --until-caught-up']);
    expect((await verify(src, tgt)).code).toBe(0);
    await expectSameDatabase(src, tgt, { ignore: isCaptureObject }); // the capture's own objects, on the source only
    expect((await runCli(['cleanup', '--source', src.url, '--target', tgt.url])).code).toBe(0);
  });
});
