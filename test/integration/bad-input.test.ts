// Every input a user can get wrong ends with one clear line, the documented exit code, and no password.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../support/cluster.js';
import { parseJson, runCli, type CliResult } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { startProxy } from '../support/tcp-proxy.js';

const SECRET = 'Sup3r-Secret-Pw';

function expectClean(r: CliResult, ...secrets: string[]) {
  for (const s of [SECRET, ...secrets]) {
    expect(r.stdout + r.stderr).not.toContain(s);
    expect(r.stdout + r.stderr).not.toContain(encodeURIComponent(s));
  }
  expect(r.stderr).toMatch(/^pgshift: error: .+\n {2}next: .+/m);
  expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace without --log-level debug
  expect(r.stderr).not.toMatch(/DeprecationWarning|\(node:\d+\)/); // Node's own warnings are not for users
}

describe('bad input', () => {
  let src: TestDatabase;
  let silent: Server;
  let silentPort: number;
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'badin' });
    // A port that accepts TCP and never answers: connect must time out, not hang.
    silent = createServer(() => undefined);
    silentPort = await freePort();
    await new Promise<void>((r) => silent.listen(silentPort, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    silent?.close();
    await src?.drop();
  });
  const cluster = () => inject('clusters').pg15;
  const urlWith = (o: { user?: string; password?: string; port?: number; db?: string; query?: string }) =>
    `postgres://${encodeURIComponent(o.user ?? src.role)}:${encodeURIComponent(o.password ?? src.password)}@127.0.0.1:${o.port ?? cluster().port}/${o.db ?? src.database}?${o.query ?? 'sslmode=require'}`;

  it('malformed URL → exit 2', async () => {
    const r = await runCli(['inventory', '--source', `postgres://bob:${SECRET}@host:notaport/db`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--source: malformed connection URL/);
    expectClean(r);
  });

  it('unknown sslmode → exit 2', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ query: 'sslmode=always' })]);
    expect(r.code).toBe(2);
    expectClean(r, src.password);
  });

  it('missing --source → exit 2 naming the flag and the env var', async () => {
    const r = await runCli(['inventory']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PGSHIFT_SOURCE_URL/);
  });

  it('unknown option → exit 2', async () => {
    const r = await runCli(['inventory', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--frobnicate'/);
  });

  it('wrong password → exit 3, authentication named, password hidden', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ password: SECRET }), '--json']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/authentication failed/);
    expect(parseJson(r)).toMatchObject({ ok: false, error: { exitCode: 3 } });
    expectClean(r, src.password);
  });

  it('closed port → exit 3 at once', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ port: await freePort(), password: SECRET })]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach the server/);
    expect(r.ms).toBeLessThan(10_000);
    expectClean(r);
  });

  it('port that never answers → exit 3 within 10 s (default connect timeout)', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ port: silentPort, password: SECRET })]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no answer within \d+s/);
    expect(r.ms).toBeLessThan(10_000);
    expectClean(r);
  });

  it('missing database → exit 3', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ db: 'no_such_db' })]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/database does not exist/);
    expectClean(r, src.password);
  });

  it('sslmode=verify-full without a root certificate → exit 2 with the remedy (as libpq; no public CA bundle)', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ query: 'sslmode=verify-full' })], { env: { HOME: '/nonexistent-pgshift-home' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs the root certificate/);
    expect(r.stderr).toMatch(/sslrootcert|sslmode=require/);
    expectClean(r, src.password);
  });

  it('sslmode=verify-full with sslrootcert=system against a self-signed server → exit 3 with the remedy', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ query: 'sslmode=verify-full&sslrootcert=system' })]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/TLS certificate check failed/);
    expect(r.stderr).toMatch(/sslrootcert|sslmode=require/);
    expectClean(r, src.password);
  });

  it('verify-full with the CA given but a host name the certificate does not name → exit 3', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ query: `sslmode=verify-full&sslrootcert=${cluster().certFile}` })]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/TLS certificate check failed/);
    expectClean(r, src.password);
  });

  it('verify-ca with the right CA connects (chain checked, host name not)', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ query: `sslmode=verify-ca&sslrootcert=${cluster().certFile}` }), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r).source.major).toBe(15);
  });

  it('sslmode=disable against a TLS-only server → exit 3: the server requires TLS, use sslmode=require', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ query: 'sslmode=disable' })]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/requires TLS/);
    expect(r.stderr).toMatch(/next: .*sslmode=require/);
    expect(r.stderr).not.toMatch(/user name and password/);
    expectClean(r, src.password);
  });

  for (const ch of ['#', '/', '?']) {
    it(`a password with an unencoded ${ch} → exit 2: percent-encode it`, async () => {
      const pw = `ab${ch}Sup3r-Secret-Pw`;
      const r = await runCli(['inventory', '--source', `postgres://bob:${pw}@127.0.0.1:${cluster().port}/db`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/next: percent-encode the password .*%23.*%2F/);
      expectClean(r, pw);
    });
  }

  it('a password with an unencoded @ still parses (the last @ ends it): it reaches the server', async () => {
    const r = await runCli([
      'inventory',
      '--source',
      `postgres://${encodeURIComponent(src.role)}:ab@${SECRET}@127.0.0.1:${cluster().port}/${src.database}?sslmode=require`,
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/authentication failed/);
    expectClean(r);
  });

  it('port 99999 → exit 2: port out of range with the valid range', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ port: 99999 })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/port 99999 out of range \(valid ports are 1–65535\)/);
    expectClean(r, src.password);
  });

  it('hints keep their placeholders: postgres://USER:PASSWORD@HOST, never USER:***@HOST', async () => {
    const r = await runCli(['inventory', '--source', 'postgres://']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/next: expected postgres:\/\/USER:PASSWORD@HOST:5432\/DBNAME/);
    expect(r.stderr).not.toMatch(/\*\*\*/);
  });

  // Closing at once is seen as a clean close or as ECONNRESET, depending on timing: both variants, forced.
  it.each([
    ['closes', (s: Socket) => s.destroy()],
    ['resets', (s: Socket) => s.once('data', () => s.resetAndDestroy())],
  ])('a listener that accepts and %s → exit 3 naming the side, with TLS, port and pooler advice', async (_how, hangUp) => {
    const closer = createServer(hangUp);
    const port = await freePort();
    await new Promise<void>((r) => closer.listen(port, '127.0.0.1', () => r()));
    try {
      const r = await runCli(['copy', '--source', src.url, '--target', `postgres://app:${SECRET}@127.0.0.1:${port}/app?sslmode=require`]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(
        /error: target postgres:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/app: the server at 127\.0\.0\.1:\d+ accepted the connection and closed it/,
      );
      expect(r.stderr).toMatch(/next: .*PostgreSQL port.*sslmode.*session mode/);
      expectClean(r, src.password);
    } finally {
      closer.close();
    }
  });

  it('--split-larger-than below 1MB → exit 2 naming the minimum, nothing planned', async () => {
    for (const size of ['64kB', '1000']) {
      const r = await runCli(['copy', '--source', urlWith({}), '--target', urlWith({ db: 'never_used' }), '--split-larger-than', size]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--split-larger-than .*minimum of 1MB/);
      expectClean(r, src.password);
    }
  });

  it('--log-level debug adds a stack trace but still no password', async () => {
    const r = await runCli(['inventory', '--log-level', 'debug', '--source', urlWith({ password: SECRET })]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain(SECRET);
  });
});

