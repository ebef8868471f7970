// The catch-up mark taken from pg_current_wal_insert_lsn(): a position just past a page header is the page
// boundary (where the last record ended), or catchUp would wait for a record that may never come.
import { describe, expect, it } from 'vitest';
import { recordEnd } from '../../src/replicate/pgoutput/source.js';

describe('recordEnd', () => {
  const page = 8192n;
  it('maps the end of a page header (short 24, long 40 at a segment start) to the page boundary', () => {
    expect(recordEnd(5n * page + 24n, page)).toBe(5n * page);
    expect(recordEnd(16n * 1024n * 1024n + 40n, page)).toBe(16n * 1024n * 1024n);
  });
  it('leaves positions after a record on the page as they are', () => {
    expect(recordEnd(5n * page + 48n, page)).toBe(5n * page + 48n);
    expect(recordEnd(5n * page + 4000n, page)).toBe(5n * page + 4000n);
    expect(recordEnd(5n * page, page)).toBe(5n * page);
  });
});
