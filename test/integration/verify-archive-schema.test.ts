// verify --source FILE, the schema (#26): every object the archive's schema would create is on the target — a
// restore that lost an index and a comment fails naming both, though every row is there.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { dumpToFile } from '../support/dump-restore.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('verify --source FILE: the schema objects the archive holds', () => {
  let src: TestDatabase;
  const dbs: TestDatabase[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-archive-vschema-'));
  const dump = join(dir, 'latest.dump');
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'arvs_src' });
    await src.owner(`
      CREATE TABLE accounts (id int PRIMARY KEY, email text UNIQUE, name text); INSERT INTO accounts SELECT g, g || '@x.org', 'a' || g FROM generate_series(1, 300) g;
      CREATE INDEX accounts_name ON accounts (lower(name));
      COMMENT ON TABLE accounts IS 'who pays'; COMMENT ON COLUMN accounts.email IS 'login';
      CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
      CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
      CREATE VIEW named AS SELECT id, name FROM accounts WHERE name IS NOT NULL;`);
    await dumpToFile(src, dump, ['-Fc', '--no-owner', '--no-acl']);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([src?.drop(), ...dbs.map((d) => d.drop())]);
  });

  for (const major of [15, 17] as const) {
    it(`15 → ${major}: equal after the restore; an index and a comment dropped on the target → exit 1 naming both`, async () => {
      const clusters = inject('clusters');
      const tgt = await createDatabase(major === 15 ? clusters.pg15 : clusters.pg17, { label: `arvs_t${major}` });
      dbs.push(tgt);
      const c = await runCli(['copy', '--source', dump, '--target', tgt.url]);
      expect(c.code, c.stderr).toBe(0);
      await expectSameDatabase(src, tgt);
      const ok = await runCli(['verify', '--source', dump, '--target', tgt.url, '--json']);
      expect(ok.code, ok.stderr).toBe(0);
      const r = parseJson(ok);
      expect(r.schema.compared).toBeGreaterThanOrEqual(9);
      expect(r.schema.differences.filter((d: { severity: string }) => d.severity === 'difference')).toEqual([]);
      await tgt.owner(`DROP INDEX accounts_name; COMMENT ON COLUMN accounts.email IS NULL`);
      const bad = await runCli(['verify', '--source', dump, '--target', tgt.url]);
      expect(bad.code, bad.stderr).toBe(1);
      expect(bad.stdout).toMatch(/^DIFFERENT: /);
      expect(bad.stdout).toMatch(/index public accounts_name: in the archive, missing on the target/);
      expect(bad.stdout).toMatch(/comment public COLUMN accounts\.email: in the archive, missing on the target/);
      // The rows are all there: only the schema is named.
      expect(bad.stdout).not.toMatch(/table public\.accounts/);
    });
  }
});
