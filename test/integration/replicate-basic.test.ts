// Smoke: replicate a small database, stream a few changes, catch up, compare.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { slotsAndPublications } from '../support/replication.js';

describe('pgshift replicate (smoke)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'repl_smoke_src', replication: true }), createDatabase(pg17, { label: 'repl_smoke_tgt' })]);
    await src.owner(
      `CREATE TABLE t (id int PRIMARY KEY, v text, ts timestamptz); INSERT INTO t SELECT g, 'v' || g, '2024-01-01 00:00:00.123456+00' FROM generate_series(1, 100) g;`,
    );
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('copies, streams and catches up', async () => {
    const first = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '60']);
    expect(first.code, first.stderr).toBe(0);
    expect(parseJson(first).caughtUp).toBe(true);
    await src.owner(
      `INSERT INTO t VALUES (1000, 'new', '2024-05-05 01:02:03.000001+00'); UPDATE t SET v = 'changed' WHERE id = 5; DELETE FROM t WHERE id = 6;`,
    );
    const second = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--json', '--timeout', '60']);
    expect(second.code, second.stderr).toBe(0);
    const s = parseJson(second);
    expect(s.caughtUp).toBe(true);
    expect(s.initialCopy).toBe(null);
    expect(s.changes).toBe(3);
    await expectSameDatabase(src, tgt);
    const c = await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--json']);
    expect(c.code, c.stderr).toBe(0);
    expect(await slotsAndPublications(src)).toEqual({ slots: [], publications: [] });
  });
});
