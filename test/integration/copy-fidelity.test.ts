// Copy loses nothing pg_dump would have kept (issue #9.1, #9.2): everything pg_dump writes inside index and
// constraint entries, for the indexes and keys pgshift builds itself and for those pg_restore keeps (partitions).
// Judged by pg_dump --schema-only of both sides (15 → 15: pg_dump 15 dumps both), by a feature-by-feature
// catalog check (15 → 17) and by the independent data comparison.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { compareDatabases, formatDifference } from '../support/compare.js';
import { createDatabase, runSql, type TestDatabase } from '../support/fixtures.js';
import { dumpDifferences, schemaDump } from '../support/schema-dump.js';

const FIXTURE = readFileSync(new URL('../fixtures/index-options.sql', import.meta.url), 'utf8');

/** Each feature: a query whose one value must be the same on both sides (and is checked to be set on the source). */
const FEATURES: [string, string][] = [
  ['primary key reloptions', `SELECT reloptions::text FROM pg_class WHERE oid = 'public.accounts_pkey'::regclass`],
  ['unique constraint INCLUDE + reloptions', `SELECT pg_get_indexdef('public.accounts_email_key'::regclass)`],
  [
    'unique NULLS NOT DISTINCT, deferrable initially deferred',
    `SELECT pg_get_constraintdef(oid) || condeferrable || condeferred FROM pg_constraint WHERE conname = 'accounts_tenant_nick'`,
  ],
  ['deferred unique index is not immediate', `SELECT indimmediate::text FROM pg_index WHERE indexrelid = 'public.accounts_tenant_nick'::regclass`],
  [
    'replica identity index',
    `SELECT relreplident::text || ' ' || (SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = c.oid AND indisreplident) FROM pg_class c WHERE oid = 'public.accounts'::regclass`,
  ],
  [
    'CLUSTER ON primary key',
    `SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY indexrelid::regclass::text) FROM pg_index WHERE indisclustered AND indrelid IN ('public.accounts'::regclass, 'public."Bookings"'::regclass)`,
  ],
  [
    'expression index statistics targets',
    `SELECT string_agg(attnum || '=' || attstattarget, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'public.accounts_lower_email'::regclass AND attstattarget >= 0`,
  ],
  ['index reloptions (btree deduplicate_items)', `SELECT reloptions::text FROM pg_class WHERE oid = 'public.accounts_lower_email'::regclass`],
  ['partial index', `SELECT pg_get_indexdef('public.accounts_active'::regclass)`],
  ['comment on an index', `SELECT obj_description('public.accounts_lower_email'::regclass, 'pg_class')`],
  ['comment on a primary key index', `SELECT obj_description('public.accounts_pkey'::regclass, 'pg_class')`],
  ['comment on a primary key', `SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = 'accounts_pkey'`],
  ['comment on a unique constraint', `SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = 'accounts_tenant_nick'`],
  ['exclusion constraint WITH, WHERE, DEFERRABLE', `SELECT pg_get_constraintdef(oid) || condeferrable FROM pg_constraint WHERE conname = 'No Overlap'`],
  ['exclusion index reloptions', `SELECT reloptions::text FROM pg_class WHERE oid = 'public."No Overlap"'::regclass`],
  [
    'comment on an exclusion constraint and its index',
    `SELECT obj_description(c.oid, 'pg_constraint') || ' / ' || obj_description(c.conindid, 'pg_class') FROM pg_constraint c WHERE conname = 'No Overlap'`,
  ],
  ['foreign key DEFERRABLE INITIALLY DEFERRED', `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'Bookings_account_FK'`],
  ['foreign key NOT VALID', `SELECT pg_get_constraintdef(oid) || convalidated FROM pg_constraint WHERE conname = 'Bookings_account_FK2'`],
  ['comment on a foreign key', `SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = 'Bookings_account_FK'`],
  [
    'check NOT VALID and its comment',
    `SELECT pg_get_constraintdef(oid) || convalidated || obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = 'Room limit'`,
  ],
  ['comment on a check constraint', `SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = 'Positive Room'`],
  ['gin reloptions and opclass', `SELECT pg_get_indexdef('public."Bookings Notes GIN"'::regclass)`],
  ['brin reloptions', `SELECT pg_get_indexdef('public.bookings_during_brin'::regclass)`],
  ['hash index reloptions', `SELECT pg_get_indexdef('public."Bookings hash"'::regclass)`],
  ['comment on a quoted index name', `SELECT obj_description('public."Bookings Notes GIN"'::regclass, 'pg_class')`],
  [
    'partitioned index, its statistics target and comment',
    `SELECT pg_get_indexdef(i.oid) || (SELECT attstattarget FROM pg_attribute WHERE attrelid = i.oid AND attnum = 1) || obj_description(i.oid, 'pg_class') FROM pg_class i WHERE i.oid = 'public.events_kind'::regclass`,
  ],
  [
    'partition index attached, with its own statistics target',
    `SELECT inhparent::regclass::text || (SELECT attstattarget FROM pg_attribute WHERE attrelid = inhrelid AND attnum = 1) FROM pg_inherits WHERE inhrelid = 'public.events_2025_lower_idx'::regclass`,
  ],
  ['comment on a partition index', `SELECT obj_description('public.events_2026_lower_idx'::regclass, 'pg_class')`],
  ['comment on a partitioned key', `SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = 'events_pkey'`],
  [
    'indexes in a source tablespace land in the default one (copy runs --no-tablespaces)',
    `SELECT count(*) FILTER (WHERE reltablespace = 0)::text || '/' || count(*) FROM pg_class WHERE relname IN ('accounts_email_key', 'Bookings_PK', 'No Overlap', 'accounts_active')`,
  ],
];

