// Proves the independent comparison (test/support/compare.ts) before any pgshift copy exists: a faithful
// copy made with pg_dump | pg_restore shows no difference, and each planted difference is reported.
// This file is what keeps compare honest: a comparison that can't see a flipped -0 would let copy bugs through.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compareDatabases, expectSameDatabase, formatDifference, type Difference } from '../support/compare.js';
import { expectApplicationCarriesOn, expectFaithfulHardCaseCopy } from '../support/copy-checks.js';
import { dumpRestore } from '../support/dump-restore.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { buildHardCases } from '../support/hardcases.js';

const WEIRD_TABLE = `"Odd ""Schema"" é"."select"`;
const WEIRD_INDEX = `"Odd ""Schema"" é"."idx ""weird"" name"`;

interface Plant {
  name: string;
  plant: string;
  undo?: string;
  /** Exactly the differences compare must report (one change can show in two places). */
  expected: Array<Partial<Difference> & { kind: Difference['kind'] }>;
}

// Each plant changes the 17 target, must be reported, then is undone so the next one starts clean.
const PLANTS: Plant[] = [
  {
    name: 'float8 -0 became 0',
    plant: `UPDATE types_zoo SET f8 = 0 WHERE id = 1`,
    undo: `UPDATE types_zoo SET f8 = '-0' WHERE id = 1`,
    expected: [{ kind: 'rows', object: 'public.types_zoo', source: '5', target: '5' }],
  },
  {
    name: 'float4 -0 became 0',
    plant: `UPDATE types_zoo SET f4 = 0 WHERE id = 1`,
    undo: `UPDATE types_zoo SET f4 = '-0' WHERE id = 1`,
    expected: [{ kind: 'rows', object: 'public.types_zoo' }],
  },
  {
    name: 'one microsecond later',
    plant: `UPDATE types_zoo SET tstz = tstz + interval '1 microsecond' WHERE id = 1`,
    undo: `UPDATE types_zoo SET tstz = tstz - interval '1 microsecond' WHERE id = 1`,
    expected: [{ kind: 'rows', object: 'public.types_zoo' }],
  },
  {
    name: 'json whitespace normalised',
    plant: `UPDATE types_zoo SET j = '{"b": 1, "a": 2, "a": 3}' WHERE id = 1`,
    undo: `UPDATE types_zoo SET j = '{"b": 1,   "a":2, "a" : 3 }' WHERE id = 1`,
    expected: [{ kind: 'rows', object: 'public.types_zoo' }],
  },
  {
    name: 'a deleted row',
    plant: `DELETE FROM stock WHERE warehouse = 'w1' AND sku = 1`,
    undo: `INSERT INTO stock VALUES ('w1', 1, 2)`,
    expected: [{ kind: 'rows', object: 'public.stock', source: '60', target: '59' }],
  },
  {
    name: 'an extra duplicate row in the table without primary key',
    plant: `INSERT INTO event_log SELECT * FROM event_log WHERE kind = 'dup' LIMIT 1`,
    undo: `DELETE FROM event_log WHERE ctid = (SELECT max(ctid) FROM event_log WHERE kind = 'dup')`,
    expected: [{ kind: 'rows', object: 'public.event_log', source: '5', target: '6' }],
  },
  {
    name: 'a row in the inheritance parent moved to the child',
    plant: `DELETE FROM ONLY vehicles WHERE id = 2; INSERT INTO cars VALUES (2, 'cart', NULL)`,
    undo: `DELETE FROM cars WHERE id = 2; INSERT INTO vehicles VALUES (2, 'cart')`,
    expected: [
      { kind: 'rows', object: 'public.vehicles', source: '2', target: '1' },
      { kind: 'rows', object: 'public.cars', source: '2', target: '3' },
    ],
  },
  {
    name: 'a row in a table with awkward identifiers',
    plant: `UPDATE ${WEIRD_TABLE} SET """quoted""" = 'changed' WHERE "order" = 1`,
    undo: `UPDATE ${WEIRD_TABLE} SET """quoted""" = '"' WHERE "order" = 1`,
    expected: [{ kind: 'rows', object: '"Odd ""Schema"" é"."select"' }],
  },
  {
    name: 'a sequence moved',
    plant: `SELECT nextval('invoice_no')`,
    undo: `SELECT setval('invoice_no', 4242, true)`,
    expected: [{ kind: 'sequence', object: 'public.invoice_no', detail: 'last_value differs', source: '4242', target: '4243' }],
  },
  {
    name: 'a sequence is_called flipped',
    plant: `SELECT setval('not_called_yet', 500, true)`,
    undo: `SELECT setval('not_called_yet', 500, false)`,
    expected: [{ kind: 'sequence', object: 'public.not_called_yet', detail: 'is_called differs', source: 'false', target: 'true' }],
  },
  {
    name: 'one byte of the large large object',
    plant: `SELECT lo_put(oid, 1000000, '\\x5a'::bytea) FROM (SELECT oid FROM pg_largeobject_metadata ORDER BY length(lo_get(oid)) DESC LIMIT 1) x`,
    undo: `SELECT lo_put(oid, 1000000, '\\x5a'::bytea) FROM (SELECT oid FROM pg_largeobject_metadata ORDER BY length(lo_get(oid)) DESC LIMIT 1) x`,
    expected: [{ kind: 'large-object', detail: 'content_md5 differs' }],
  },
  {
    name: 'a dropped index',
    plant: `DROP INDEX ${WEIRD_INDEX}`,
    undo: `CREATE INDEX "idx ""weird"" name" ON ${WEIRD_TABLE} (lower("Mixed Case"), "with space" DESC NULLS LAST)`,
    expected: [{ kind: 'index', object: WEIRD_INDEX, detail: 'missing on target' }],
  },
  {
    name: 'a disabled trigger enabled',
    plant: `ALTER TABLE payments ENABLE TRIGGER payments_disabled`,
    undo: `ALTER TABLE payments DISABLE TRIGGER payments_disabled`,
    expected: [{ kind: 'trigger', object: 'public.payments payments_disabled', detail: 'enabled differs', source: 'D', target: 'O' }],
  },
  {
    name: 'the never-refreshed materialized view refreshed',
    plant: `REFRESH MATERIALIZED VIEW never_refreshed`,
    undo: `REFRESH MATERIALIZED VIEW never_refreshed WITH NO DATA`,
    expected: [{ kind: 'relation', object: 'public.never_refreshed', detail: 'populated differs' }],
  },
  {
    name: 'materialized view contents stale',
    plant: `UPDATE order_lines SET qty = qty + 1 WHERE id = 1; REFRESH MATERIALIZED VIEW line_totals; UPDATE order_lines SET qty = qty - 1 WHERE id = 1`,
    undo: `REFRESH MATERIALIZED VIEW line_totals`,
    expected: [{ kind: 'rows', object: 'public.line_totals' }],
  },
];

