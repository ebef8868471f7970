// cleanup names what it leaves on the source (issue #22): REPLICA IDENTITY FULL set by --fix-replica-identity,
// with the statement that undoes it — printed, never run — and the statement works as printed.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('cleanup: changes left on the source', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'left_src', replication: true }), createDatabase(pg17, { label: 'left_tgt' })]);
    await src.owner(`CREATE TABLE keyed (id int PRIMARY KEY, v text); CREATE TABLE "Log Lines" (at timestamptz, line text);
      INSERT INTO keyed SELECT g, 'v' FROM generate_series(1, 50) g; INSERT INTO "Log Lines" SELECT now(), 'l' || g FROM generate_series(1, 50) g;`);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('names REPLICA IDENTITY FULL with the statement to undo it; the statement works as printed', async () => {
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--fix-replica-identity']);
    expect(r.code, r.stderr).toBe(0);
    await src.owner(`UPDATE "Log Lines" SET line = line || '!' WHERE line = 'l7'`);
    const again = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(again.code, again.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
    const c = await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--json']);
    expect(c.code, c.stderr).toBe(0);
    const report = parseJson<{ leftOnSource: string[] }>(c);
    expect(report.leftOnSource).toEqual(['ALTER TABLE "public"."Log Lines" REPLICA IDENTITY DEFAULT;']);
    const text = await runCli(['cleanup', '--source', src.url, '--target', tgt.url]);
    expect(text.code, text.stderr).toBe(0); // nothing left on the target: a second cleanup is a no-op
    expect((await src.admin(`SELECT relreplident FROM pg_class WHERE relname = 'Log Lines'`)).rows[0].relreplident).toBe('f');
    for (const sql of report.leftOnSource) await src.owner(sql);
    expect((await src.admin(`SELECT relreplident FROM pg_class WHERE relname = 'Log Lines'`)).rows[0].relreplident).toBe('d');
  });

  it('the text report says it too', async () => {
    const t2 = await createDatabase(inject('clusters').pg17, { label: 'left_tgt2' });
    try {
      await src.owner(`ALTER TABLE "Log Lines" REPLICA IDENTITY DEFAULT`);
      const r = await runCli(['replicate', '--source', src.url, '--target', t2.url, '--until-caught-up', '--fix-replica-identity']);
      expect(r.code, r.stderr).toBe(0);
      const c = await runCli(['cleanup', '--source', src.url, '--target', t2.url]);
      expect(c.code, c.stderr).toBe(0);
      expect(c.stdout).toContain('Left on the source: REPLICA IDENTITY FULL');
      expect(c.stdout).toContain('ALTER TABLE "public"."Log Lines" REPLICA IDENTITY DEFAULT;');
    } finally {
      await t2.drop();
    }
  });
});
