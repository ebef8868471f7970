// Issue 29 item 1: `cleanup --force` after a failed `copy --data-only` dropped the foreign keys the copy had set
// aside, and said only "Removed: schema pgshift". Now what was set aside (keys, disabled triggers) is put back
// before the state goes; what cannot be (the rows refuse it) is named with the statement to run, exit 1, and that
// statement, run as printed once the rows are fixed, gives back the source's keys. PG 15 → PG 17, non-superusers.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SCHEMA = `
CREATE TABLE parent (id int PRIMARY KEY, note text);
CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id), note text);
CREATE TABLE child2 (id int PRIMARY KEY, parent_id int REFERENCES parent (id) ON DELETE CASCADE, child_id int REFERENCES child (id) DEFERRABLE);
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER child_audit AFTER INSERT ON child FOR EACH ROW EXECUTE FUNCTION audit();
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 300) g;
INSERT INTO child SELECT g, 1 + g % 300, 'a longer note ' || g FROM generate_series(1, 1000) g;
INSERT INTO child2 SELECT g, 1 + g % 300, 1 + g % 1000 FROM generate_series(1, 1000) g;
`;

async function foreignKeys(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.admin(
    `SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated AS k FROM pg_constraint WHERE contype = 'f' ORDER BY 1`,
  );
  return rows.map((r) => r.k);
}

const statePresent = async (db: TestDatabase) => (await db.admin(`SELECT to_regnamespace('pgshift') IS NOT NULL AS ok`)).rows[0].ok as boolean;

describe('cleanup after a failed copy --data-only puts back what the copy set aside', () => {
  let src: TestDatabase;
  const targets: TestDatabase[] = [];

  /** A target with the schema, whose --data-only load fails on public.child (a target-only CHECK). */
  async function failedDataOnly(label: string): Promise<TestDatabase> {
    const tgt = await createDatabase(inject('clusters').pg17, { label });
    targets.push(tgt);
    expect((await runCli(['copy', '--source', src.url, '--target', tgt.url, '--schema-only'])).code).toBe(0);
    await tgt.owner(`ALTER TABLE child ADD CONSTRAINT short_notes CHECK (length(note) < 5)`);
    const failed = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--data-only', '--jobs', '1']);
    expect(failed.code, failed.stderr).toBe(4);
    expect((await tgt.owner(`SELECT count(*)::int AS n FROM pgshift.copy_fk`)).rows[0].n).toBe(3);
    expect(await foreignKeys(tgt)).toEqual([]);
    await tgt.owner(`ALTER TABLE child DROP CONSTRAINT short_notes`);
    return tgt;
  }

  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'setaside_src' });
    await src.owner(SCHEMA);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), ...targets.map((t) => t.drop())]);
  });

  it('cleanup --force restores the keys and the trigger before it removes the state', async () => {
    const tgt = await failedDataOnly('setaside_ok');
    await tgt.owner(`TRUNCATE child2`); // the partial load, made consistent by the user
    const refused = await runCli(['cleanup', '--target', tgt.url]);
    expect(refused.code, refused.stderr).toBe(2); // an unfinished copy is kept without --force
    const r = await runCli(['cleanup', '--target', tgt.url, '--force', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = parseJson(r);
    expect(report.removed.join('\n')).toContain('restored on the target: 4 foreign keys and triggers');
    expect(report.notRestored).toEqual([]);
    expect(await statePresent(tgt)).toBe(false);
    expect(await foreignKeys(tgt)).toEqual(await foreignKeys(src));
    expect((await tgt.admin(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'child_audit'`)).rows).toEqual([{ tgenabled: 'O' }]);
  });

  it('a key the rows refuse is named with its statement (exit 1); run as printed after the fix, the keys match the source', async () => {
    const tgt = await failedDataOnly('setaside_named');
    await tgt.owner(`TRUNCATE child2; INSERT INTO child2 VALUES (999999, NULL, 424242)`); // a row no child has
    const r = await runCli(['cleanup', '--target', tgt.url, '--force']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('Not restored');
    const statements = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('  ALTER TABLE'))
      .map((l) => l.trim());
    expect(statements).toEqual([
      'ALTER TABLE "public"."child2" ADD CONSTRAINT "child2_child_id_fkey" FOREIGN KEY ("child_id") REFERENCES "public"."child" ("id") DEFERRABLE;',
    ]);
    expect(await statePresent(tgt)).toBe(false);
    await tgt.owner(`DELETE FROM child2 WHERE id = 999999`);
    for (const s of statements) await tgt.owner(s);
    expect(await foreignKeys(tgt)).toEqual(await foreignKeys(src));
  });
});
