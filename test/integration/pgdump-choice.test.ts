// The pg_dump/pg_restore pair for both ends (issue #23.2), on real servers. The machine's own pg_dump (15 here) is
// found and used; a --pg-bin folder of wrapper scripts that report another version (and run the real pair for
// anything else) drives the choice: older than the source → refused before anything is written (exit 2) with the
// install step; newer → used, named in --json. With the real pg_dump 15 and a PostgreSQL 17 target: a warning,
// not a refusal, and a statement 17 cannot parse (a function parameter named json) stops the schema step naming it.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findPgTools } from '../../src/schema/pgdump.js';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, runSql, type TestDatabase } from '../support/fixtures.js';

const SCHEMA = `
CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL, balance numeric(12,2));
INSERT INTO accounts SELECT g, 'a' || g, g * 1.5 FROM generate_series(1, 500) g;
CREATE VIEW rich AS SELECT id, name FROM accounts WHERE balance > 100;
`;

/** A folder whose pg_dump/pg_restore say they are `version` and run the real pair for everything else. */
function wrappers(version: string, real: { pgDump: string; pgRestore: string }): string {
  const dir = mkdtempSync(join(tmpdir(), `pgbin-${version}-`));
  for (const [tool, binary] of [
    ['pg_dump', real.pgDump],
    ['pg_restore', real.pgRestore],
  ] as const) {
    writeFileSync(join(dir, tool), `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "${tool} (PostgreSQL) ${version}"; exit 0; fi\nexec "${binary}" "$@"\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  return dir;
}

/** No PGSHIFT_PG_BIN from the developer's shell: each test says what it wants. */
const ENV = { PGSHIFT_PG_BIN: undefined };

describe('pg_dump/pg_restore chosen for both ends', () => {
  const real = findPgTools()[0]!;
  let src: TestDatabase;
  const targets: TestDatabase[] = [];
  const target = async (major: 15 | 17, label: string) => {
    const t = await createDatabase(inject('clusters')[`pg${major}`], { label });
    targets.push(t);
    return t;
  };

  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'pgd_src' });
    await src.owner(SCHEMA);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), ...targets.map((t) => t.drop())]);
  });

  it('inventory names the pair found on this machine and whether it fits each end', async () => {
    expect(real, 'a pg_dump on this machine').toBeDefined();
    const t17 = await target(17, 'pgd_inv17');
    const r = await runCli(['inventory', '--source', src.url, '--target', t17.url, '--json'], { env: ENV });
    expect(r.code, r.stderr).toBe(0);
    const inv = parseJson(r);
    expect(inv.pgDump).toEqual({ path: real.pgDump, dir: real.dir, version: real.version, major: real.major, canDump: true, fitsTarget: real.major >= 17 });
    if (real.major < 17) {
      const w = inv.warnings.find((x: { code: string }) => x.code === 'pg-dump-older-than-target');
      expect(w?.message).toMatch(new RegExp(`pg_dump ${real.version.replace('.', '\\.')} .* is older than the target's PostgreSQL 17`));
      expect(w?.remedy).toMatch(/apt-get install postgresql-client-17.*brew install libpq.*--pg-bin DIR/);
    }
    const text = await runCli(['inventory', '--source', src.url, '--target', t17.url], { env: ENV });
    expect(text.stdout).toContain(`pg_dump ${real.version} at ${real.pgDump} (with pg_restore from the same folder): can dump this server`);
  });

  it('--pg-bin (or PGSHIFT_PG_BIN) older than the source: refused before anything is written, with the install step', async () => {
    const old = wrappers('14.9', real);
    const t15 = await target(15, 'pgd_old');
    for (const how of [
      { args: ['--pg-bin', old], env: ENV },
      { args: [], env: { PGSHIFT_PG_BIN: old } },
    ]) {
      const r = await runCli(['copy', '--source', src.url, '--target', t15.url, ...how.args], { env: how.env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `pg_dump must be version 15 or newer (an older pg_dump refuses to dump it); --pg-bin ${old} holds pg_dump 14.9 (pg_dump ${real.version} in ${real.dir} would do: pass that folder, or leave --pg-bin out); nothing was changed`,
      );
      expect(r.stderr).toMatch(/PGDG apt repository.*apt-get install postgresql-client-15.*brew install libpq/);
    }
    // Nothing was written: not even pgshift's state schema.
    const { rows } = await t15.admin(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgshift'`);
    expect(rows[0].n).toBe(0);
  });

  it('a newer --pg-bin is used as given and named in --json; no warning for the target', async () => {
    const newer = wrappers('18.1', real);
    const t17 = await target(17, 'pgd_new');
    const r = await runCli(['copy', '--source', src.url, '--target', t17.url, '--pg-bin', newer, '--json'], { env: ENV });
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r).pgDump).toEqual({ path: join(newer, 'pg_dump'), dir: newer, version: '18.1', major: 18, olderThanTarget: false });
    expect(r.stderr).not.toMatch(/older than the target/);
    await expectSameDatabase(src, t17);
  });

  it("the machine's pg_dump 15 into PostgreSQL 17: a warning, and a statement 17 cannot parse is named", async () => {
    if (real.major >= 17) return; // a newer pg_dump on this machine: the 15→17 risk does not arise
    const jsrc = await createDatabase(inject('clusters').pg15, { label: 'pgd_json' });
    targets.push(jsrc);
    await jsrc.owner(`${SCHEMA}
      CREATE FUNCTION public.describe_doc(json json) RETURNS text LANGUAGE sql AS 'SELECT json::text';`);
    const t17 = await target(17, 'pgd_json_t');
    const r = await runCli(['copy', '--source', jsrc.url, '--target', t17.url], { env: ENV });
    expect(r.stderr).toMatch(/copy: pg_dump 15\.\d+ \(.*\) is older than the target's PostgreSQL 17: .*To avoid it: install the PostgreSQL 17 client tools/);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(
      'schema pre-data: restoring the schema on the target failed on FUNCTION public.describe_doc(json) (CREATE FUNCTION public.describe_doc(json json) RETURNS text): syntax error at or near "json"',
    );
    expect(r.stderr).toMatch(
      /"json" is a keyword on the target's PostgreSQL 17 .*rename it on the source.*start over: pgshift cleanup --target <same URL> --force/,
    );
    expect(r.stderr).not.toMatch(/extension/);
  });
  it('an error without a position (a role missing on the target) is located by a rolled-back replay and named', async () => {
    const role = `pgd_only_on_15_${process.pid}`;
    const osrc = await createDatabase(inject('clusters').pg15, { label: 'pgd_owner' });
    targets.push(osrc);
    await osrc.admin(`DO $$ BEGIN CREATE ROLE ${role}; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    try {
      await osrc.admin(
        `CREATE TABLE public.ledger (id integer PRIMARY KEY); ALTER TABLE public.ledger OWNER TO ${role}; GRANT SELECT ON public.ledger TO "${osrc.role}"`,
      );
      const t17 = await target(17, 'pgd_owner_t');
      const r = await runCli(['copy', '--source', osrc.url, '--target', t17.url, '--keep-owner'], { env: ENV });
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toContain(
        `schema pre-data: restoring the schema on the target failed on TABLE public.ledger (ALTER TABLE public.ledger OWNER TO ${role};): role "${role}" does not exist`,
      );
      expect(r.stderr).toMatch(/next: nothing of this batch was applied .*then re-run with --resume/);
      // The replay was rolled back: of the schema, only what the failed batch's predecessors held (none here) is there.
      const { rows } = await t17.admin(`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`);
      expect(rows[0].n).toBe(0);
    } finally {
      await osrc.drop();
      targets.splice(targets.indexOf(osrc), 1);
      await runSql(inject('clusters').pg15.adminUrl, `DROP ROLE IF EXISTS ${role}`);
    }
  });
});
