import { describe, expect, it } from 'vitest';
import { connectionIdentity, parseConnectionUrl, parseSize, requireUrl, sameEndpoint } from '../../src/config.js';
import { tlsOptions, withTlsFallback } from '../../src/db/connect.js';
import { UsageError } from '../../src/errors.js';
import { compileFilter } from '../../src/catalog/filter.js';

describe('connection URLs', () => {
  it('parses a Heroku DATABASE_URL', () => {
    const spec = parseConnectionUrl('postgres://u1abc:p%40ss%2Fword@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d9xyz', 'source');
    expect(spec).toMatchObject({
      host: 'ec2-1-2-3-4.compute-1.amazonaws.com',
      port: 5432,
      user: 'u1abc',
      password: 'p@ss/word',
      database: 'd9xyz',
      sslmode: 'require',
      sslmodeGiven: false,
    });
    expect(spec.display).toBe('postgres://u1abc:***@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d9xyz');
  });

  it('defaults to sslmode=require off loopback and prefer on loopback; a written sslmode wins', () => {
    const mode = (url: string) => parseConnectionUrl(url, 'source').sslmode;
    expect(mode('postgres://u:p@db.example.com/d')).toBe('require');
    expect(mode('postgres://u:p@10.0.0.5/d')).toBe('require');
    for (const local of ['localhost', 'LOCALHOST.', '127.0.0.1', '127.1.2.3', '[::1]']) expect(mode(`postgres://u:p@${local}/d`)).toBe('prefer');
    expect(mode('postgres://u:p@db.example.com/d?sslmode=disable')).toBe('disable');
    expect(mode('postgres://u:p@db.example.com/d?sslmode=prefer')).toBe('prefer');
    expect(parseConnectionUrl('postgres://u:p@db.example.com/d?sslmode=prefer', 'source').sslmodeGiven).toBe(true);
  });

  it('reads sslmode, sslrootcert and connect_timeout', () => {
    const spec = parseConnectionUrl('postgresql://a:b@h/db?sslmode=verify-full&sslrootcert=/tmp/ca.pem&connect_timeout=3', 'target');
    expect(spec).toMatchObject({ sslmode: 'verify-full', sslrootcert: '/tmp/ca.pem', connectTimeout: 3, port: 5432 });
  });

  it.each([
    ['not a url at all', /not a URL/],
    ['mysql://u:secretpw@h/db', /scheme must be postgres/],
    ['postgres://u:secretpw@h:99999/db', /malformed|port/],
    ['postgres://u:secretpw@h/', /no database/],
    ['postgres://u:secretpw@h/db?sslmode=sometimes', /sslmode must be one of/],
    ['postgres://u:secretpw@h/db?frobnicate=1', /unsupported parameter frobnicate/],
    ['postgres://u:secretpw@h/db?host=relative/dir', /host= must be the absolute path of a Unix-socket directory/],
    ['postgres://u:secretpw@h/db?port=0', /port 0 out of range/],
  ])('rejects %s with a usage error that hides the password', (url, why) => {
    let err: unknown;
    try {
      parseConnectionUrl(url, 'source');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).not.toContain('secretpw');
  });

  it('reads a Unix-socket directory as libpq does: host= (with or without a host before it) or a percent-encoded host', () => {
    const forms = [
      'postgres://app:p%40ss@/shop?host=/run/postgresql&port=5433',
      'postgresql://app:p%40ss@localhost/shop?host=%2Frun%2Fpostgresql&port=5433',
      'postgres://app:p%40ss@%2Frun%2Fpostgresql:5433/shop',
    ];
    for (const url of forms) {
      const spec = parseConnectionUrl(url, 'target');
      expect(spec).toMatchObject({ host: '/run/postgresql', port: 5433, database: 'shop', user: 'app', password: 'p@ss' });
      // No TLS on a socket (libpq ignores sslmode there); the password never leaves the machine.
      expect(spec.sslmode).toBe('disable');
      expect(spec.display).not.toContain('p@ss');
      // The display URL parses back to the same socket (it is printed in commands to run again).
      expect(parseConnectionUrl(spec.display, 'target')).toMatchObject({ host: '/run/postgresql', port: 5433, database: 'shop' });
    }
    expect(parseConnectionUrl('postgres:///shop?host=/tmp', 'source')).toMatchObject({ host: '/tmp', port: 5432, database: 'shop' });
    expect(parseConnectionUrl('postgres://u@/shop?host=/tmp&sslmode=require', 'source').sslmode).toBe('disable');
  });

  it('falls back to the environment', () => {
    expect(requireUrl('source', undefined, { PGSHIFT_SOURCE_URL: 'postgres://x@h/db' }).database).toBe('db');
    expect(() => requireUrl('target', undefined, {})).toThrow(/no target database given/);
  });
});

