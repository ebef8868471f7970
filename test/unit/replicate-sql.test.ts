// The applier's SQL: identifiers quoted, values only as parameters cast to the target column's type, generated
// columns never written, identity ALWAYS overridden, exactly one of several identical rows.
import { describe, expect, it } from 'vitest';
import type { TargetTable } from '../../src/replicate/apply/catalog.js';
import { deleteByKeysSql, deleteSql, element, insertSql, truncateSql, updateByKeysSql, updateSql } from '../../src/replicate/apply/sql.js';

function table(partitioned = false): TargetTable {
  const cols: [string, string][] = [
    ['id', 'bigint'],
    ['Odd "col"', 'public.mood'],
    ['amount', 'numeric(12,2)'],
    ['doc', 'json'],
  ];
  return {
    id: { schema: 'my schema', name: 't' },
    qualified: '"my schema"."t"',
    label: '"my schema".t',
    partitioned,
    columns: new Map(cols.map(([name, type]) => [name, { name, type, typeOid: 0, generated: false, identity: null }])),
    constrained: new Set(['id']),
    identityKey: ['id'],
  };
}

describe('applier SQL', () => {
  it('INSERT: one text[] per column, cast to the column type, OVERRIDING SYSTEM VALUE', () => {
    const s = insertSql(table(), ['id', 'Odd "col"']);
    expect(s.text).toBe(
      'INSERT INTO "my schema"."t" ("id", "Odd ""col""") OVERRIDING SYSTEM VALUE SELECT u.v1::bigint, u.v2::public.mood FROM unnest($1::text[], $2::text[]) AS u(v1, v2)',
    );
    expect(s.params).toEqual(['id', 'Odd "col"']);
  });

  it('UPDATE by key sets only the carried columns', () => {
    const s = updateSql(table(), ['amount'], 'key', ['id']);
    expect(s.text).toBe('UPDATE ONLY "my schema"."t" SET "amount" = $1::numeric(12,2) WHERE "id" = $2::bigint');
  });

  it('UPDATE by full row changes exactly one row, comparing through text (json has no equality), NULL matching NULL', () => {
    const s = updateSql(table(), ['amount'], 'full', ['id', 'doc']);
    expect(s.text).toBe(
      'UPDATE ONLY "my schema"."t" SET "amount" = $1::numeric(12,2) WHERE ctid = coalesce((SELECT ctid FROM ONLY "my schema"."t" WHERE "id"::text IS NOT DISTINCT FROM $2::bigint::text AND "doc"::text IS NOT DISTINCT FROM $3::json::text LIMIT 1 FOR UPDATE SKIP LOCKED), (SELECT ctid FROM ONLY "my schema"."t" WHERE "id"::text IS NOT DISTINCT FROM $2::bigint::text AND "doc"::text IS NOT DISTINCT FROM $3::json::text LIMIT 1))',
    );
    // ctids repeat across partitions: a partitioned table is matched by (tableoid, ctid).
    expect(deleteSql(table(true), 'full', ['id']).text).toBe(
      'DELETE FROM "my schema"."t" WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM "my schema"."t" WHERE "id"::text IS NOT DISTINCT FROM $1::bigint::text LIMIT 1)',
    );
  });

  it('statements run per row by pgshift.apply_rows take their values from one text[]', () => {
    expect(updateSql(table(), ['amount'], 'key', ['id'], element).text).toBe(
      'UPDATE ONLY "my schema"."t" SET "amount" = ($1)[1]::numeric(12,2) WHERE "id" = ($1)[2]::bigint',
    );
  });

  it('key DELETEs batch into one statement; TRUNCATE uses ONLY except on partitioned tables', () => {
    expect(deleteByKeysSql(table(), ['id']).text).toBe(
      'DELETE FROM ONLY "my schema"."t" WHERE ("id") IN (SELECT u.v1::bigint FROM unnest($1::text[]) AS u(v1))',
    );
    expect(truncateSql([table(), table(true)], true)).toBe('TRUNCATE ONLY "my schema"."t", "my schema"."t" RESTART IDENTITY');
  });

  it('set-based UPDATE by key: SET columns then key columns, one text[] each, both sides aliased', () => {
    const s = updateByKeysSql(table(), ['amount', 'Odd "col"'], ['id']);
    expect(s.text).toBe(
      'UPDATE ONLY "my schema"."t" AS pgshift_t SET "amount" = pgshift_u.v1::numeric(12,2), "Odd ""col""" = pgshift_u.v2::public.mood FROM unnest($1::text[], $2::text[], $3::text[]) AS pgshift_u(v1, v2, v3) WHERE pgshift_t."id" = pgshift_u.v3::bigint',
    );
    expect(s.params).toEqual(['amount', 'Odd "col"', 'id']);
    // A partitioned table is updated through its root (ONLY is not allowed there).
    expect(updateByKeysSql(table(true), ['amount'], ['id']).text).toMatch(/^UPDATE "my schema"\."t" AS pgshift_t /);
  });

  it('refuses a column the target does not have', () => {
    expect(() => insertSql(table(), ['nope'])).toThrow(/nope/);
  });
});