describe('failures in the middle of a run: the side named, nothing but our own message', () => {
  let src: TestDatabase;
  const targets: TestDatabase[] = [];
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'lost_src' });
    // ~12 MB of rows: the data phase outlasts any setup traffic through the proxy.
    await src.owner(`CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 80000) g`);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), ...targets.map((t) => t.drop())]);
  });
  const target = async (label: string) => {
    const t = await createDatabase(inject('clusters').pg17, { label });
    targets.push(t);
    return t;
  };

  it('the source connection cut mid-COPY → exit 3, "lost the connection to the source server", --resume finishes', async () => {
    const tgt = await target('lost_src_tgt');
    const proxy = await startProxy(src.cluster.host, src.cluster.port);
    try {
      proxy.dropAfter(2 * 1024 * 1024); // only a COPY stream carries this much from the server
      const viaProxy = src.url.replace(`:${src.cluster.port}/`, `:${proxy.port}/`);
      const r = await runCli(['copy', '--source', viaProxy, '--target', tgt.url, '--jobs', '1']);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/data: copying public\.big.*lost the connection to the source server/);
      expect(r.stderr).toMatch(/next: make sure the source server is up.*--resume/);
      expectClean(r, src.password, tgt.password);
      proxy.dropAfter(undefined);
      const resumed = await runCli(['copy', '--source', viaProxy, '--target', tgt.url, '--resume']);
      expect(resumed.code, resumed.stderr).toBe(0);
      await expectSameDatabase(src, tgt);
    } finally {
      await proxy.close();
    }
  });

  it('the target session ended mid-COPY → exit 3, "lost the connection to the target server"', async () => {
    const tgt = await target('lost_tgt');
    expect((await runCli(['copy', '--source', src.url, '--target', tgt.url, '--schema-only'])).code).toBe(0);
    // The table owner may end its own session: the first row checked on the target kills the loading backend.
    await tgt.owner(`
      CREATE FUNCTION end_my_session() RETURNS boolean LANGUAGE sql AS 'SELECT pg_terminate_backend(pg_backend_pid())';
      ALTER TABLE big ADD CONSTRAINT kill_loader CHECK (end_my_session())`);
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--data-only']);
    expect(r.code, r.stderr).toBe(3);
    // The server's 57P01 or, when the relay is writing at that moment, the reset socket: either way, the target.
    expect(r.stderr).toMatch(/data: copying public\.big.*lost the connection to the target server \((57P01|ECONNRESET|EPIPE)/);
    expectClean(r, src.password, tgt.password);
  });

  // Last in this block: the unreadable table would stop the copies above in preflight.
  it('verify stopped by a permission error while other checksums run prints no Node DeprecationWarning', async () => {
    const tgt = await target('lost_verify');
    await tgt.owner(`CREATE TABLE big (id int PRIMARY KEY, v text); CREATE TABLE secret (id int PRIMARY KEY)`);
    await src.admin(`CREATE TABLE secret (id int PRIMARY KEY); REVOKE ALL ON secret FROM PUBLIC`);
    // One connection per side and small chunks: the failure lands while the other side is still hashing.
    for (const jobs of ['1', '2']) {
      const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--jobs', jobs, '--chunk-size', '1MB']);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/source public\.secret: checksums: permission denied/);
      expectClean(r, src.password, tgt.password);
    }
  });
});
