// pgshift copy over plaintext connections, where the source side of each COPY reads into reused buffers
// (src/db/read-buffers.ts; the TLS URLs of the other copy tests never take that path). A buffer reused while the
// target socket still holds bytes from it would corrupt the stream, so the target is made to stall now and then
// (a CHECK that sleeps every STALL_EVERY rows) and the relay must queue, pause and resume many times. Also: the
// source backend killed mid-COPY, then --resume. Judged by the independent comparison (test/support/compare.ts).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase, sumRows, tableRowCounts } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { sleep, spawnCli } from '../support/spawn.js';

const STALL_EVERY = 25_000;

// Text (md5 runs, so a shifted or overwritten byte changes a fingerprint), TOASTed bytea, and a table without a
// key (page-range chunks). The CHECK runs on the target's COPY too: that is what stalls it.
const SEED_SQL = `
  CREATE FUNCTION stall(i bigint) RETURNS boolean LANGUAGE sql AS
    $$ SELECT CASE WHEN i % ${STALL_EVERY} = 0 THEN pg_sleep(0.06) IS NOT NULL OR true ELSE true END $$;
  CREATE TABLE rows_text (id bigint PRIMARY KEY CHECK (stall(id)), n int, body text);
  INSERT INTO rows_text SELECT g, g % 1000, repeat(md5(g::text), 1 + g % 4) FROM generate_series(1, 250000) g;
  CREATE TABLE rows_bytes (id int PRIMARY KEY, blob bytea);
  INSERT INTO rows_bytes SELECT g, decode(repeat(md5(g::text) || md5((g * 3)::text), 40 + g % 60), 'hex') FROM generate_series(1, 3000) g;
  CREATE TABLE rows_nokey (at timestamptz, s text);
  INSERT INTO rows_nokey SELECT timestamptz '2024-01-01' + g * interval '1 minute', md5(g::text) FROM generate_series(1, 120000) g;
  ANALYZE;
`;

/** The superuser's plaintext URL (the test clusters let only the superuser in without TLS). */
const plain = (db: TestDatabase) => db.adminUrl;

describe('pgshift copy over plaintext (pooled source reads)', () => {
  let src: TestDatabase;
  const targets: TestDatabase[] = [];
  let sourceRows: number;

  beforeAll(async () => {
    const { pg15 } = inject('clusters');
    src = await createDatabase(pg15, { label: 'plain_src' });
    expect(plain(src)).toContain('sslmode=disable');
    await src.admin(SEED_SQL);
    sourceRows = sumRows(await tableRowCounts(src));
    expect(sourceRows).toBe(373_000);
  });
  afterAll(async () => Promise.all([src?.drop(), ...targets.map((t) => t.drop())]));

  async function target(label: string): Promise<TestDatabase> {
    const t = await createDatabase(inject('clusters').pg17, { label });
    targets.push(t);
    return t;
  }

  it('copies byte for byte while the target keeps stalling (queued writes, pauses, resumes)', async () => {
    const tgt = await target('plain_tgt');
    const r = await runCli(['copy', '--source', plain(src), '--target', plain(tgt), '--jobs', '2', '--split-larger-than', '4MB', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = parseJson(r);
    expect(summary.rows).toBe(sourceRows);
    expect(summary.chunks).toBeGreaterThan(3);
    await expectSameDatabase(plain(src), plain(tgt));
  });

  it('source backend killed mid-COPY: the run fails naming the table, --resume finishes, nothing twice or missing', async () => {
    const tgt = await target('plain_kill');
    const run = spawnCli(['copy', '--source', plain(src), '--target', plain(tgt), '--jobs', '2', '--split-larger-than', '4MB']);
    let killed = 0;
    const deadline = Date.now() + 60_000;
    while (killed === 0 && Date.now() < deadline) {
      const { rows } = await src.admin(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~* '^copy .* to stdout' AND state = 'active'`,
      );
      killed = rows[0].n;
      if (killed === 0) await sleep(10);
    }
    expect(killed, 'no source COPY was seen running').toBeGreaterThan(0);
    const first = await run.exit;
    expect(first.code, run.output()).not.toBe(0);
    expect(run.output()).toMatch(/data: copying public\.rows_/);
    const again = await runCli(['copy', '--source', plain(src), '--target', plain(tgt), '--jobs', '2', '--split-larger-than', '4MB', '--resume', '--json']);
    expect(again.code, again.stderr).toBe(0);
    await expectSameDatabase(plain(src), plain(tgt));
  });
});
