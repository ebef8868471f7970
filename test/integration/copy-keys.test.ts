// A key is built in two jobs (copy/builds.ts): CREATE UNIQUE INDEX, then — once every other build on the table
// is done — ALTER TABLE … ADD CONSTRAINT … USING INDEX (with REPLICA IDENTITY, CLUSTER ON and the constraint's
// comment); a foreign key as ADD … NOT VALID, then VALIDATE CONSTRAINT. These tests put the target in the states
// an interruption leaves between the two halves, and in the state an older pgshift left (the whole key recorded
// under the index's name), and check that --resume finishes each into a copy identical to the source (catalog
// comparison and pg_dump -s, comments included). Also: a SIGINT after the data phase is honoured at the next
// step (exit 130, --resume), not left to end as a finished copy.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { dumpDifferences, schemaDump } from '../support/schema-dump.js';
import { sleep, spawnCli } from '../support/spawn.js';

const SEED_SQL = `
  CREATE TABLE users (id int NOT NULL, email text NOT NULL, name text);
  INSERT INTO users SELECT g, 'u' || g || '@example.com', md5(g::text) FROM generate_series(1, 20000) g;
  ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
  ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email) DEFERRABLE INITIALLY DEFERRED;
  CREATE INDEX users_name_idx ON users (name);
  ALTER TABLE users REPLICA IDENTITY USING INDEX users_pkey;
  ALTER TABLE users CLUSTER ON users_name_idx;
  COMMENT ON CONSTRAINT users_pkey ON users IS 'the key';
  COMMENT ON INDEX users_name_idx IS 'by name';
  CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users (id));
  INSERT INTO orders SELECT g, 1 + g % 20000 FROM generate_series(1, 5000) g;
`;

async function expectIdentical(src: TestDatabase, tgt: TestDatabase): Promise<void> {
  await expectSameDatabase(src, tgt);
  expect(dumpDifferences(await schemaDump(src), await schemaDump(tgt))).toEqual([]);
}

/** Make the finished copy look interrupted inside its data phase (every chunk done), for --resume. */
async function reopenDataPhase(tgt: TestDatabase): Promise<void> {
  await tgt.admin(`UPDATE pgshift.copy_run SET finished_at = NULL, steps = steps - 'data' WHERE id = 1`);
}

describe('keys built as an index, then attached', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  beforeAll(async () => {
    // Both on 15: the test's pg_dump (15) must dump the target too.
    const { pg15 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'keys_src' }), createDatabase(pg15, { label: 'keys_tgt' })]);
    await src.owner(SEED_SQL);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--index-jobs', '2']);
    expect(r.code, r.stderr).toBe(0);
    await expectIdentical(src, tgt);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop()]));

  it('interrupted after the index and before its ALTER TABLE: --resume attaches the key, then the foreign key', async () => {
    await tgt.admin(`ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;
      ALTER TABLE users DROP CONSTRAINT users_pkey;
      CREATE UNIQUE INDEX users_pkey ON users (id);
      DELETE FROM pgshift.copy_index WHERE index_name = 'users_pkey' OR index_name LIKE 'FK orders.%'`);
    const done = await tgt.admin(`SELECT index_name FROM pgshift.copy_index WHERE table_name = 'users' ORDER BY 1`);
    expect(done.rows.map((r) => r.index_name)).toContain('index users_pkey');
    await reopenDataPhase(tgt);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--resume', '--log-level', 'debug']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/attached users_pkey to its table/);
    expect(r.stderr).not.toMatch(/built index users_pkey/);
    await expectIdentical(src, tgt);
  });

  it('interrupted after a foreign key was added NOT VALID: --resume validates it', async () => {
    await tgt.admin(`ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;
      ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
      DELETE FROM pgshift.copy_index WHERE index_name = 'FK orders.orders_user_id_fkey'`);
    await reopenDataPhase(tgt);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--resume', '--log-level', 'debug']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/built foreign key orders_user_id_fkey/g)).toHaveLength(1);
    expect((await tgt.admin(`SELECT convalidated FROM pg_constraint WHERE conname = 'orders_user_id_fkey'`)).rows).toEqual([{ convalidated: true }]);
    await expectIdentical(src, tgt);
  });

  it('SIGINT after the data phase stops at the next step: exit 130 naming --resume, which finishes the copy', async () => {
    const { pg15 } = inject('clusters');
    const [from, to] = await Promise.all([createDatabase(pg15, { label: 'keys_int_src' }), createDatabase(pg15, { label: 'keys_int_tgt' })]);
    try {
      // A materialized view whose refresh (a step after the data phase) takes 2 s: the signal lands inside it.
      await from.owner(`CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 1000);
        CREATE MATERIALIZED VIEW slow AS SELECT count(*) AS n, pg_sleep(2) IS NULL AS slept FROM t WITH NO DATA;
        REFRESH MATERIALIZED VIEW slow;`);
      const run = spawnCli(['copy', '--source', from.url, '--target', to.url]);
      const deadline = Date.now() + 60_000;
      while (!/"msg":"data: done/.test(run.output()) && !run.exited() && Date.now() < deadline) await sleep(5);
      expect(run.exited(), run.output()).toBe(false);
      await sleep(300); // inside the refresh
      run.child.kill('SIGINT');
      const exit = await run.exit;
      expect(exit.code, run.output()).toBe(130);
      expect(run.output()).toMatch(/next: .*--resume/);
      expect(run.output()).not.toMatch(/analyze: done/);
      const r = await runCli(['copy', '--source', from.url, '--target', to.url, '--resume']);
      expect(r.code, r.stderr).toBe(0);
      await expectIdentical(from, to);
    } finally {
      await Promise.all([from.drop(), to.drop()]);
    }
  });

  it('a state from before the split (the whole key recorded under the index name): --resume builds neither half again', async () => {
    await tgt.admin(`DELETE FROM pgshift.copy_index WHERE index_name LIKE 'index %' OR index_name LIKE '% NOT VALID'`);
    await reopenDataPhase(tgt);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--resume', '--log-level', 'debug']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/built index users_|attached users_|built foreign key/);
    await expectIdentical(src, tgt);
  });
});
