// Schema-per-tenant scale: thousands of tables with serial keys, indexes and foreign keys across hundreds of
// schemas, on a server with PostgreSQL's default lock table (max_locks_per_transaction 64 × max_connections
// 100). One transaction for the whole schema runs out of shared memory there; pgshift must commit in batches.
// Size with PGSHIFT_SCALE_TABLES (default 5000) and PGSHIFT_SCALE_LOCKS (max_locks_per_transaction, default 64):
// CI runs 600 tables with 10 locks, the same overflow in a tenth of the time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startCluster, type RunningCluster } from '../support/cluster.js';
import { expectSameDatabase, sumRows, tableRowCounts } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const TABLES = Number(process.env.PGSHIFT_SCALE_TABLES ?? 5000);
const SCHEMAS = Math.max(1, Math.round(TABLES / 10));
const LOCKS = Number(process.env.PGSHIFT_SCALE_LOCKS ?? 64);

describe(`copy of ${TABLES} tables in ${SCHEMAS} schemas, max_locks_per_transaction ${LOCKS}, max_connections 100`, () => {
  let cluster: RunningCluster;
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    // Defaults that matter here; the shared test clusters run with more connections (a bigger lock table).
    cluster = await startCluster({ major: 15, settings: { max_connections: 100, max_locks_per_transaction: LOCKS } });
    [src, tgt] = await Promise.all([createDatabase(cluster, { label: 'scale_src' }), createDatabase(cluster, { label: 'scale_tgt' })]);
    // Each schema: a parent and children with serial keys, a text column (TOAST table), an index and a foreign key.
    await src.owner(`
      DO $$
      DECLARE s int; t int; per int := ${Math.ceil(TABLES / SCHEMAS)};
      BEGIN
        FOR s IN 1..${SCHEMAS} LOOP
          EXECUTE format('CREATE SCHEMA tenant_%s', s);
          FOR t IN 1..per LOOP
            IF t = 1 THEN
              EXECUTE format('CREATE TABLE tenant_%s.t1 (id serial PRIMARY KEY, name text)', s);
            ELSE
              EXECUTE format('CREATE TABLE tenant_%s.t%s (id serial PRIMARY KEY, parent int REFERENCES tenant_%s.t1 (id), note text)', s, t, s);
              EXECUTE format('CREATE INDEX ON tenant_%s.t%s (parent)', s, t);
            END IF;
          END LOOP;
          EXECUTE format('INSERT INTO tenant_%s.t1 (name) SELECT ''n'' || g FROM generate_series(1, 3) g', s);
          EXECUTE format('INSERT INTO tenant_%s.t2 (parent, note) SELECT 1 + g %% 3, ''x'' FROM generate_series(1, 5) g', s);
          COMMIT; -- the seed itself would run out of locks in one transaction
        END LOOP;
      END $$;`);
  }, 600_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('copies (and verifies) every table, key and sequence without running out of locks', async () => {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--json'], { timeoutMs: 900_000 });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const summary = JSON.parse(r.stdout);
    console.log(
      `copy of ${TABLES} tables: ${summary.seconds.toFixed(1)} s (${((summary.seconds / TABLES) * 1000).toFixed(1)} ms a table); phases ${JSON.stringify(summary.phases)}`,
    );
    const { rows } = await tgt.admin(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname LIKE 'tenant\\_%'`,
    );
    expect(rows[0].n).toBe(TABLES);
    expect(sumRows(await tableRowCounts(tgt))).toBe(SCHEMAS * 8);
    await expectSameDatabase(src, tgt);
    // verify reads every table under one snapshot per side: it must not fill the lock table either.
    const v = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json'], { timeoutMs: 900_000 });
    expect(v.code, v.stderr.slice(-3000)).toBe(0);
  }, 1_800_000);
});
