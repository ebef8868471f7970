import { describe, expect, it } from 'vitest';
import { parseConnectionUrl, parseSize, requireUrl } from '../../src/config.js';
import { tlsOptions } from '../../src/db/connect.js';
import { UsageError } from '../../src/errors.js';
import { compileFilter } from '../../src/catalog/filter.js';

describe('connection URLs', () => {
  it('parses a Heroku DATABASE_URL', () => {
    const spec = parseConnectionUrl('postgres://u1abc:p%40ss%2Fword@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d9xyz', 'source');
    expect(spec).toMatchObject({ host: 'ec2-1-2-3-4.compute-1.amazonaws.com', port: 5432, user: 'u1abc', password: 'p@ss/word', database: 'd9xyz', sslmode: 'prefer' });
    expect(spec.display).toBe('postgres://u1abc:***@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d9xyz');
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

  it('falls back to the environment', () => {
    expect(requireUrl('source', undefined, { PGSHIFT_SOURCE_URL: 'postgres://x@h/db' }).database).toBe('db');
    expect(() => requireUrl('target', undefined, {})).toThrow(/no target database given/);
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
    const o = tls('sslmode=verify-full');
    expect(o).toMatchObject({ rejectUnauthorized: true, servername: 'db.example.com' });
    expect(o && o.checkServerIdentity).toBeUndefined();
  });
  it('verify-ca verifies the chain but not the host name', () => {
    const o = tls('sslmode=verify-ca');
    expect(o).toMatchObject({ rejectUnauthorized: true });
    expect(o && o.checkServerIdentity?.('other.host', {} as never)).toBeUndefined();
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