describe('URL mistakes get the message that fixes them', () => {
  const message = (url: string) => {
    try {
      parseConnectionUrl(url, 'source');
    } catch (e) {
      return `${(e as UsageError).message}\n${(e as UsageError).hint}`;
    }
    return 'parsed';
  };
  it.each(['p#ss', 'p/ss', 'p?ss', '12#ss', '1/ss', 'pa%ss'])('a password %s written unencoded → percent-encode it', (pw) => {
    const m = message(`postgres://u:${pw}word@h:5432/db`);
    expect(m).toMatch(/percent-encode the password/);
    expect(m).not.toContain(`${pw}word`);
  });
  it('an @ in the password is read as libpq does (the last @ ends the user info)', () => {
    expect(parseConnectionUrl('postgres://u:p@ss@h:5432/db', 'source')).toMatchObject({ user: 'u', password: 'p@ss', host: 'h' });
  });
  it.each(['99999', '0', '65536'])('port %s → out of range, with the range', (port) => {
    expect(message(`postgres://u:pw@h:${port}/db`)).toMatch(new RegExp(`port ${port} out of range \\(valid ports are 1–65535\\)`));
  });
  it('a sslrootcert path with an @ is not taken for a password problem', () => {
    expect(parseConnectionUrl('postgres://u:pw@h/db?sslmode=verify-ca&sslrootcert=/etc/a@b.pem', 'source').sslrootcert).toBe('/etc/a@b.pem');
  });
});

describe('connection identity (what --resume compares)', () => {
  const noDns = async () => [] as string[];
  it('ignores spelling: scheme, host case, default port, loopback aliases, password, parameters', async () => {
    const a = parseConnectionUrl('postgres://app:one@localhost/shop', 'source');
    for (const b of ['postgresql://app:two@127.0.0.1:5432/shop?sslmode=require', 'postgres://app@LOCALHOST./shop', 'postgres://app:x@[::1]:5432/shop']) {
      expect(connectionIdentity(parseConnectionUrl(b, 'source'))).toEqual(connectionIdentity(a));
      expect(await sameEndpoint(a, parseConnectionUrl(b, 'source'), noDns)).toBe(true);
    }
  });
  it('accepts a stored display URL (password masked)', async () => {
    const a = parseConnectionUrl('postgres://app:secret@db.example.com:5433/shop', 'source');
    expect(await sameEndpoint(a.display, a, noDns)).toBe(true);
  });
  it('tells different port, database, user or host apart', async () => {
    const a = parseConnectionUrl('postgres://app:pw@db.example.com/shop', 'source');
    for (const b of [
      'postgres://app:pw@db.example.com:5433/shop',
      'postgres://app:pw@db.example.com/shop2',
      'postgres://other:pw@db.example.com/shop',
      'postgres://app:pw@db2.example.com/shop',
    ]) {
      expect(await sameEndpoint(a, b, noDns)).toBe(false);
    }
  });
  it('a name and the address it resolves to are one host', async () => {
    const dns = async (h: string) => (h === 'db.example.com' ? ['10.0.0.7'] : h === 'alias.example.com' ? ['10.0.0.7', '10.0.0.8'] : []);
    expect(await sameEndpoint('postgres://app@db.example.com/shop', 'postgresql://app@10.0.0.7/shop', dns)).toBe(true);
    expect(await sameEndpoint('postgres://app@db.example.com/shop', 'postgres://app@alias.example.com/shop', dns)).toBe(true);
    expect(await sameEndpoint('postgres://app@db.example.com/shop', 'postgres://app@10.0.0.9/shop', dns)).toBe(false);
  });
});