describe('copy keeps everything pg_dump writes in index and constraint entries', () => {
  let src: TestDatabase;
  let tgt15: TestDatabase;
  let tgt17: TestDatabase;
  let tablespace: string;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt15, tgt17] = await Promise.all([
      createDatabase(pg15, { label: 'fid_src' }),
      createDatabase(pg15, { label: 'fid_tgt15' }),
      createDatabase(pg17, { label: 'fid_tgt17' }),
    ]);
    await src.owner(FIXTURE);
    // A tablespace the targets do not have (an in-place one: no directory needed on the server's machine).
    tablespace = `${src.database}_ts`;
    const admin = new pg.Client({ connectionString: src.adminUrl.replace(/[?&]sslmode=[^&]*/, '') });
    await admin.connect();
    try {
      await admin.query(`SET allow_in_place_tablespaces = on`);
      await admin.query(`CREATE TABLESPACE ${tablespace} LOCATION ''`);
    } finally {
      await admin.end();
    }
    await src.admin(`GRANT CREATE ON TABLESPACE ${tablespace} TO ${src.role}`);
    // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind: not part of the schema (pg_dump skips it),
    // and building it on the target would fail on the duplicates.
    await expect(src.owner(`CREATE UNIQUE INDEX CONCURRENTLY accounts_region_unique ON accounts (region)`)).rejects.toThrow(/could not create unique index/);
    expect((await src.admin(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.accounts_region_unique'::regclass`)).rows).toEqual([
      { indisvalid: false },
    ]);
    await src.owner(`ALTER INDEX accounts_email_key SET TABLESPACE ${tablespace}; ALTER INDEX "Bookings_PK" SET TABLESPACE ${tablespace};
      ALTER INDEX "No Overlap" SET TABLESPACE ${tablespace}; ALTER INDEX accounts_active SET TABLESPACE ${tablespace}`);
  });
  afterAll(async () => {
    const admin = inject('clusters').pg15.adminUrl;
    if (src) await runSql(admin, `DROP DATABASE IF EXISTS ${src.database} WITH (FORCE)`);
    if (tablespace) await runSql(admin, `DROP TABLESPACE IF EXISTS ${tablespace}`);
    await Promise.all([src?.drop(), tgt15?.drop(), tgt17?.drop()]);
  });

  async function copy(tgt: TestDatabase): Promise<void> {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '2', '--index-jobs', '2']);
    expect(r.code, r.stderr).toBe(0);
    // compare.ts lists invalid indexes too; pg_dump (and so the copy) leaves them out.
    const diffs = await compareDatabases(src, tgt, { ignore: (d) => d.object === 'public.accounts_region_unique' && /missing on target/.test(d.detail) });
    expect(diffs.map(formatDifference)).toEqual([]);
  }

  async function features(db: TestDatabase): Promise<Record<string, string | null>> {
    const out: Record<string, string | null> = {};
    for (const [name, sql] of FEATURES) {
      const row = (await db.admin(sql)).rows[0] ?? {};
      out[name] = (Object.values(row)[0] as string | undefined) ?? null;
    }
    return out;
  }

  it('15 → 15: pg_dump --schema-only of source and target are identical', async () => {
    await copy(tgt15);
    const [a, b] = [await schemaDump(src), await schemaDump(tgt15)];
    expect(a).toContain('COMMENT ON INDEX public.accounts_lower_email'); // the yardstick sees what it must
    expect(dumpDifferences(a, b)).toEqual([]);
  });

  it('15 → 17: every feature is the same on the target', async () => {
    await copy(tgt17);
    const [a, b] = [await features(src), await features(tgt17)];
    for (const [name] of FEATURES) {
      if (!name.startsWith('indexes in a source tablespace')) expect(a[name], `${name} is set up on the source`).not.toBeNull();
    }
    expect(a['indexes in a source tablespace land in the default one (copy runs --no-tablespaces)']).toBe('0/4');
    expect(b['indexes in a source tablespace land in the default one (copy runs --no-tablespaces)']).toBe('4/4');
    delete a['indexes in a source tablespace land in the default one (copy runs --no-tablespaces)'];
    delete b['indexes in a source tablespace land in the default one (copy runs --no-tablespaces)'];
    expect(b).toEqual(a);
  });
});
