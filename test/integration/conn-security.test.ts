// No password in clear, none on the command line unwarned, a root certificate for verify-*, channel binding over
// TLS: against a fake server that declines TLS and asks for the password in clear, and against the real servers.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { connect } from '../../src/db/connect.js';
import { runCli, type CliResult } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const LEAKED = 'Clear-Text-Pw-7731';

/** A server that answers SSLRequest with 'N' and asks every session for a cleartext (or MD5) password. */
async function fakeServer(auth: 'cleartext' | 'md5'): Promise<{ port: number; received: () => Buffer; passwordMessages: () => number; close: () => void }> {
  const chunks: Buffer[] = [];
  let passwordMessages = 0;
  const server: Server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    let started = false;
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 5) {
        if (!started) {
          if (buf.length < 8) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          const code = buf.readInt32BE(4);
          buf = buf.subarray(len);
          if (code === 80877103 || code === 80877104) {
            sock.write('N'); // SSLRequest / GSSENCRequest: declined
            continue;
          }
          started = true;
          const salt = randomBytes(4);
          sock.write(auth === 'cleartext' ? Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]) : Buffer.concat([Buffer.from([0x52, 0, 0, 0, 12, 0, 0, 0, 5]), salt]));
        } else {
          const len = buf.readInt32BE(1);
          if (buf.length < len + 1) return;
          if (buf[0] === 0x70) {
            passwordMessages++; // 'p': PasswordMessage — what must never come
            sock.destroy();
            return;
          }
          buf = buf.subarray(len + 1);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    received: () => Buffer.concat(chunks),
    passwordMessages: () => passwordMessages,
    close: () => server.close(),
  };
}

describe('a server that declines TLS and asks for the password in clear', () => {
  for (const auth of ['cleartext', 'md5'] as const) {
    it(`${auth}: pgshift never sends the password and says why (exit 3)`, async () => {
      const fake = await fakeServer(auth);
      try {
        const r = await runCli(['inventory', '--source', `postgres://app:${LEAKED}@127.0.0.1:${fake.port}/app`]);
        expect(r.code, r.stderr).toBe(3);
        expect(r.stderr).toMatch(/the server asked for a password in clear .*over an unencrypted connection; pgshift did not send it/);
        expect(r.stderr).toMatch(/next: .*sslmode=disable/);
        expect(fake.passwordMessages()).toBe(0);
        expect(fake.received().includes(LEAKED)).toBe(false);
        expect(r.stderr + r.stdout).not.toContain(LEAKED);
      } finally {
        fake.close();
      }
    });
  }

  it('the replication commands follow the same rule (replicate, both sides)', async () => {
    const fake = await fakeServer('cleartext');
    try {
      const url = `postgres://app:${LEAKED}@127.0.0.1:${fake.port}/app`;
      const r = await runCli(['replicate', '--source', url, '--target', url, '--until-caught-up']);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/asked for a password in clear/);
      expect(fake.passwordMessages()).toBe(0);
    } finally {
      fake.close();
    }
  });

  it('sslmode=disable written in the URL is the explicit opt-out: the password is sent (the fake server sees it)', async () => {
    const fake = await fakeServer('cleartext');
    try {
      const r = await runCli(['inventory', '--source', `postgres://app:${LEAKED}@127.0.0.1:${fake.port}/app?sslmode=disable`]);
      expect(r.code).toBe(3);
      expect(fake.passwordMessages()).toBe(1);
      expect(r.stderr + r.stdout).not.toContain(LEAKED);
    } finally {
      fake.close();
    }
  });

  it('sslmode=require: no startup message at all once TLS is declined', async () => {
    const fake = await fakeServer('cleartext');
    try {
      const r = await runCli(['inventory', '--source', `postgres://app:${LEAKED}@127.0.0.1:${fake.port}/app?sslmode=require`]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/does not support SSL|does not offer TLS/);
      expect(fake.received().length).toBe(8); // the SSLRequest only
    } finally {
      fake.close();
    }
  });
});