describe('compare.ts against pg_dump | pg_restore copies of the hard cases', () => {
  let src: TestDatabase;
  let tgt17: TestDatabase;
  let tgt15: TestDatabase;
  let lobOriginalByte: string;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt17, tgt15] = await Promise.all([
      createDatabase(pg15, { label: 'cmp_src' }),
      createDatabase(pg17, { label: 'cmp_tgt17' }),
      createDatabase(pg15, { label: 'cmp_tgt15' }),
    ]);
    await buildHardCases(src);
    await Promise.all([dumpRestore(src, tgt17), dumpRestore(src, tgt15)]);
    const { rows } = await tgt17.admin(
      `SELECT encode(lo_get(oid, 1000000, 1), 'hex') AS b FROM pg_largeobject_metadata ORDER BY length(lo_get(oid)) DESC LIMIT 1`,
    );
    lobOriginalByte = rows[0].b;
    // The plant writes 0x5a; make sure that is a change, and that the undo restores the real byte.
    expect(lobOriginalByte).not.toBe('5a');
    const lob = PLANTS.find((p) => p.name.includes('large object'))!;
    lob.undo = lob.undo!.replace("'\\x5a'", `'\\x${lobOriginalByte}'`);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt17?.drop(), tgt15?.drop()]));

  it('finds no difference after pg_dump | pg_restore from 15 to 17', async () => {
    await expectSameDatabase(src, tgt17);
  });

  it('finds no difference after pg_dump | pg_restore from 15 to 15', async () => {
    await expectSameDatabase(src, tgt15);
  });

  it('sees the whole hard-case schema (so "no difference" is not "nothing compared")', async () => {
    // An empty target must differ in every family the comparison claims to cover.
    const empty = await createDatabase(inject('clusters').pg17, { label: 'cmp_empty' });
    try {
      const kinds = new Set((await compareDatabases(src, empty)).map((d) => d.kind));
      expect([...kinds].sort()).toEqual(
        ['column', 'constraint', 'function', 'index', 'large-object', 'relation', 'schema', 'sequence', 'trigger', 'type'].sort(),
      );
    } finally {
      await empty.drop();
    }
  });

  it("passes the copy tests' own checks (so they are right before pgshift copy runs them)", async () => {
    const ref = await createDatabase(inject('clusters').pg17, { label: 'cmp_ref' });
    try {
      await dumpRestore(src, ref);
      await expectFaithfulHardCaseCopy(src, ref);
      await expectApplicationCarriesOn(ref);
    } finally {
      await ref.drop();
    }
  });

  for (const p of PLANTS) {
    it(`reports ${p.name}`, async () => {
      await tgt17.owner(p.plant);
      try {
        const diffs = await compareDatabases(src, tgt17);
        expect(diffs, diffs.map(formatDifference).join('\n')).toEqual(p.expected.map((e) => expect.objectContaining(e)));
      } finally {
        if (p.undo) await tgt17.owner(p.undo);
      }
    });
  }

  it('is clean again once every plant is undone', async () => {
    await expectSameDatabase(src, tgt17);
  });

  it('reports a NOT VALID constraint that got validated', async () => {
    await tgt17.owner(`ALTER TABLE readings VALIDATE CONSTRAINT readings_v_small`);
    const diffs = await compareDatabases(src, tgt17);
    expect(diffs.map(formatDifference)).toEqual([
      'constraint public.readings readings_v_small: validated differs (source: false; target: true)',
      'constraint public.readings readings_v_small: definition differs (source: CHECK ((v < 1000)) NOT VALID; target: CHECK ((v < 1000)))',
    ]);
  });

  it('reports a column whose generation expression was dropped', async () => {
    await tgt15.owner(`ALTER TABLE order_lines ALTER COLUMN total DROP EXPRESSION`);
    const diffs = await compareDatabases(src, tgt15);
    expect(diffs.map(formatDifference)).toEqual([
      'column public.order_lines.total: generated differs (source: s; target: )',
      'column public.order_lines.total: default_expr differs (source: ((qty)::numeric * price); target: NULL)',
    ]);
  });
});