describe('sslmode → TLS options (libpq semantics)', () => {
  const tls = (q: string) => tlsOptions(parseConnectionUrl(`postgres://u:p@db.example.com/d?${q}`, 'source'));
  it('disable is plaintext', () => expect(tls('sslmode=disable')).toBe(false));
  it('prefer and require encrypt without verifying (Heroku self-signed)', () => {
    expect(tls('sslmode=prefer')).toMatchObject({ rejectUnauthorized: false });
    expect(tls('sslmode=require')).toMatchObject({ rejectUnauthorized: false });
  });
  it('verify-full verifies chain and host name', () => {
    const o = tls('sslmode=verify-full&sslrootcert=system');
    expect(o).toMatchObject({ rejectUnauthorized: true, servername: 'db.example.com' });
    expect(o && o.checkServerIdentity).toBeUndefined();
  });
  it('verify-ca verifies the chain but not the host name', () => {
    const o = tls('sslmode=verify-ca&sslrootcert=system');
    expect(o).toMatchObject({ rejectUnauthorized: true });
    expect(o && o.checkServerIdentity?.('other.host', {} as never)).toBeUndefined();
  });
  it('verify-ca/verify-full without a root certificate fail as in libpq (no silent public CA bundle)', () => {
    const home = process.env.HOME;
    process.env.HOME = '/nonexistent-home-for-pgshift-test';
    try {
      for (const m of ['verify-ca', 'verify-full']) expect(() => tls(`sslmode=${m}`)).toThrow(/needs the root certificate/);
    } finally {
      process.env.HOME = home;
    }
  });
  it('an unreadable sslrootcert is a usage error', () => {
    expect(() => tls('sslmode=verify-full&sslrootcert=/nonexistent/ca.pem')).toThrow(UsageError);
  });
});

describe('sizes and filters', () => {
  it('parses sizes', () => {
    expect(parseSize('--split-larger-than', '512MB', 0)).toBe(512 * 1024 ** 2);
    expect(parseSize('x', '2g', 0)).toBe(2 * 1024 ** 3);
    expect(parseSize('x', '1000', 0)).toBe(1000);
    expect(() => parseSize('x', 'lots', 0)).toThrow(UsageError);
  });
  it('matches include/exclude patterns', () => {
    const keep = compileFilter({ include: ['public.order*', 'users'], exclude: ['*_old'] });
    expect(keep('public', 'orders')).toBe(true);
    expect(keep('sales', 'users')).toBe(true);
    expect(keep('public', 'orders_old')).toBe(false);
    expect(keep('public', 'products')).toBe(false);
  });
});

describe('TLS fallback for every connection (replication connections too)', () => {
  it('sslmode=prefer retries without TLS when the server offers none; require does not', async () => {
    const tries: unknown[] = [];
    const open = async (ssl: unknown) => {
      tries.push(ssl);
      if (ssl !== false) throw new Error('The server does not support SSL connections');
      return 'plain';
    };
    expect(await withTlsFallback(parseConnectionUrl('postgres://u@localhost/db', 'source'), open)).toBe('plain');
    expect(tries.length).toBe(2);
    tries.length = 0;
    await expect(withTlsFallback(parseConnectionUrl('postgres://u@h/db?sslmode=require', 'source'), open)).rejects.toThrow(/does not support SSL/);
    expect(tries.length).toBe(1);
    tries.length = 0;
    // A remote host without sslmode in the URL is require now: no plaintext retry.
    await expect(withTlsFallback(parseConnectionUrl('postgres://u@db.example.com/db', 'source'), open)).rejects.toThrow(/does not support SSL/);
    expect(tries.length).toBe(1);
  });
});