describe('TLS and passwords against the real servers', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let tgt2: TestDatabase;
  let home: string;
  const cluster = () => inject('clusters').pg15;
  beforeAll(async () => {
    [src, tgt, tgt2] = await Promise.all([
      createDatabase(cluster(), { label: 'connsec_src' }),
      createDatabase(cluster(), { label: 'connsec_tgt' }),
      createDatabase(cluster(), { label: 'connsec_tgt2' }),
    ]);
    await src.owner(`CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 500) g`);
    home = mkdtempSync(join(tmpdir(), 'pgshift-home-'));
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), tgt?.drop(), tgt2?.drop()]);
    if (home) rmSync(home, { recursive: true, force: true });
  });
  const noPassword = (db: TestDatabase, query = 'sslmode=require') =>
    `postgres://${encodeURIComponent(db.role)}@127.0.0.1:${db.cluster.port}/${db.database}?${query}`;
  const env = (extra: Record<string, string | undefined> = {}) => ({ HOME: home, PGPASSWORD: undefined, PGPASSFILE: undefined, ...extra });
  const freshHome = () => {
    rmSync(home, { recursive: true, force: true });
    mkdirSync(home);
  };

  it('verify-ca without sslrootcert and no ~/.postgresql/root.crt → exit 2 naming the remedy (no public CA bundle)', async () => {
    freshHome();
    const r = await runCli(['inventory', '--source', src.url.replace('sslmode=require', 'sslmode=verify-ca')], { env: env() });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/sslmode=verify-ca needs the root certificate/);
    expect(r.stderr).toMatch(/next: .*sslrootcert=/);
  });

  it('verify-ca with ~/.postgresql/root.crt (libpq default) copies, pg_dump/pg_restore included; compared independently', async () => {
    freshHome();
    mkdirSync(join(home, '.postgresql'));
    writeFileSync(join(home, '.postgresql', 'root.crt'), readFileSync(cluster().certFile));
    const verifyCa = (u: string) => u.replace('sslmode=require', 'sslmode=verify-ca');
    const r = await runCli(['copy', '--source', verifyCa(src.url), '--target', verifyCa(tgt.url)], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    await expectSameDatabase(src.adminUrl, tgt.adminUrl);
  });

  it('TLS connections use SCRAM channel binding (SCRAM-SHA-256-PLUS)', async () => {
    const proto = pg.Connection.prototype as unknown as { sendSASLInitialResponseMessage: (m: string, r: string) => void };
    const original = proto.sendSASLInitialResponseMessage;
    const mechanisms: string[] = [];
    proto.sendSASLInitialResponseMessage = function (this: unknown, mechanism: string, response: string) {
      mechanisms.push(mechanism);
      return original.call(this, mechanism, response);
    };
    try {
      const c = await connect(parseConnectionUrl(src.url, 'source'));
      const { rows } = await c.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      await c.end();
      expect(rows[0]!.ssl).toBe(true);
    } finally {
      proto.sendSASLInitialResponseMessage = original;
    }
    expect(mechanisms).toEqual(['SCRAM-SHA-256-PLUS']);
  });

  it('a URL without a password the server asks for → exit 3 "no password given", not a blamed port or pooler', async () => {
    freshHome();
    const r = await runCli(['inventory', '--source', noPassword(src)], { env: env() });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/no password given/);
    expect(r.stderr).not.toMatch(/accepted the connection and closed it/);
    expect(r.stderr).toMatch(/next: .*(pgpass|password file)/);
  });

  it('the password file (PGPASSFILE) is read without a DeprecationWarning, by the driver and by pg_dump alike', async () => {
    freshHome();
    const file = join(home, 'passfile');
    const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
    writeFileSync(
      file,
      `# pgshift test\n127.0.0.1:${cluster().port}:${src.database}:${src.role}:${esc(src.password)}\n*:*:${tgt2.database}:${tgt2.role}:${esc(tgt2.password)}\n`,
    );
    chmodSync(file, 0o600);
    const r = await runCli(['copy', '--source', noPassword(src), '--target', noPassword(tgt2)], { env: env({ PGPASSFILE: file }) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/DeprecationWarning|\(node:\d+\)/);
    expect(r.stderr).not.toMatch(/passwords? on the command line/);
    await expectSameDatabase(src.adminUrl, tgt2.adminUrl);
  });

  it('a password file others can read is ignored with a warning, as libpq does', async () => {
    freshHome();
    const file = join(home, '.pgpass');
    writeFileSync(file, `*:*:*:${src.role}:${src.password.replace(/:/g, '\\:')}\n`);
    chmodSync(file, 0o644);
    const r = await runCli(['inventory', '--source', noPassword(src)], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/password file .*\.pgpass has group or world access and is ignored/);
    expect(r.stderr).toMatch(/no password given/);
  });

  const cmdLine = (r: CliResult) => r.stderr.match(/passwords? on the command line/g)?.length ?? 0;

  it('a password in --source on the command line is warned about once; the same URL in PGSHIFT_SOURCE_URL is not', async () => {
    const r = await runCli(['inventory', '--source', src.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(cmdLine(r)).toBe(1);
    expect(r.stderr).toMatch(/PGSHIFT_SOURCE_URL/);
    expect(r.stderr).not.toContain(src.password);
    const both = await runCli(['inventory', '--source', src.url, '--target', tgt.url]);
    expect(cmdLine(both)).toBe(1);
    expect(both.stderr).toMatch(/--source and --target hold passwords on the command line/);
    const quiet = await runCli(['inventory'], { env: { PGSHIFT_SOURCE_URL: src.url } });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(cmdLine(quiet)).toBe(0);
  });
});

describe('--help teaches credentials off the command line', () => {
  it('names PGSHIFT_SOURCE_URL/PGSHIFT_TARGET_URL and the password file, with an example', async () => {
    const r = await runCli(['--help']);
    expect(r.stdout).toMatch(/export PGSHIFT_SOURCE_URL=/);
    expect(r.stdout).toMatch(/PGSHIFT_TARGET_URL/);
    expect(r.stdout).toMatch(/~\/\.pgpass.*chmod 0600/);
    expect(r.stdout).toMatch(/PGPASSFILE/);
    const copy = await runCli(['copy', '--help']);
    expect(copy.stdout).toMatch(/pgpass/);
  });
});
