// Trigger capture on a busy source (issue 21 item 9): an install blocked by a session idle in transaction names
// that session and gives up after a couple of short lock waits (each one stalls the application's writers), and
// `cleanup` says how many captured changes it drops unapplied, removes only the capture feeding its target (issue
// 22 item 5) and no application trigger named like the capture's. Non-superuser roles; independent comparison.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compareDatabases, formatDifference } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { parseJson, runCli } from '../support/cli.js';
import { captureLeftovers, captureUntilCaughtUp, isCaptureObject, spawnCapture } from '../support/capture.js';

const PASSWORD = 'role-pw-capture-locks';

describe('replicate --capture triggers: a blocked install, cleanup of unapplied changes (15 → 17)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let app: string;
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'capl_src' }), createDatabase(pg17, { label: 'capl_tgt' })]);
    app = `${src.database}_app`;
    await src.admin(`CREATE ROLE ${q(app)} LOGIN PASSWORD '${PASSWORD}'`);
    await src.owner(`
      CREATE TABLE orders (id bigint PRIMARY KEY, v text);
      CREATE TABLE bag (a int, b text);
      INSERT INTO orders SELECT g, 'o' || g FROM generate_series(1, 50) g;
      INSERT INTO bag SELECT g % 5, 'b' FROM generate_series(1, 20) g;
      GRANT SELECT, INSERT, UPDATE, DELETE ON orders, bag TO ${q(app)};`);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), tgt?.drop()]);
    if (src) await src.admin(`DROP ROLE IF EXISTS ${q(app)}`).catch(() => undefined);
  });

  it("an install blocked by another role's session idle in transaction names it and stops within seconds; the rerun converges", async () => {
    const u = new URL(src.url);
    u.username = encodeURIComponent(app);
    u.password = encodeURIComponent(PASSWORD);
    u.search = '';
    const blocker = new pg.Client({ connectionString: u.toString(), ssl: { rejectUnauthorized: false } });
    await blocker.connect();
    try {
      await blocker.query(`BEGIN`);
      await blocker.query(`UPDATE orders SET v = v WHERE id = 1`);
      const { rows } = await blocker.query(`SELECT pg_backend_pid() AS pid`);
      const started = Date.now();
      const run = spawnCapture(src.url, tgt.url, { untilCaughtUp: true });
      const r = await run.exit;
      const seconds = (Date.now() - started) / 1000;
      expect(r.code, run.output()).not.toBe(0);
      expect(run.output()).toMatch(
        new RegExp(
          `capture install: session pid ${rows[0].pid} \\(user ${app}[^)]*\\) holds RowExclusiveLock on public\\.orders in a transaction that stays open`,
        ),
      );
      expect(run.output()).toContain(`pg_terminate_backend(${rows[0].pid})`);
      expect(run.output()).toMatch(/nothing was changed/);
      // Two waits of 2 s (and a pause) rather than eight.
      expect(seconds).toBeLessThan(15);
      expect(await captureLeftovers(src)).toEqual({ triggers: 0, functions: 0, schemas: 0 });
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end().catch(() => undefined);
    }
    const summary = await captureUntilCaughtUp(src.url, tgt.url);
    expect(summary.caughtUp).toBe(true);
    const diffs = await compareDatabases(src, tgt, { ignore: isCaptureObject });
    expect(diffs.map(formatDifference)).toEqual([]);
  }, 120_000);

  it('cleanup for another target leaves this capture alone', async () => {
    const other = await createDatabase(inject('clusters').pg17, { label: 'capl_other' });
    try {
      const r = await runCli(['cleanup', '--source', src.url, '--target', other.url, '--json']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/cleanup: the capture on \S+ feeds \S+capl_tgt\S+, not \S+capl_other\S+; nothing was removed/);
      expect(await captureLeftovers(src)).toMatchObject({ schemas: 1 });
    } finally {
      await other.drop();
    }
  }, 120_000);

  it("cleanup says how many captured changes it drops that the target had not applied, and leaves a trigger named like the capture's", async () => {
    // An application trigger that `_pgshift_capture_%` (LIKE: _ is any character) would match.
    await src.owner(`CREATE FUNCTION app_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
      CREATE TRIGGER "Apgshift-capture-audit" AFTER INSERT ON orders FOR EACH STATEMENT EXECUTE FUNCTION app_noop()`);
    await src.owner(`INSERT INTO orders VALUES (1001, 'x'), (1002, 'y'); DELETE FROM orders WHERE id = 3`);
    const r = await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r).removed.join('; ')).toMatch(/schema _pgshift \(with its change log: 3 captured changes the target had not applied were dropped\)/);
    expect(await captureLeftovers(src)).toEqual({ triggers: 0, functions: 0, schemas: 0 });
    const { rows } = await src.admin(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'Apgshift-capture-audit'`);
    expect(rows[0].n).toBe(1);
  }, 120_000);
});
