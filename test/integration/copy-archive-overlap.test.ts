// copy --source FILE (#26.4): foreign keys are built while other tables still load, as soon as the rows of
// both their tables are in and the keys on them are built (pg_restore -j does the same), not after all the data.
// A table whose load cannot finish until the test lets it (a CHECK that takes a shared advisory lock the test holds
// on the target: constraints hold whatever session_replication_role says) keeps one data session busy; the foreign
// key between two small tables must appear on the target while that table's rows are still held back — whatever
// the machine's load (a CHECK that slept per row raced the builds on a loaded machine). Then the whole restore is compared with the source,
// and the rows are found written frozen.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openArchive } from '../../src/archive/index.js';
import { spawnCli } from '../support/spawn.js';
import { expectSameDatabase } from '../support/compare.js';
import { dumpToFile } from '../support/dump-restore.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { waitFor } from '../support/replication.js';

const HOLD = 4242;

describe('copy --source FILE: foreign keys overlap the data', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-archive-overlap-'));
  const file = join(dir, 'fk.dump');
  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'arfk_src' }), createDatabase(pg17, { label: 'arfk_tgt' })]);
    // slow: its rows wait for advisory lock HOLD on the target; the largest in the archive, so it goes first — and
    // larger than the tables copy loads together in one transaction (~1.5 MB compressed: 60 distinct md5s a row).
    await src.owner(`
      CREATE FUNCTION slow_ok(int) RETURNS boolean LANGUAGE sql AS 'SELECT true FROM (SELECT pg_advisory_xact_lock_shared(${HOLD})) s';
      CREATE TABLE slow (id int PRIMARY KEY, body text, CHECK (slow_ok(id)));
      INSERT INTO slow SELECT g, (SELECT string_agg(md5(g || ':' || k), '') FROM generate_series(1, 60) k) FROM generate_series(1, 1500) g;
      CREATE TABLE parent (id int PRIMARY KEY, name text);
      CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id));
      CREATE INDEX child_parent ON child (parent_id);
      INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 200) g;
      INSERT INTO child SELECT g, 1 + g % 200 FROM generate_series(1, 1000) g;`);
    await dumpToFile(src, file, ['-Fc', '--no-owner', '--no-acl']);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('the foreign key between two loaded tables exists while the slow table is still loading', async () => {
    const slowData = openArchive(file).entries.find((e) => e.desc === 'TABLE DATA' && e.tag === 'slow')!.dumpId;
    const holder = new pg.Client({ connectionString: tgt.adminUrl });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [HOLD]);
    const run = spawnCli(['copy', '--source', file, '--target', tgt.url, '--jobs', '2']);
    try {
      // The moment the foreign key is there: was the slow table's data already committed (its "done" mark)?
      const seen = await waitFor(
        'the foreign key on the target',
        async () => {
          const { rows } = await tgt.admin(
            `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'child_parent_id_fkey') AS fk,
                    to_regclass('pgshift.copy_toc') IS NOT NULL AND EXISTS (SELECT 1 FROM pgshift.copy_toc WHERE dump_id = $1) AS slow_done`,
            [slowData],
          );
          return rows[0].fk ? rows[0] : null;
        },
        60_000,
        20,
      );
      expect(seen.slow_done, 'the foreign key was built only after all the data').toBe(false);
      const { rows: waiting } = await tgt.admin(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%COPY %slow%' AND wait_event_type = 'Lock'`,
      );
      expect(waiting[0].n, 'the slow table is still loading, held back by the test').toBe(1);
    } finally {
      await holder.end();
    }
    const done = await run.exit;
    expect(done.code, run.output()).toBe(0);
    await expectSameDatabase(src, tgt);
    // The rows were written frozen (COPY … WITH (FREEZE) after TRUNCATE in the load's transaction): every page
    // but the few a multi-row insert left half full all-visible in the visibility map, as the ANALYZE after the load
    // counted them; unfrozen, none is until a VACUUM.
    const { rows } = await tgt.admin(
      `SELECT relname, relpages, relallvisible FROM pg_class WHERE relname IN ('slow', 'parent', 'child') AND relkind = 'r' ORDER BY relname`,
    );
    expect(rows).toHaveLength(3);
    for (const r of rows)
      expect(r.relallvisible, `${r.relname}: ${r.relallvisible} of ${r.relpages} pages all-visible`).toBeGreaterThanOrEqual(0.8 * r.relpages);
    expect(rows.find((r) => r.relname === 'slow').relpages).toBeGreaterThan(10);
  });
});
