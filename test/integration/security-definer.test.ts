// Without --keep-owner the target role owns every restored object, so a SECURITY DEFINER function runs with its
// rights there (issue #22): inventory and copy name such functions and say how to keep them to their rights.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('SECURITY DEFINER functions under --no-owner', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'secdef_src' }), createDatabase(pg17, { label: 'secdef_tgt' })]);
    await src.owner(`CREATE TABLE salaries (id int PRIMARY KEY, amount numeric);
      CREATE FUNCTION count_salaries() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = public AS 'SELECT count(*) FROM salaries';
      CREATE FUNCTION plain() RETURNS int LANGUAGE sql AS 'SELECT 1';`);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('inventory warns, naming the function and the remedy', async () => {
    const r = await runCli(['inventory', '--source', src.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const w = parseJson<{ warnings: { code: string; message: string; remedy: string }[] }>(r).warnings.filter((x) => x.code === 'security-definer');
    expect(w).toHaveLength(1);
    expect(w[0]!.message).toContain('count_salaries()');
    expect(w[0]!.message).not.toContain('plain()');
    expect(w[0]!.remedy).toContain('--keep-owner');
  });

  it('copy without --keep-owner says it before the schema step, and still copies exactly', async () => {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/SECURITY DEFINER function \((public\.)?count_salaries\(\) \(owner [^)]+\)\): copied without --keep-owner/);
    await expectSameDatabase(src, tgt);
  });
});
