import { describe, expect, it } from 'vitest';
import { redact, redactValue, registerSecret } from '../../src/redact.js';
import { classifyError, ExitCode } from '../../src/errors.js';

describe('redaction', () => {
  it('masks passwords in URLs and keyword strings', () => {
    expect(redact('connect postgres://alice:s3cret@h:5432/db failed')).toBe('connect postgres://alice:***@h:5432/db failed');
    expect(redact('postgresql://alice:s3cret@h/db?sslmode=require')).toBe('postgresql://alice:***@h/db?sslmode=require');
    expect(redact("host=h password=s3cret user=x")).toBe('host=h password=*** user=x');
    expect(redact('postgres://h/db?password=s3cret&sslmode=require')).toBe('postgres://h/db?password=***&sslmode=require');
  });
  it('masks registered secrets wherever they appear, plain or URL-encoded', () => {
    registerSecret('pw:with@chars');
    expect(redact('server said pw:with@chars')).toBe('server said ***');
    expect(redact(`echo ${encodeURIComponent('pw:with@chars')}`)).toBe('echo ***');
  });
  it('deep-redacts JSON values and password fields', () => {
    expect(redactValue({ url: 'postgres://a:b1234@h/d', nested: [{ password: 'x' }] })).toEqual({ url: 'postgres://a:***@h/d', nested: [{ password: '***' }] });
  });
});

describe('error classification by SQLSTATE and errno', () => {
  const code = (c: string) => classifyError(Object.assign(new Error('boom'), { code: c }), 'source x').exitCode;
  it('maps connection, auth and permission problems to 3', () => {
    for (const c of ['28P01', '28000', '3D000', '42501', '08006', 'ECONNREFUSED', 'ETIMEDOUT', 'DEPTH_ZERO_SELF_SIGNED_CERT']) expect(code(c)).toBe(ExitCode.connection);
  });
  it('maps anything else to 4', () => {
    expect(code('22P02')).toBe(ExitCode.failure);
    expect(classifyError(new Error('x'), 'y').exitCode).toBe(ExitCode.failure);
  });
});
