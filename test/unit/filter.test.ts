import { describe, expect, it } from 'vitest';
import { requireIncludesMatched } from '../../src/catalog/filter.js';
import { UsageError } from '../../src/errors.js';

const tables = [
  { schema: 'public', name: 'orders' },
  { schema: 'sales', name: 'invoices' },
];

describe('requireIncludesMatched', () => {
  it('accepts patterns that each select a table, and no --include at all', () => {
    expect(() => requireIncludesMatched({ include: ['public.ord*', 'invoices'] }, tables, 'verify')).not.toThrow();
    expect(() => requireIncludesMatched({}, [], 'verify')).not.toThrow();
  });

  it('names every pattern that matches nothing (a usage error, exit 2)', () => {
    const run = () => requireIncludesMatched({ include: ['public.orders', 'public.ordrs', 'nope.*'] }, tables, 'copy');
    expect(run).toThrow(UsageError);
    expect(run).toThrow('copy: --include "public.ordrs", "nope.*" matches no table; nothing was done');
  });

  it('says when --exclude left nothing of what --include matched', () => {
    expect(() => requireIncludesMatched({ include: ['sales.*'], exclude: ['sales.*'] }, [tables[0]!], 'inventory')).toThrow(
      /matches no table left by --exclude/,
    );
  });
});
