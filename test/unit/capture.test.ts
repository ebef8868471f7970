// The SQL trigger capture installs on the source (pure builders; the behaviour is in test/integration/capture.test.ts).
import { describe, expect, it } from 'vitest';
import type { ColumnInfo, TableInfo } from '../../src/catalog/tables.js';
import { captureSql, needsPinnedSettings, planCapture } from '../../src/replicate/triggers/install.js';
import { withReplicateHint } from '../../src/replicate/triggers/recopy.js';
import { PgshiftError } from '../../src/errors.js';

const col = (name: string, typeOid: number, type = 'integer'): ColumnInfo => ({
  name,
  type,
  typeOid,
  notNull: false,
  generated: false,
  identity: null,
  binarySafe: true,
});

function table(over: Partial<TableInfo>): TableInfo {
  return {
    oid: 16400,
    schema: 'public',
    name: 'orders',
    qualified: '"public"."orders"',
    display: 'public.orders',
    kind: 'table',
    relkind: 'r',
    unlogged: false,
    parent: null,
    hasInheritanceChildren: false,
    rows: 0,
    tableBytes: 0,
    toastBytes: 0,
    indexBytes: 0,
    primaryKey: ['id'],
    replicaIdentity: 'default',
    identityColumns: ['id'],
    columns: [col('id', 20, 'bigint'), col('note', 25, 'text')],
    ...over,
  };
}

describe('captureSql', () => {
  it('logs keys by statement: one INSERT … SELECT from the transition table per statement, old and new key of an UPDATE', () => {
    const [fn, ins, upd, del, trunc] = captureSql(table({}));
    expect(fn).toContain(
      `INSERT INTO "_pgshift".log (tbl, op, key) SELECT 16400::pg_catalog.oid, 'I'::pg_catalog."char", ARRAY[n."id"::pg_catalog.text] FROM _pgshift_new n`,
    );
    expect(fn).toContain(
      `SELECT 16400::pg_catalog.oid, 'U'::pg_catalog."char", ARRAY[n."id"::pg_catalog.text] FROM _pgshift_new n UNION ALL SELECT 16400::pg_catalog.oid, 'U'::pg_catalog."char", ARRAY[o."id"::pg_catalog.text] FROM _pgshift_old o`,
    );
    // The only writer of the log: runs as its owner, resolves nothing through the writing session's search_path.
    expect(fn).toMatch(/LANGUAGE plpgsql SECURITY DEFINER SET search_path TO pg_catalog, pg_temp AS/);
    expect(fn).toContain(`IF TG_OP OPERATOR(pg_catalog.=) 'INSERT'::pg_catalog.text THEN`);
    expect(fn).not.toMatch(/[^)]= '|::text\b/);
    expect(fn).not.toContain(' SET TimeZone');
    expect(fn).toContain(' SET search_path TO pg_catalog, pg_temp');
    expect(ins).toBe(
      `CREATE TRIGGER "_pgshift_capture_insert" AFTER INSERT ON "public"."orders" REFERENCING NEW TABLE AS _pgshift_new FOR EACH STATEMENT EXECUTE FUNCTION "_pgshift"."capture_16400"()`,
    );
    expect(upd).toContain('REFERENCING OLD TABLE AS _pgshift_old NEW TABLE AS _pgshift_new FOR EACH STATEMENT');
    expect(del).toContain('AFTER DELETE');
    expect(trunc).toBe(
      `CREATE TRIGGER "_pgshift_capture_truncate" AFTER TRUNCATE ON "public"."orders" FOR EACH STATEMENT EXECUTE FUNCTION "_pgshift"."capture_16400"()`,
    );
  });

  it('logs whole-row images (old and new) for a table without a key, and pins settings when their text depends on them', () => {
    const t = table({ primaryKey: null, columns: [col('at', 1184, 'timestamp with time zone'), col('v', 23), col('n', 23), col('o', 23)] });
    const [fn] = captureSql(t);
    // (n.*), never n: a column named n or o would be logged instead of the row.
    expect(fn).toContain(
      `'U'::pg_catalog."char", ARRAY[(n.*)::pg_catalog.text] FROM _pgshift_new n UNION ALL SELECT 16400::pg_catalog.oid, 'U'::pg_catalog."char", ARRAY[(o.*)::pg_catalog.text] FROM _pgshift_old o`,
    );
    expect(needsPinnedSettings(t)).toBe(true);
    expect(fn).toContain(`SET TimeZone TO 'UTC'`);
  });

  it('quotes identifiers and never lets a column name end the function body', () => {
    const t = table({ primaryKey: ['we"ird$pgshift$'], columns: [col('we"ird$pgshift$', 25, 'text')] });
    const [fn] = captureSql(t);
    expect(fn).toContain('n."we""ird$pgshift$"::pg_catalog.text');
    expect(fn).toMatch(/AS \$pgshift0\$/);
  });
});

describe('planCapture', () => {
  it('captures plain, partitioned and partition tables (not foreign ones) and finds inheritance children', () => {
    const plan = planCapture([
      table({ oid: 1, name: 'parent', display: 'public.parent', hasInheritanceChildren: true }),
      table({ oid: 2, name: 'child', display: 'public.child', kind: 'inheritance-child', parent: 'public.parent' }),
      table({ oid: 3, name: 'grandchild', display: 'public.grandchild', kind: 'inheritance-child', parent: 'public.child' }),
      table({ oid: 4, name: 'remote', display: 'public.remote', kind: 'foreign', relkind: 'f' }),
      table({ oid: 5, name: 'events', display: 'public.events', kind: 'partitioned', relkind: 'p', primaryKey: null }),
    ]);
    expect(plan.map((t) => [t.oid, t.relkind, t.key, t.inheritanceChildren])).toEqual([
      [1, 'r', ['id'], [2, 3]],
      [2, 'r', ['id'], []],
      [3, 'r', ['id'], []],
      [5, 'p', null, []],
    ]);
    expect(plan[0]!.keyTypes).toEqual(['bigint']);
  });
});

describe('withReplicateHint', () => {
  it('replaces the copy engine\'s "--resume" hint (replicate has no --resume) and keeps every other hint', () => {
    const e = withReplicateHint(
      new PgshiftError('indexes: building index x', { hint: 'fix the cause, then run the same command with --resume' }),
    ) as PgshiftError;
    expect(e.hint).toMatch(/run the same pgshift replicate --capture triggers command again/);
    expect(e.hint).not.toMatch(/--resume/);
    const other = withReplicateHint(new PgshiftError('x', { hint: 'grant it' })) as PgshiftError;
    expect(other.hint).toBe('grant it');
  });
});
