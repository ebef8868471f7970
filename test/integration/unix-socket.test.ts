// A server reached through its Unix socket (postgres://USER:PW@/DB?host=/dir, or the directory percent-encoded as
// the host), as on a self-managed target where pgshift runs on the database host: copy (pg_dump through the relay
// included), verify and replicate work there, the password is answered (a socket never leaves the machine) and never
// printed, and the copy is equal by the independent comparison.
import { appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { startLocalCluster, type LocalCluster } from '../support/cluster.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, runSql, type TestDatabase } from '../support/fixtures.js';

describe('a server reached through its Unix socket', () => {
  let cluster: LocalCluster;
  let src: TestDatabase;
  let tgt: TestDatabase;
  let tgt2: TestDatabase;
  // Short: a socket path has a ~107-byte limit.
  const dir = join(tmpdir(), `pgs-sock-${process.pid}`);
  /** The owner's URL through the socket: `host=` form or the percent-encoded directory as the host. */
  const socketUrl = (db: TestDatabase, form: 'param' | 'encoded') => {
    const user = `${encodeURIComponent(db.role)}:${encodeURIComponent(db.password)}`;
    const socketDir = join(dir, 'data');
    return form === 'param'
      ? `postgres://${user}@/${db.database}?host=${encodeURIComponent(socketDir)}&port=${cluster.port}`
      : `postgres://${user}@${encodeURIComponent(socketDir)}:${cluster.port}/${db.database}`;
  };

  beforeAll(async () => {
    cluster = await startLocalCluster({ major: 15, dir });
    // The test cluster admits TCP only; a socket line with a password, as a hardened self-managed server has.
    appendFileSync(join(cluster.dataDir, 'pg_hba.conf'), 'local all all scram-sha-256\n');
    await runSql(cluster.adminUrl, 'SELECT pg_reload_conf()');
    [src, tgt, tgt2] = await Promise.all([
      createDatabase(cluster, { label: 'sock_src', replication: true }),
      createDatabase(inject('clusters').pg17, { label: 'sock_tgt' }),
      createDatabase(cluster, { label: 'sock_tgt2' }),
    ]);
    await src.owner(`CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text UNIQUE, balance numeric(12,2));
      INSERT INTO accounts (email, balance) SELECT 'u' || g || '@example.com', g * 1.25 FROM generate_series(1, 3000) g;
      CREATE TABLE events (account bigint REFERENCES accounts, at timestamptz DEFAULT now(), body jsonb);
      INSERT INTO events (account, body) SELECT 1 + g % 3000, jsonb_build_object('n', g) FROM generate_series(1, 5000) g;
      COMMENT ON TABLE accounts IS 'reached through a socket'`);
  }, 120_000);
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt2.url, '--force']).catch(() => undefined);
    await tgt?.drop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copy and verify with the source on a socket; the password is never printed', async () => {
    const r = await runCli(['copy', '--source', socketUrl(src, 'param'), '--target', tgt.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(src.password);
    expect(r.stdout + r.stderr).not.toContain(encodeURIComponent(src.password));
    await expectSameDatabase(src, tgt);
    const v = await runCli(['verify', '--source', socketUrl(src, 'encoded'), '--target', tgt.url, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(parseJson(v).ok).toBe(true);
  });

  it('replicate into a target on a socket, then changes streamed, ends equal', async () => {
    const target = socketUrl(tgt2, 'encoded');
    const first = await runCli(['replicate', '--source', src.url, '--target', target, '--until-caught-up', '--fix-replica-identity']);
    expect(first.code, first.stderr).toBe(0);
    await src.owner(`UPDATE accounts SET balance = balance + 1 WHERE id % 10 = 0; DELETE FROM events WHERE account > 2900`);
    const again = await runCli(['replicate', '--source', src.url, '--target', target, '--until-caught-up']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout + again.stderr).not.toContain(tgt2.password);
    await expectSameDatabase(src, tgt2, { ignore: (d) => d.object.includes('_pgshift') });
  });
});
