import { describe, expect, it } from 'vitest';
import { redact, redactValue, registerSecret } from '../../src/redact.js';
import { classifyError, ExitCode } from '../../src/errors.js';

describe('redaction', () => {
  it('masks passwords in URLs and keyword strings', () => {
    expect(redact('connect postgres://alice:s3cret@h:5432/db failed')).toBe('connect postgres://alice:***@h:5432/db failed');
    expect(redact('postgresql://alice:s3cret@h/db?sslmode=require')).toBe('postgresql://alice:***@h/db?sslmode=require');
    expect(redact('host=h password=s3cret user=x')).toBe('host=h password=*** user=x');
    expect(redact('postgres://h/db?password=s3cret&sslmode=require')).toBe('postgres://h/db?password=***&sslmode=require');
  });
  it('masks registered secrets wherever they appear, plain or URL-encoded', () => {
    registerSecret('pw:with@chars');
    expect(redact('server said pw:with@chars')).toBe('server said ***');
    expect(redact(`echo ${encodeURIComponent('pw:with@chars')}`)).toBe('echo ***');
  });
  it('leaves the placeholders of hints alone', () => {
    for (const t of ['postgres://USER:PASSWORD@HOST:5432/DBNAME', 'postgres://user:password@host/db', 'postgres://USER:PASS@HOST/DB', 'password=PASSWORD']) {
      expect(redact(t)).toBe(t);
    }
    expect(redact('postgres://alice:PASSWORD1@h/db')).toBe('postgres://alice:***@h/db');
  });
  it('deep-redacts JSON values and password fields', () => {
    expect(redactValue({ url: 'postgres://a:b1234@h/d', nested: [{ password: 'x' }] })).toEqual({ url: 'postgres://a:***@h/d', nested: [{ password: '***' }] });
  });
});

describe('error classification by SQLSTATE and errno', () => {
  const code = (c: string) => classifyError(Object.assign(new Error('boom'), { code: c }), 'source x').exitCode;
  it('maps connection, auth and permission problems to 3', () => {
    for (const c of ['28P01', '28000', '3D000', '42501', '08006', 'ECONNREFUSED', 'ETIMEDOUT', 'DEPTH_ZERO_SELF_SIGNED_CERT'])
      expect(code(c)).toBe(ExitCode.connection);
  });
  it('names the side of a connection lost mid-run (terminated backend, reset socket) and maps it to 3', async () => {
    const { tagSide } = await import('../../src/errors.js');
    const e = classifyError(
      tagSide(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }), 'target'),
      'data: copying public.t',
      { hint: 'run with --resume' },
    );
    expect(e.exitCode).toBe(ExitCode.connection);
    expect(e.message).toMatch(/lost the connection to the target server \(57P01/);
    expect(e.hint).toMatch(/target server is up.*--resume/);
    const lost = classifyError(tagSide(new Error('Connection terminated unexpectedly'), 'source', true), 'data');
    expect(lost.message).toMatch(/lost the connection to the source server/);
    // A query that failed on a live connection is not a lost connection.
    expect(classifyError(tagSide(Object.assign(new Error('bad'), { code: '22P02' }), 'source'), 'x').exitCode).toBe(ExitCode.failure);
  });
  it('maps anything else to 4', () => {
    expect(code('22P02')).toBe(ExitCode.failure);
    expect(classifyError(new Error('x'), 'y').exitCode).toBe(ExitCode.failure);
  });
});
