// Every input a user can get wrong ends with one clear line, the documented exit code, and no password.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../support/cluster.js';
import { parseJson, runCli, type CliResult } from '../support/cli.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SECRET = 'Sup3r-Secret-Pw';

function expectClean(r: CliResult, ...secrets: string[]) {
  for (const s of [SECRET, ...secrets]) {
    expect(r.stdout + r.stderr).not.toContain(s);
    expect(r.stdout + r.stderr).not.toContain(encodeURIComponent(s));
  }
  expect(r.stderr).toMatch(/^pgshift: error: .+\n {2}next: .+/m);
  expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace without --log-level debug
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

  it('sslmode=verify-full against a self-signed server → exit 3 with the remedy', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ query: 'sslmode=verify-full' })]);
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

  it('sslmode=disable against a TLS-only server → exit 3', async () => {
    const r = await runCli(['inventory', '--source', urlWith({ query: 'sslmode=disable' })]);
    expect(r.code).toBe(3);
    expectClean(r, src.password);
  });

  it('--log-level debug adds a stack trace but still no password', async () => {
    const r = await runCli(['inventory', '--log-level', 'debug', '--source', urlWith({ password: SECRET })]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain(SECRET);
  });
});
