// copy --source FILE with many small tables (#26.4): their rows go in groups, one transaction and two round trips
// for several tables (load-group.ts), then the group's index/key builds and ANALYZEs likewise (indexes.ts) —
// counted by copy --json's roundTrips, as for the live copy — and a group is all or nothing: a table failing in it leaves none of the
// group's tables loaded or marked, and --resume loads exactly what is missing. Compared independently with the
// database the archive was dumped from.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { dumpToFile } from '../support/dump-restore.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const TABLES = 60;

describe('copy --source FILE: many small tables', () => {
  let src: TestDatabase;
  const dbs: TestDatabase[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-archive-small-'));
  const file = join(dir, 'small.dump');
  const target = async (label: string) => {
    const t = await createDatabase(inject('clusters').pg17, { label });
    dbs.push(t);
    return t;
  };
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'arsmall_src' });
    // 60 tables of 20–610 rows (t_k larger than t_(k-1) in the archive too) in 3 schemas, each with a primary key, every 10th with an index, one foreign key;
    // t_7's rows pass a CHECK that fails where the database says so (a target set up to fail in the data phase).
    const ddl = ['CREATE SCHEMA a; CREATE SCHEMA b; CREATE SCHEMA c;'];
    ddl.push(`CREATE FUNCTION public.guard(int) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('pgshift_test.fail_guard', true) = 'on' THEN RAISE EXCEPTION 'guard refused row %', $1; END IF;
        RETURN true;
      END $$;`);
    for (let k = 0; k < TABLES; k++) {
      const t = `${'abc'[k % 3]}.t_${k}`;
      ddl.push(`CREATE TABLE ${t} (id serial PRIMARY KEY, account int NOT NULL, note text${k === 7 ? ', CHECK (public.guard(id))' : ''});`);
      ddl.push(`INSERT INTO ${t} (account, note) SELECT g % 13 + 1, 'note ' || md5(g::text) FROM generate_series(1, ${20 + 10 * k}) g;`);
      if (k % 10 === 0) ddl.push(`CREATE INDEX ON ${t} (account);`);
    }
    ddl.push('ALTER TABLE b.t_1 ADD FOREIGN KEY (account) REFERENCES a.t_0 (id);');
    await src.owner(ddl.join('\n'));
    await dumpToFile(src, file, ['-Fc', '--no-owner', '--no-acl']);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([src?.drop(), ...dbs.map((d) => d.drop())]);
  });

  it('small tables load in groups, their builds and ANALYZEs too: a few round trips for 60 tables; identical to the source', async () => {
    const tgt = await target('arsmall_rt');
    const r = await runCli(['copy', '--source', file, '--target', tgt.url, '--jobs', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = parseJson(r) as { tables: number; indexes: number; roundTrips: { target: Record<string, number> } };
    expect(summary.tables).toBe(TABLES);
    const { data, indexes } = summary.roundTrips.target;
    // Before: five per table (BEGIN, TRUNCATE, COPY, mark, COMMIT) = 300. Now two per group of up to 30 tables
    // (a fair half of the queue per session), plus each session's setting.
    expect(data, JSON.stringify(summary.roundTrips)).toBeLessThanOrEqual(20);
    // Before: five per build (BEGIN, build, mark, COMMIT, RESET ALL) and one ANALYZE per table: 66 builds → 390.
    // Now a group's keys, indexes and ANALYZEs go in one transaction, two round trips; the foreign key in two (17 seen).
    expect(indexes, JSON.stringify(summary.roundTrips)).toBeLessThanOrEqual(40);
    await expectSameDatabase(src, tgt);
  });

  it('a table failing inside a group leaves the whole group unloaded and unmarked; --resume loads exactly the rest', async () => {
    const tgt = await target('arsmall_fail');
    await tgt.admin(`ALTER DATABASE ${tgt.database} SET pgshift_test.fail_guard = 'on'`);
    const failed = await runCli(['copy', '--source', file, '--target', tgt.url, '--jobs', '1']);
    expect(failed.code, failed.stderr).not.toBe(0);
    expect(failed.stderr).toMatch(/guard refused row/);
    expect(failed.stderr).toMatch(/--resume/);
    // Every table is either marked done with all its rows, or unmarked and empty — never half, never unmarked with rows.
    const { rows: marks } = await tgt.admin(`SELECT count(*)::int AS n FROM pgshift.copy_toc WHERE section = 'data'`);
    const { rows } = await tgt.admin(
      `SELECT c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::int AS n
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname IN ('a', 'b', 'c')`,
    );
    const loaded = rows.filter((x) => x.n > 0);
    expect(loaded.length, 'tables with rows = tables marked done').toBe(marks[0].n);
    expect(
      rows.find((x) => x.relname === 't_7'),
      'the failing table',
    ).toMatchObject({ n: 0 });
    // Its group-mates went with it. --jobs 1, largest first: the 50 largest (t_59 … t_10) in one group, committed,
    // then t_9 … t_0 in the next: t_9 and t_8 were loaded before t_7 in that transaction — one by one, they stayed.
    expect(loaded.map((x) => x.relname).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `t_${i + 10}`).sort());
    await tgt.admin(`ALTER DATABASE ${tgt.database} RESET pgshift_test.fail_guard`);
    const resumed = await runCli(['copy', '--source', file, '--target', tgt.url, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });
});
