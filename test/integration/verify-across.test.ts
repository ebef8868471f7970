// verify across major versions says only what differs. The app-schema fixture plus what PostgreSQL prints
// differently from one major to the next (test/fixtures/app-schema-across.sql: GRANT ALL widened by 17's MAINTAIN,
// names that became keywords, a schema named like its table) is copied 15 → 17 and 15 → 15 with --keep-acl; verify,
// with and without --acl, must find nothing; between two 17s text is compared exactly (the fixture made on 17
// equals the copy). Then one difference per class is planted on the 17 target and each must be named — and
// nothing else.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { compareDatabases, formatDifference, type Difference } from '../support/compare.js';
import { createDatabase, runSql, type TestDatabase } from '../support/fixtures.js';

// A role both servers have (roles belong to the server, not the database), one per run.
const READER = `across_reader_${randomBytes(4).toString('hex')}`;
const FIXTURE = readFileSync(new URL('../fixtures/app-schema.sql', import.meta.url), 'utf8');
const ACROSS = readFileSync(new URL('../fixtures/app-schema-across.sql', import.meta.url), 'utf8').replaceAll(':reader', READER);
// See copy-app-schema.test.ts: pg_dump itself loses the citext operator of this trigger's WHEN clause.
const KNOWN = /users_touch/;

interface SchemaRow {
  kind: string;
  object: string;
  difference: string;
  severity: string;
}
/** What verify names, as "kind object: difference". */
const named = (rows: SchemaRow[]) =>
  rows
    .filter((d) => d.severity === 'difference')
    .map((d) => `${d.kind} ${d.object}: ${d.difference}`)
    .sort();

