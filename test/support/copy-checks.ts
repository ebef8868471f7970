// What a finished copy of the hard cases must look like, beyond "same database": checks shared by the
// pgshift copy tests and the compare self-test (which proves them against a pg_dump | pg_restore copy, so
// an expectation here can't be wrong in a way only pgshift would reveal).
import { expect } from 'vitest';
import { expectSameDatabase, tableRowCounts } from './compare.js';
import type { TestDatabase } from './fixtures.js';

/** Rows the hard-case audit trigger wrote on the source (one per payments row). */
export const HARDCASE_AUDIT_ROWS = 25;

/** Same database, and the hard cases' traps avoided. Read-only on both sides. */
export async function expectFaithfulHardCaseCopy(src: TestDatabase, tgt: TestDatabase): Promise<void> {
  await expectSameDatabase(src, tgt);
  // The audit trigger must not have fired for copied rows...
  expect((await tableRowCounts(tgt)).get('public.audit_log'), 'audit rows on the target').toBe(HARDCASE_AUDIT_ROWS);
  // ...generated columns are generated, and hold the right values...
  const gen = await tgt.owner(`SELECT a.attgenerated, (SELECT count(*)::int FROM order_lines WHERE total IS DISTINCT FROM qty * price) AS wrong
    FROM pg_attribute a WHERE a.attrelid = 'order_lines'::regclass AND a.attname = 'total'`);
  expect(gen.rows).toEqual([{ attgenerated: 's', wrong: 0 }]);
  // ...NOT VALID constraints stay NOT VALID (even the one the rows happen to satisfy).
  const nv = await tgt.owner(
    `SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'readings'::regclass AND contype IN ('c', 'f') ORDER BY conname`,
  );
  expect(nv.rows).toEqual([
    { conname: 'readings_team_fk', convalidated: false },
    { conname: 'readings_v_nonneg', convalidated: false },
    { conname: 'readings_v_small', convalidated: false },
  ]);
}

/** The application carries on against the target: identities and sequences continue, triggers fire. Writes. */
export async function expectApplicationCarriesOn(tgt: TestDatabase): Promise<void> {
  const next = await tgt.owner(`SELECT (SELECT max(id) FROM order_lines)::int AS max_line, (SELECT max(id) FROM tickets WHERE id < 5000) AS max_ticket`);
  const line = await tgt.owner(`INSERT INTO order_lines (qty, price) VALUES (1, 1) RETURNING id::int`);
  expect(line.rows[0].id).toBe(next.rows[0].max_line + 1);
  const ticket = await tgt.owner(`INSERT INTO tickets (note) VALUES ('after copy') RETURNING id`);
  expect(ticket.rows[0].id).toBe(next.rows[0].max_ticket + 3); // INCREMENT BY 3
  const seqs = await tgt.owner(`SELECT nextval('invoice_no')::int AS a, nextval('not_called_yet')::int AS b, nextval('audit_log_id_seq')::int AS c`);
  expect(seqs.rows[0]).toEqual({ a: 4243, b: 500, c: HARDCASE_AUDIT_ROWS + 1 });
  await tgt.owner(`INSERT INTO payments VALUES (1000, 1)`);
  expect((await tgt.owner(`SELECT count(*)::int AS n FROM audit_log WHERE row_id = 1000`)).rows[0].n).toBe(1);
  // The deferred FK cycle is enforced again.
  await expect(tgt.owner(`INSERT INTO player VALUES (999, 12345)`)).rejects.toThrow(/foreign key/);
}
