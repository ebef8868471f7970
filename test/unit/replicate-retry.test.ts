// THE retry rule of replication (src/replicate/retry.ts), for both change sources: by SQLSTATE, errno and connection
// state, never by message; never what the user must fix.
import { describe, expect, it } from 'vitest';
import { ConnectionError, PgshiftError, StoppedError, tagSide } from '../../src/errors.js';
import { SchemaChangedError } from '../../src/replicate/apply/shapes.js';
import { backoffMs, isTransient } from '../../src/replicate/retry.js';
import { CaptureSchemaError } from '../../src/replicate/triggers/apply.js';
import { CaptureLogError } from '../../src/replicate/triggers/validate.js';

const pgError = (code: string, message = 'whatever the server says') => Object.assign(new Error(message), { code });

describe('isTransient', () => {
  it('retries lost connections, shutdowns, too many connections, a slot still in use, serialization failures and deadlocks', () => {
    for (const code of ['08006', '08003', '57P01', '57P02', '57P03', '53300', '55006', '40001', '40P01', 'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT'])
      expect(isTransient(pgError(code)), code).toBe(true);
    expect(isTransient(tagSide(new Error('Connection terminated unexpectedly'), 'target', true))).toBe(true);
    // The replication stream marks a socket that ended as transient (a ConnectionError with no cause).
    expect(isTransient(Object.assign(new ConnectionError('replication connection to source closed'), { transient: true }))).toBe(true);
    // Wrapped: the cause decides.
    expect(isTransient(new PgshiftError('batch failed', { cause: pgError('40P01') }))).toBe(true);
  });

  it('never retries what the user must fix, whatever the cause under it', () => {
    for (const code of ['23505', '42501', '42P01', '22P02', '57014']) expect(isTransient(pgError(code)), code).toBe(false);
    expect(isTransient(new PgshiftError('a check failed'))).toBe(false);
    expect(isTransient(new StoppedError('a table was created on the source'))).toBe(false);
    expect(isTransient(new SchemaChangedError('column gone', { cause: pgError('08006') }))).toBe(false);
    expect(isTransient(new CaptureSchemaError('column changed', { cause: pgError('08006') }))).toBe(false);
    expect(isTransient(new CaptureLogError('a log row the capture did not write'))).toBe(false);
    expect(isTransient(new PgshiftError('wrapped', { cause: new CaptureLogError('row') }))).toBe(false);
    // By class and code, never by message.
    expect(isTransient(new Error('connection reset by peer, terminating connection due to administrator command'))).toBe(false);
  });
});

describe('backoffMs', () => {
  it('doubles from 1 s up to 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});
