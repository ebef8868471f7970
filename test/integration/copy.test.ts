// pgshift copy of the hard-case database: TLS non-superuser owner on PostgreSQL 15 into non-superuser owners
// on 17 and on 15, judged by the independent comparison in test/support/compare.ts (not by pgshift verify).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli, type CliResult } from '../support/cli.js';
import { expectSameDatabase, sumRows, tableRowCounts } from '../support/compare.js';
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
  let sourceAudit: number;

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
    sourceAudit = counts.get('public.audit_log')!;
    expect(sourceAudit).toBe(25); // one per payments row, written by the trigger on the source
  });
  afterAll(async () => Promise.all([src?.drop(), tgt17?.drop(), tgt15?.drop(), busy?.drop()]));

  async function copyAndCheck(tgt: TestDatabase): Promise<void> {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectNoPassword(r, src, tgt);
    const summary = parseJson(r);
    expect(summary.ok).toBe(true);
    expect(summary.tables).toBeGreaterThan(0);
    expect(summary.rows).toBe(sourceRows);
    // The TOAST values alone are ~3.2 MB of text and ~1.6 MB of bytes, whatever the COPY format.
    expect(summary.bytes).toBeGreaterThan(4_000_000);
    expect(summary.seconds).toBeGreaterThanOrEqual(0);

    await expectSameDatabase(src, tgt);

    // The audit trigger must not have fired for copied rows...
    expect((await tableRowCounts(tgt)).get('public.audit_log')).toBe(sourceAudit);
    // ...generated columns are generated, and hold the right values...
    const gen = await tgt.owner(`SELECT a.attgenerated, (SELECT count(*)::int FROM order_lines WHERE total IS DISTINCT FROM qty * price) AS wrong
      FROM pg_attribute a WHERE a.attrelid = 'order_lines'::regclass AND a.attname = 'total'`);
    expect(gen.rows).toEqual([{ attgenerated: 's', wrong: 0 }]);
    // ...NOT VALID constraints stay NOT VALID (even the one the rows happen to satisfy).
    const nv = await tgt.owner(`SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'readings'::regclass AND contype IN ('c', 'f') ORDER BY conname`);
    expect(nv.rows).toEqual([
      { conname: 'readings_team_fk', convalidated: false },
      { conname: 'readings_v_nonneg', convalidated: false },
      { conname: 'readings_v_small', convalidated: false },
    ]);

    // The application carries on against the target: identities and sequences continue, triggers fire again.
    const next = await tgt.owner(`
      SELECT (SELECT max(id) FROM order_lines) AS max_line, (SELECT max(id) FROM tickets WHERE id < 5000) AS max_ticket`);
    const ins = await tgt.owner(`
      INSERT INTO order_lines (qty, price) VALUES (1, 1) RETURNING id`);
    expect(Number(ins.rows[0].id)).toBe(Number(next.rows[0].max_line) + 1);
    const ticket = await tgt.owner(`INSERT INTO tickets (note) VALUES ('after copy') RETURNING id`);
    expect(ticket.rows[0].id).toBe(next.rows[0].max_ticket + 3); // INCREMENT BY 3
    const seqs = await tgt.owner(`SELECT nextval('invoice_no')::int AS a, nextval('not_called_yet')::int AS b`);
    expect(seqs.rows[0]).toEqual({ a: 4243, b: 500 });
    await tgt.owner(`INSERT INTO payments VALUES (1000, 1)`);
    expect((await tgt.owner(`SELECT count(*)::int AS n FROM audit_log WHERE row_id = 1000`)).rows[0].n).toBe(1);
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
