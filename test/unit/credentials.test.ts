import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { libpqTlsEnv, passwordFromFile, resolvePassword } from '../../src/db/credentials.js';
import { terminalSafe } from '../../src/terminal.js';

describe('password file (libpq format)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-pgpass-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (text: string, mode = 0o600) => {
    const f = join(dir, `f${Math.random()}`);
    writeFileSync(f, text);
    chmodSync(f, mode);
    return { PGPASSFILE: f } as NodeJS.ProcessEnv;
  };
  const spec = { host: 'db.example.com', port: 5432, database: 'app', user: 'alice' };

  it('first matching line wins; * matches anything; comments and short lines are skipped', () => {
    const env = file('# comment\nbroken:line\nother.host:5432:app:alice:no\n*:5432:app:alice:yes\n*:*:*:*:late\n');
    expect(passwordFromFile(spec, env)).toBe('yes');
    expect(passwordFromFile({ ...spec, user: 'bob' }, env)).toBe('late');
  });
  it('backslash escapes : and \\ in every field; the password keeps further colons', () => {
    const env = file('db.example.com:5432:app:alice:p\\:w\\\\d:tail\n');
    expect(passwordFromFile(spec, env)).toBe('p:w\\d:tail');
  });
  it('a file group or others can read is ignored, as libpq does', () => {
    expect(passwordFromFile(spec, file('*:*:*:*:pw\n', 0o644))).toBeUndefined();
  });
  it('the URL password comes first, then PGPASSWORD, then the file', () => {
    const env = { ...file('*:*:*:*:fromfile\n'), PGPASSWORD: '' };
    const withPw = parseConnectionUrl('postgres://alice:fromurl@db.example.com/app', 'source');
    const without = parseConnectionUrl('postgres://alice@db.example.com/app', 'source');
    expect(resolvePassword(withPw, env)).toBe('fromurl');
    expect(resolvePassword(without, { ...env, PGPASSWORD: 'fromenv' })).toBe('fromenv');
    expect(resolvePassword(without, env)).toBe('fromfile');
  });
});

describe('libpq environment for pg_dump/pg_restore', () => {
  it('carries sslmode and the root certificate; prefer never sends a password in clear (libpq >= 16)', () => {
    expect(libpqTlsEnv(parseConnectionUrl('postgres://u@db.example.com/d', 'source'))).toMatchObject({ PGSSLMODE: 'require' });
    expect(libpqTlsEnv(parseConnectionUrl('postgres://u@localhost/d', 'source'))).toMatchObject({ PGSSLMODE: 'prefer', PGREQUIREAUTH: '!password,!md5' });
    expect(libpqTlsEnv(parseConnectionUrl('postgres://u@h/d?sslmode=verify-full&sslrootcert=/ca.pem', 'source'))).toMatchObject({
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: '/ca.pem',
    });
    expect(libpqTlsEnv(parseConnectionUrl('postgres://u@h/d?sslmode=disable', 'source'))).toEqual({ PGSSLMODE: 'disable' });
  });
});

describe('terminal output', () => {
  it('escapes control characters but keeps newlines and tabs', () => {
    expect(terminalSafe('a\x1b]0;title\x07b')).toBe('a\\x1b]0;title\\x07b');
    expect(terminalSafe('line1\n\tline2\r')).toBe('line1\n\tline2\\x0d');
    expect(terminalSafe('x\u009b2Jy\u202ez')).toBe('x\\x9b2Jy\\u202ez');
    expect(terminalSafe('plain é ü 日本')).toBe('plain é ü 日本');
  });
});
