import { describe, expect, it } from 'vitest';
import { parseObjectTag, readIdent } from '../../src/schema/toc-tag.js';

describe('TOC tags of dependent entries (pg_dump writes the names as SQL)', () => {
  it('reads bare and quoted identifiers', () => {
    expect(readIdent('orders x', 0)).toEqual({ name: 'orders', end: 6 });
    expect(readIdent('"My ""Big"" Tbl".x', 0)).toEqual({ name: 'My "Big" Tbl', end: 16 });
    expect(readIdent('"unterminated', 0)).toBeUndefined();
  });
  it.each([
    ['TABLE "My Tbl" owner', { kind: 'TABLE', names: ['My Tbl'] }],
    ['COLUMN "My Tbl"."Col A" owner', { kind: 'COLUMN', names: ['My Tbl', 'Col A'] }],
    ['COLUMN orders.note owner', { kind: 'COLUMN', names: ['orders', 'note'] }],
    ['INDEX "select" owner', { kind: 'INDEX', names: ['select'] }],
    ['CONSTRAINT "My PK" ON "My Tbl" owner', { kind: 'CONSTRAINT', names: ['My PK'], on: 'My Tbl' }],
    ['POLICY p ON "T.1" owner', { kind: 'POLICY', names: ['p'], on: 'T.1' }],
    ['MATERIALIZED VIEW mv owner', { kind: 'MATERIALIZED VIEW', names: ['mv'] }],
    ['EXTENSION pg_trgm ', { kind: 'EXTENSION', names: ['pg_trgm'] }],
  ])('%s', (tag, parsed) => {
    expect(parseObjectTag(tag)).toEqual(parsed);
  });
  it('gives up on kinds whose names are not identifiers', () => {
    expect(parseObjectTag('FUNCTION f(integer) owner')).toBeUndefined();
    expect(parseObjectTag('CAST (integer AS text) owner')).toBeUndefined();
  });
});
