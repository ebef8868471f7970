// copy --source FILE (#26): a pg_dump archive restored by pgshift's phases, compared independently with the
// database it was dumped from (writes frozen while dumping), in both archive formats, 15 → 17 and 15 → 15;
// a truncated archive refused before anything is written; a restore cut mid-table resumed exactly.
import { mkdtempSync, rmSync, copyFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { spawnCli } from '../support/spawn.js';
import { expectSameDatabase } from '../support/compare.js';
import { dumpToFile } from '../support/dump-restore.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { buildHardCases } from '../support/hardcases.js';
import { waitFor } from '../support/replication.js';

const HOLD = 4243;

describe('copy --source FILE: a pg_dump archive into an empty target', () => {
  let src: TestDatabase;
  const dbs: TestDatabase[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-archive-copy-'));
  const file = (name: string) => join(dir, name);
  const target = async (label: string, major: 15 | 17 = 17) => {
    const { pg15, pg17 } = inject('clusters');
    const t = await createDatabase(major === 15 ? pg15 : pg17, { label });
    dbs.push(t);
    return t;
  };
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'arcopy_src' });
    await buildHardCases(src);
    // A table large enough to be caught mid-load, and held there on demand: each row takes advisory lock HOLD shared,
    // so a test holding it on the target keeps the load waiting whatever the machine's speed.
    await src.owner(
      `CREATE FUNCTION bulk_gate() RETURNS boolean LANGUAGE sql AS 'SELECT true FROM (SELECT pg_advisory_xact_lock_shared(${HOLD})) s';
       CREATE TABLE bulk (id bigint PRIMARY KEY, body text, CHECK (bulk_gate()));
       INSERT INTO bulk SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 200000) g`,
    );
    await Promise.all([
      dumpToFile(src, file('latest.dump'), ['-Fc', '--no-owner', '--no-acl']),
      dumpToFile(src, file('latest.dir'), ['-Fd', '--no-owner', '--no-acl']),
      dumpToFile(src, file('raw.dump'), ['-Fc', '-Z0', '--no-owner', '--no-acl'], { pipe: true }),
    ]);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([src?.drop(), ...dbs.map((d) => d.drop())]);
  });

  it('custom format, 15 → 17: every phase, identical to the source it was dumped from', async () => {
    const tgt = await target('arcopy_c17');
    const r = await runCli(['copy', '--source', file('latest.dump'), '--target', tgt.url, '--jobs', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = parseJson(r);
    expect(s.archive.pgDumpVersion).toMatch(/^15\./);
    expect(s.rows).toBeGreaterThan(200000);
    expect(s.largeObjects).toBeGreaterThan(0);
    await expectSameDatabase(src, tgt);
    const again = await runCli(['copy', '--source', file('latest.dump'), '--target', tgt.url, '--resume', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(parseJson(again).alreadyComplete).toBe(true);
    // The restore tested against the archive itself: equal; then one row and one sequence changed behind it.
    const v = await runCli(['verify', '--source', file('latest.dump'), '--target', tgt.url, '--json']);
    expect(v.code, v.stderr).toBe(0);
    const report = parseJson(v);
    expect(report.ok).toBe(true);
    expect(report.tables.length).toBeGreaterThan(20);
    expect(report.largeObjects.equal).toBe(true);
    await tgt.owner(`UPDATE bulk SET body = 'changed' WHERE id = 77; DELETE FROM bulk WHERE id = 78`);
    const { rows: seq } = await tgt.owner(
      `SELECT format('%I.%I', schemaname, sequencename) AS s FROM pg_sequences WHERE schemaname <> 'pgshift' ORDER BY 1 LIMIT 1`,
    );
    await tgt.owner(`SELECT setval('${seq[0].s.replace(/'/g, "''")}', 987654)`);
    const differs = await runCli(['verify', '--source', file('latest.dump'), '--target', tgt.url]);
    expect(differs.code, differs.stderr).toBe(1);
    expect(differs.stdout).toMatch(/table public\.bulk: 200,000 rows in the archive, 199,999 on the target/);
    expect(differs.stdout).toMatch(/sequence .*: .* in the archive, 987654\/true on the target/);
  });

  it('directory format, 15 → 15: identical', async () => {
    const tgt = await target('arcopy_d15', 15);
    const r = await runCli(['copy', '--source', file('latest.dir'), '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Restored .*latest\.dir .* into /);
    await expectSameDatabase(src, tgt);
    // Same majors: the schema is compared by a pg_dump of the target, definitions included — no difference, no note.
    const v = await runCli(['verify', '--source', file('latest.dir'), '--target', tgt.url, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(parseJson(v).schema.differences).toEqual([]);
  });

  it('an uncompressed archive written through a pipe, 15 → 17: identical, and verify against the file says so', async () => {
    const tgt = await target('arcopy_raw');
    const r = await runCli(['copy', '--source', file('raw.dump'), '--target', tgt.url, '--jobs', '2']);
    expect(r.code, r.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
    const v = await runCli(['verify', '--source', file('raw.dump'), '--target', tgt.url]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^Equal: /);
  });

  it('a managed target whose admin installed the extensions: COMMENT ON EXTENSION skipped with a warning, identical', async () => {
    const s = await createDatabase(inject('clusters').pg15, { label: 'arcopy_ext_src' });
    dbs.push(s);
    await s.owner(`CREATE EXTENSION citext; CREATE EXTENSION pg_trgm; CREATE TABLE people (id int PRIMARY KEY, email citext, name text);
      CREATE INDEX people_name_trgm ON people USING gin (name gin_trgm_ops); INSERT INTO people SELECT g, 'P' || g || '@x.org', 'name ' || g FROM generate_series(1, 500) g`);
    await dumpToFile(s, file('ext.dump'), ['-Fc', '--no-owner', '--no-acl']);
    const tgt = await target('arcopy_ext_tgt');
    await tgt.admin(`CREATE EXTENSION citext; CREATE EXTENSION pg_trgm`);
    const r = await runCli(['copy', '--source', file('ext.dump'), '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/extension citext was already installed on the target .*COMMENT ON EXTENSION .* is skipped/);
    await expectSameDatabase(s, tgt);
  });

  it('a truncated archive is refused before anything is written (exit 2), naming the table it ends in', async () => {
    const tgt = await target('arcopy_trunc');
    const cut = file('cut.dump');
    copyFileSync(file('latest.dump'), cut);
    truncateSync(cut, Math.floor(statSync(cut).size * 0.6));
    const r = await runCli(['copy', '--source', cut, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/the file is truncated/);
    expect(r.stderr).toMatch(/next: download the archive again/);
    const { rows } = await tgt.admin(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgshift'`);
    expect(rows[0].n).toBe(0);
  });

  it('the target connection cut while a table loads: exit 3, then --resume finishes exactly (no row twice)', async () => {
    const tgt = await target('arcopy_cut');
    const holder = new pg.Client({ connectionString: tgt.adminUrl });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [HOLD]);
    const run = spawnCli(['copy', '--source', file('latest.dump'), '--target', tgt.url, '--jobs', '1']);
    try {
      await waitFor(
        'bulk loading, held by the test',
        async () => {
          const { rows } = await tgt.admin(
            `SELECT pid FROM pg_stat_activity WHERE application_name = 'pgshift copy data' AND query LIKE '%COPY %bulk%' AND wait_event_type = 'Lock'`,
          );
          return rows.length ? rows : null;
        },
        60_000,
        20,
      );
      await tgt.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgshift copy data'`);
    } finally {
      await holder.end();
    }
    const first = await run.exit;
    expect(first.code, run.output()).toBe(3);
    expect(run.output()).toMatch(/next: .*--resume/);
    const other = await runCli(['copy', '--source', file('latest.dir'), '--target', tgt.url, '--resume']);
    expect(other.code, other.stderr).toBe(2);
    expect(other.stderr).toMatch(/not this archive/);
    const resumed = await runCli(['copy', '--source', file('latest.dump'), '--target', tgt.url, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });
});