describe('verify across major versions reports only what differs', () => {
  let src: TestDatabase;
  let t15: TestDatabase;
  let t17: TestDatabase;
  const clusters = () => inject('clusters');

  beforeAll(async () => {
    const { pg15, pg17 } = clusters();
    for (const c of [pg15, pg17]) {
      await runSql(c.adminUrl, `DO $$ BEGIN CREATE ROLE ${READER} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    }
    [src, t15, t17] = await Promise.all([
      createDatabase(pg15, { label: 'across_src' }),
      createDatabase(pg15, { label: 'across_t15' }),
      createDatabase(pg17, { label: 'across_t17' }),
    ]);
    const [schema, data] = FIXTURE.split('-- @@ COMMIT\n');
    await src.owner(schema!);
    await src.owner(data!);
    await src.owner(ACROSS);
    for (const tgt of [t15, t17]) {
      const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--keep-acl', '--jobs', '2', '--index-jobs', '2', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const known = (d: Difference) => KNOWN.test(d.object);
      expect((await compareDatabases(src, tgt, { ignore: known })).map(formatDifference), tgt.database).toEqual([]);
    }
    for (const db of [src, t15, t17]) {
      // Default privileges (GRANT ALL: MAINTAIN on 17 again), set alike on every side for a role both servers have.
      await db.admin(`ALTER DEFAULT PRIVILEGES FOR ROLE ${READER} IN SCHEMA test GRANT ALL ON TABLES TO PUBLIC`);
      // A parameter named json: pg_dump 15 writes it unquoted, which 17 cannot parse (#23 item 2, not verify's
      // business), so it is created alike on every side: "json" json on 17, json json on 15, in its name too.
      await db.owner(`CREATE FUNCTION test.echo("json" json) RETURNS json LANGUAGE sql IMMUTABLE RETURN "json";
                      COMMENT ON FUNCTION test.echo(json) IS 'a parameter named json'`);
    }
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), t15?.drop(), t17?.drop()]);
    const { pg15, pg17 } = clusters();
    for (const c of [pg15, pg17]) await runSql(c.adminUrl, `DROP ROLE IF EXISTS ${READER}`);
  });

  const verify = async (tgt: TestDatabase, ...extra: string[]) => {
    const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json', ...extra]);
    return { code: r.code, report: parseJson(r), stderr: r.stderr };
  };

  it('a clean copy 15 → 17 and 15 → 15 verifies equal, with and without --acl', async () => {
    const seen: Record<string, unknown> = {};
    for (const tgt of [t17, t15]) {
      for (const extra of [[], ['--acl']]) {
        const { code, report, stderr } = await verify(tgt, ...extra);
        // The one real difference: pg_dump loses the citext operator of this trigger (see KNOWN).
        const real = named(report.schema).filter((d) => !KNOWN.test(d));
        seen[`${tgt.cluster.major}${extra.join('')}`] = {
          real,
          known: named(report.schema).length - real.length,
          tables: report.tables.filter((t: { match: boolean }) => !t.match).length,
        };
        expect(code, stderr).toBe(1); // because of the known trigger difference
      }
    }
    const clean = { real: [], known: 1, tables: 0 };
    expect(seen).toEqual({ 17: clean, '17--acl': clean, 15: clean, '15--acl': clean });
  });

  it('17 → 17 compares text exactly: the same fixture made on 17 equals the copy, MAINTAIN and all', async () => {
    const f17 = await createDatabase(clusters().pg17, { label: 'across_f17' });
    try {
      const [schema, data] = FIXTURE.split('-- @@ COMMIT\n');
      await f17.owner(schema!);
      await f17.owner(data!);
      await f17.owner(ACROSS);
      await f17.admin(`ALTER DEFAULT PRIVILEGES FOR ROLE ${READER} IN SCHEMA test GRANT ALL ON TABLES TO PUBLIC`);
      await f17.owner(`CREATE FUNCTION test.echo("json" json) RETURNS json LANGUAGE sql IMMUTABLE RETURN "json";
                       COMMENT ON FUNCTION test.echo(json) IS 'a parameter named json'`);
      const run = async () => parseJson(await runCli(['verify', '--source', f17.url, '--target', t17.url, '--acl', '--json']));
      // Row data differs (now() defaults): only the schema is looked at here.
      expect(named((await run()).schema)).toEqual(['trigger users_touch on app.users: different']);
      // Between two 17s no MAINTAIN is folded: one granted on one side only is a difference.
      await f17.owner(`REVOKE MAINTAIN ON TABLE app.tenants FROM ${READER}`);
      expect(named((await run()).schema)).toEqual(['privileges on table app.tenants: different', 'trigger users_touch on app.users: different']);
    } finally {
      await f17.drop();
    }
  });

  it('one difference per class planted on the 17 target is named, and nothing else', async () => {
    await t17.owner(`REVOKE DELETE ON TABLE app.tenants FROM ${READER}`);
    await t17.owner(`GRANT MAINTAIN ON TABLE test.test TO ${READER}`);
    await t17.owner(`CREATE OR REPLACE FUNCTION test.unwrap(v test."json") RETURNS json LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN coalesce((v).doc, '{}'); -- "json" in a body is the body's business
END
$$`);
    await t17.owner(`CREATE OR REPLACE VIEW test.v AS SELECT test.id, test."json", test.other FROM test.test WHERE test.other > 0`);
    await t17.owner(`COMMENT ON TYPE test."json" IS 'a composite type named json, changed'`);
    const planted = ['comment on type test.json: different', 'function test.unwrap(v test.json): different', 'view test.v: different'];
    const grants = ['privileges on table app.tenants: different', 'privileges on table test.test: different'];
    const plain = await verify(t17);
    expect(plain.code, plain.stderr).toBe(1);
    expect(named(plain.report.schema).filter((d) => !KNOWN.test(d))).toEqual(planted);
    const acl = await verify(t17, '--acl');
    expect(acl.code, acl.stderr).toBe(1);
    expect(named(acl.report.schema).filter((d) => !KNOWN.test(d))).toEqual([...planted, ...grants].sort());
  });
});
