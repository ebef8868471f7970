// estimate models the trigger-capture path (issue #28 item 4): on a source whose role has no REPLICATION (Heroku),
// `pgshift replicate --capture triggers` still works, so the strategy section must name it with its freeze, its
// drain rate and the source overhead, in the text and in --json; and must not offer it to a role that cannot
// create the triggers.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('pgshift estimate: the trigger-capture path (TLS owner source on 15, no REPLICATION)', () => {
  let src: TestDatabase;

  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'est_trig' });
    await src.owner(`
      CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, note text);
      INSERT INTO accounts SELECT g, 'u' || g || '@example.com', repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
      CREATE TABLE events (at timestamptz NOT NULL DEFAULT now(), account_id bigint, what text);
      ANALYZE;`);
  });
  afterAll(async () => src?.drop());

  it('--json carries the trigger path: available, its freeze (catch-up + finish + verify), drain rate, backlog and source overhead', async () => {
    // The application keeps writing while the estimate samples the source's change rate.
    const app = new pg.Client({ connectionString: src.adminUrl.replace(/[?&]sslmode=[^&]*/, '') });
    await app.connect();
    let writing = true;
    const writer = (async () => {
      let i = 0;
      while (writing) {
        await app.query(`INSERT INTO events (account_id, what) SELECT g, 'login' FROM generate_series($1::int, $1::int + 9) g`, [i]);
        i += 10;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let r;
    try {
      r = await runCli(['estimate', '--source', src.url, '--probe-seconds', '1', '--json']);
    } finally {
      writing = false;
      await writer;
      await app.end();
    }
    expect(r.code, r.stderr).toBe(0);
    const e = parseJson(r);
    const s = e.strategy;
    expect(s.logicalReplication.available).toBe(false);
    expect(s.logicalReplication.reason).toMatch(/REPLICATION/);
    const t = s.triggers;
    expect(t.available).toBe(true);
    expect(t.reason).toBeNull();
    // Frozen: the applier's last batch, replicate's finish and the verify; never the copy itself.
    expect(t.catchUpSeconds).toBeGreaterThan(0);
    expect(t.freezeSeconds).toBeCloseTo(t.catchUpSeconds + t.finishSeconds + e.verifySeconds, 6);
    expect(t.freezeSeconds).toBeLessThan(e.verifySeconds + t.catchUpSeconds + 2);
    expect(t.drainChangesPerSecond).toBeGreaterThan(0);
    expect(t.drainBasis).toMatch(/capture-overhead/);
    // The writer above changed rows during the sample: the log's backlog after the copy follows from it.
    expect(s.writeRate.changesPerSecond).toBeGreaterThan(0);
    expect(t.changesPerSecond).toBe(s.writeRate.changesPerSecond);
    expect(t.keepsUp).toBe(true);
    expect(t.backlogAfterCopy.changes).toBeCloseTo(t.changesPerSecond * e.totalSeconds, 6);
    expect(t.backlogAfterCopy.drainSeconds).toBeGreaterThan(0);
    expect(t.sourceOverhead.microsecondsPerStatement).toBeGreaterThan(0);
    expect(t.sourceOverhead.coreShare).toBeGreaterThan(0);
    expect(s.verdict).toMatch(/trigger capture \(pgshift replicate --capture triggers/);
    expect(s.verdict).not.toMatch(/path that remains/);
    expect(['trigger-capture', 'dump-restore']).toContain(s.recommendation);
  });

  it('text: the freeze section has a trigger-capture line with its freeze, drain and overhead; a budget it fits recommends it', async () => {
    const r = await runCli(['estimate', '--source', src.url, '--probe-seconds', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ {2}trigger capture: catch-up [\d.]+s \+ finish [\d.]+s \+ verify [\d.]+s = [\d.]+s frozen\n/);
    expect(r.stdout).toMatch(/drains about [\d,]+ changes\/s/);
    expect(r.stdout).toMatch(/source overhead: about \d+ µs of source CPU per writing statement/);
    expect(r.stdout).not.toMatch(/path that remains/);

    // A budget below dump/restore's freeze but above the trigger path's: trigger capture is the answer.
    const j = parseJson(await runCli(['estimate', '--source', src.url, '--probe-seconds', '1', '--json']));
    const { dumpRestore, triggers } = j.strategy;
    if (triggers.freezeSeconds + 1 < dumpRestore.freezeSeconds) {
      const budget = `${Math.ceil(triggers.freezeSeconds + 0.5)}s`;
      const b = await runCli(['estimate', '--source', src.url, '--probe-seconds', '1', '--downtime-budget', budget]);
      expect(b.stdout).toMatch(/Use trigger capture/);
    }
  });

  it('a role that may not create triggers on a table is not offered the trigger path: the reason names the table', async () => {
    const reader = `${src.database}_reader`;
    const password = 'reader-pw';
    await src.admin(`CREATE ROLE ${reader} LOGIN NOREPLICATION PASSWORD '${password}'`);
    try {
      // It may create a schema and read everything, but owns nothing and holds no TRIGGER privilege.
      await src.admin(`GRANT CREATE ON DATABASE ${src.database} TO ${reader}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${reader}`);
      const url = src.url.replace(/^postgres:\/\/[^@]+@/, `postgres://${reader}:${password}@`);
      const j = parseJson(await runCli(['estimate', '--source', url, '--probe-seconds', '1', '--json']));
      expect(j.strategy.triggers.available).toBe(false);
      expect(j.strategy.triggers.reason).toMatch(/may not create triggers on public\.accounts, public\.events/);
      expect(j.strategy.recommendation).toBe('dump-restore');
      expect(j.strategy.verdict).toMatch(/may not create triggers on public\.accounts.*so dump\/restore is the path that remains/);
    } finally {
      await src.admin(`REVOKE ALL ON DATABASE ${src.database} FROM ${reader}; REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${reader}`);
      await src.admin(`DROP ROLE ${reader}`);
    }
  });
});
