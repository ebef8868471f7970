// Table-driven: every schema object class pg_dump --schema-only prints, changed on the target in turn, must
// make verify answer "not equal" naming exactly that object — and "equal" again once it is put back.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { verifyDatabases, type VerifyReport } from '../../src/verify/index.js';
import { parseJson, runCli } from '../support/cli.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { ADMIN_SEED_SQL, OWNER_SEED_SQL, SCHEMA_CASES } from './verify-schema-seed.js';

async function seed(db: TestDatabase): Promise<void> {
  await db.admin(ADMIN_SEED_SQL);
  // FORCE ROW LEVEL SECURITY applies to the owner too: verify reads every row, so the role bypasses RLS.
  await db.admin(`ALTER ROLE "${db.role}" BYPASSRLS`);
  await db.owner(OWNER_SEED_SQL);
}

const differing = (r: VerifyReport) =>
  r.schema
    .filter((d) => d.severity === 'difference')
    .map((d) => `${d.kind} ${d.object}`)
    .sort();

describe('verify compares every schema object class (non-superuser owners over TLS)', () => {
  let src: TestDatabase;
  let t15: TestDatabase;
  let t17: TestDatabase;
  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, t15, t17] = await Promise.all([
      createDatabase(pg15, { label: 'vschema_src' }),
      createDatabase(pg15, { label: 'vschema_t15' }),
      createDatabase(pg17, { label: 'vschema_t17' }),
    ]);
    await Promise.all([seed(src), seed(t15), seed(t17)]);
  });
  afterAll(async () => Promise.all([src?.drop(), t15?.drop(), t17?.drop()]));

  const verify = (tgt: TestDatabase, extra: Partial<Parameters<typeof verifyDatabases>[2]> = {}) =>
    verifyDatabases(parseConnectionUrl(src.url, 'source'), parseConnectionUrl(tgt.url, 'target'), { jobs: 1, ...extra });

  it('identical schemas are equal on 15 → 15 and 15 → 17, grants included', async () => {
    for (const tgt of [t15, t17]) {
      const r = await verify(tgt, { acl: true });
      expect(r.schema, tgt.database).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.notCompared.join('\n')).toMatch(/owners/);
      expect(r.notCompared.join('\n')).not.toMatch(/grants/);
    }
  });

  it('each class changed on the target is named (exit 1), and equal again once put back', async () => {
    const run = (c: { admin?: boolean }, sql: string) => (c.admin ? t17.admin(sql) : t17.owner(sql));
    for (const c of SCHEMA_CASES) {
      await run(c, c.change);
      const r = await verify(t17);
      expect({ case: c.name, ok: r.ok, differing: differing(r) }).toEqual({ case: c.name, ok: false, differing: [...c.expect].sort() });
      expect(
        r.tables.filter((t) => !t.match).map((t) => t.table),
        c.name,
      ).toEqual(c.tables ?? []);
      // The next case's verify also proves this one is equal again.
      await run(c, c.restore);
    }
    const after = await verify(t17);
    expect(differing(after)).toEqual([]);
    expect(after.ok).toBe(true);
  });

  it('says what it did not compare; publications are out of scope; grants and owners only with --acl / --owners', async () => {
    await t15.owner(`CREATE PUBLICATION everything FOR ALL TABLES`).catch(() => t15.owner(`CREATE PUBLICATION everything FOR TABLE app.docs`));
    await t15.owner(`GRANT SELECT ON app.docs TO PUBLIC`);
    const plain = await runCli(['verify', '--source', src.url, '--target', t15.url]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(
      /Not compared: grants \(copy defaults to --no-acl; compare them with --acl\); owners \(copy defaults to --no-owner; compare them with --owners\); publications and subscriptions \(out of scope/,
    );

    const acl = await runCli(['verify', '--source', src.url, '--target', t15.url, '--acl', '--json']);
    expect(acl.code, acl.stderr).toBe(1);
    const rep = parseJson(acl);
    expect(rep.schema).toEqual([
      {
        kind: 'privileges',
        object: 'on table app.docs',
        difference: 'different',
        severity: 'difference',
        source: expect.not.stringContaining('PUBLIC'),
        target: expect.stringContaining('PUBLIC=SELECT/OWNER'),
      },
    ]);
    await t15.owner(`REVOKE SELECT ON app.docs FROM PUBLIC`);

    // Each test database has its own owner role: with --owners, the table's owner differs by name.
    const owners = await runCli(['verify', '--source', src.url, '--target', t15.url, '--owners', '--include', 'app.docs', '--json']);
    expect(owners.code, owners.stderr).toBe(1);
    expect(parseJson(owners).schema).toEqual([
      { kind: 'owner', object: 'of table app.docs', difference: 'different', severity: 'difference', source: src.role, target: t15.role },
    ]);
    const human = await runCli(['verify', '--source', src.url, '--target', t15.url, '--owners', '--include', 'app.docs']);
    expect(human.stdout).toContain(`✗ owner of table app.docs: differs`);
    expect(human.stdout).toMatch(/Not compared: grants/);
    expect(human.stdout).not.toMatch(/Not compared:[^\n]*owners/);
  });
});
