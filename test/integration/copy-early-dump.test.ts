// The schema dump starts beside the plan and the target state's creation (issue #28: ~0.1 s of every copy's
// start was pg_dump waiting in series). Shown for real by holding the plan back: an uncommitted rename locks a
// source sequence the plan reads; pg_dump, which reads only the catalog, must finish while the plan still waits.
// Then the lock goes and the copy must end equal to the source. A preflight failure after the dump started must
// end the run with its own message, pg_dump gone and nothing on the target.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { spawnCli, waitWhileRunning } from '../support/spawn.js';

const SEED_SQL = `
  CREATE TABLE accounts (id int PRIMARY KEY, email text UNIQUE);
  INSERT INTO accounts SELECT g, 'a' || g || '@example.com' FROM generate_series(1, 2000) g;
  CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id int REFERENCES accounts, total numeric);
  INSERT INTO orders (account_id, total) SELECT 1 + g % 2000, g / 7.0 FROM generate_series(1, 5000) g;
  CREATE SEQUENCE invoice_seq;
  SELECT setval('invoice_seq', 42);
`;

/** Backends of this database waiting for a lock, running `query like` (pg_dump's LOCK TABLE, pgshift's CREATE SCHEMA). */
async function lockWaiters(db: TestDatabase, like: string): Promise<number> {
  const { rows } = await db.admin(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE $1`,
    [like],
  );
  return rows[0].n;
}

/** Tables created on the target so far (none while the copy is still planning). */
async function doneSteps(db: TestDatabase): Promise<number> {
  const { rows } = await db.admin(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`);
  return rows[0].n;
}

/** Sessions of pg_dump (or of the relay carrying it) still open on this database. */
async function dumpSessions(db: TestDatabase): Promise<number> {
  const { rows } = await db.admin(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND (application_name ILIKE '%pg_dump%' OR query ILIKE 'LOCK TABLE%')`,
  );
  return rows[0].n;
}

describe('copy: the schema dump runs beside the plan and the state', () => {
  const dbs: TestDatabase[] = [];
  let src: TestDatabase;

  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'early_src' });
    dbs.push(src);
    await src.owner(SEED_SQL);
  });
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
  });

  it('pg_dump runs while the plan waits for a sequence; the copy ends equal', async () => {
    const tgt = await createDatabase(inject('clusters').pg17, { label: 'early_tgt' });
    dbs.push(tgt);
    const hold = new pg.Client({ connectionString: src.adminUrl });
    await hold.connect();
    try {
      // An uncommitted rename holds ACCESS EXCLUSIVE on the sequence: the plan's sequence read waits for it, the
      // state is created only after it; pg_dump reads the sequence's definition from the catalog and goes on.
      await hold.query('BEGIN; ALTER SEQUENCE public.invoice_seq RENAME TO invoice_seq_held');
      const run = spawnCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '2', '--log-level', 'debug']);
      await waitWhileRunning(run, 'the sequence read waits', async () => (await lockWaiters(src, '%pg_sequence_last_value%')) > 0, 60_000);
      // The old order (plan, sequences, state, then pg_dump) had not started pg_dump while the plan waited.
      await waitWhileRunning(run, 'the schema dump is done', async () => run.output().includes('schema dump: done, beside the plan'), 30_000);
      expect(await doneSteps(tgt), run.output()).toBe(0);
      await hold.query('ROLLBACK');
      const { code } = await run.exit;
      expect(code, run.output()).toBe(0);
    } finally {
      await hold.query('ROLLBACK').catch(() => undefined);
      await hold.end();
    }
    await expectSameDatabase(src.adminUrl, tgt.adminUrl);
  });

  it('a preflight failure after the dump started ends the run with its own message, pg_dump gone, nothing on the target', async () => {
    const tgt = await createDatabase(inject('clusters').pg17, { label: 'early_fail_tgt' });
    dbs.push(tgt);
    // A table the source role cannot read: the plan's read check refuses it (pg_dump, started before, fails on it
    // too, or is stopped): the user gets the check's message, not pg_dump's.
    await src.admin(`CREATE TABLE public.secret (id int PRIMARY KEY); REVOKE ALL ON public.secret FROM PUBLIC`);
    try {
      const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '2'], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/cannot read public\.secret/);
      expect(r.stderr).not.toMatch(/pg_dump failed/);
      expect(await dumpSessions(src)).toBe(0);
    } finally {
      await src.admin(`DROP TABLE public.secret`);
    }
    expect(await doneSteps(tgt)).toBe(0);
  });
});
