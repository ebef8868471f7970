// pgshift copy of the hard-case database: TLS non-superuser owner on PostgreSQL 15 into non-superuser owners
// on 17 and on 15, judged by the independent comparison in test/support/compare.ts (not by pgshift verify).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli, type CliResult } from '../support/cli.js';
import { sumRows, tableRowCounts } from '../support/compare.js';
import { expectApplicationCarriesOn, expectFaithfulHardCaseCopy, HARDCASE_AUDIT_ROWS } from '../support/copy-checks.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { buildHardCases } from '../support/hardcases.js';

function expectNoPassword(r: CliResult, ...dbs: TestDatabase[]): void {
  const out = r.stdout + r.stderr;
  for (const db of dbs) {
    expect(out).not.toContain(db.password);
    expect(out).not.toContain(encodeURIComponent(db.password));
  }
}

describe('pgshift copy (TLS non-superuser source on 15)', () => {
  let src: TestDatabase;
  let tgt17: TestDatabase;
  let tgt15: TestDatabase;
  let busy: TestDatabase;
  let sourceRows: number;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt17, tgt15, busy] = await Promise.all([
      createDatabase(pg15, { label: 'copy_src' }),
      createDatabase(pg17, { label: 'copy_tgt17' }),
      createDatabase(pg15, { label: 'copy_tgt15' }),
      createDatabase(pg17, { label: 'copy_busy' }),
    ]);
    await buildHardCases(src);
    const counts = await tableRowCounts(src);
    sourceRows = sumRows(counts);
    expect(counts.get('public.audit_log')).toBe(HARDCASE_AUDIT_ROWS);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt17?.drop(), tgt15?.drop(), busy?.drop()]));

  /** What a copy must leave untouched on the source: its schemas, its relations, its rows. */
  async function sourceState(): Promise<unknown> {
    const rels = await src.admin(`SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1, 2`);
    return { rels: rels.rows, rows: [...(await tableRowCounts(src))] };
  }

  async function copyAndCheck(tgt: TestDatabase): Promise<void> {
    const before = await sourceState();
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectNoPassword(r, src, tgt);
    const summary = parseJson(r);
    expect(summary.ok).toBe(true);
    const { rows: leaves } = await src.admin(`SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'`);
    expect(summary.tables).toBe(leaves[0].n);
    expect(summary.rows).toBe(sourceRows);
    // The TOAST values alone are ~3.2 MB of text and ~1.6 MB of bytes, whatever the COPY format.
    expect(summary.bytes).toBeGreaterThan(4_000_000);
    expect(Object.keys(summary.phases)).toEqual(expect.arrayContaining(['snapshot', 'schema dump', 'pre-data', 'data+indexes', 'post-data', 'analyze']));

    await expectFaithfulHardCaseCopy(src, tgt);
    expect(await sourceState(), 'the copy changed the source').toEqual(before);

    // pgshift verify must agree with the independent comparison on every hard case (no false alarm)...
    const v = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
    const report = parseJson(v);
    const unequal = [
      ...report.tables.filter((t: any) => !t.match).map((t: any) => `${t.table}: ${JSON.stringify(t.differences.slice(0, 3))} ${t.notes}`),
      ...report.derived.filter((d: any) => !d.match).map((d: any) => `${d.table}: ${d.remedy}`),
      ...report.sequences.filter((q: any) => !q.match).map((q: any) => q.sequence),
      ...report.schema.filter((d: any) => d.severity === 'difference').map((d: any) => `${d.kind} ${d.object}`),
    ];
    expect(unequal).toEqual([]);
    expect(v.code, v.stderr).toBe(0);

    await expectApplicationCarriesOn(tgt);
    // ...and notice what the application then changed (a sequence moved, rows added).
    const after = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
    expect(after.code).toBe(1);
    expect(parseJson(after).ok).toBe(false);
  }

  it('copies 15 → 17 with --jobs 2: same database, no trigger side effects, identities continue', async () => {
    await copyAndCheck(tgt17);
  });

  it('copies 15 → 15 the same way', async () => {
    await copyAndCheck(tgt15);
  });

  it('refuses a non-empty target with exit 2 and changes nothing there', async () => {
    await busy.owner(`CREATE TABLE existing (id integer PRIMARY KEY, note text); INSERT INTO existing VALUES (1, 'keep me')`);
    const snapshot = async () =>
      (
        await busy.admin(`SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1, 2`)
      ).rows;
    const schemas = async () => (await busy.admin(`SELECT nspname FROM pg_namespace ORDER BY 1`)).rows;
    const [beforeRels, beforeSchemas] = [await snapshot(), await schemas()];

    const r = await runCli(['copy', '--source', src.url, '--target', busy.url, '--jobs', '2']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/empty|already|exist/i);
    expectNoPassword(r, src, busy);

    expect(await snapshot()).toEqual(beforeRels);
    expect(await schemas()).toEqual(beforeSchemas);
    expect((await busy.owner(`SELECT * FROM existing`)).rows).toEqual([{ id: 1, note: 'keep me' }]);
    expect((await busy.admin(`SELECT count(*)::int AS n FROM pg_largeobject_metadata`)).rows[0].n).toBe(0);
  });
});
