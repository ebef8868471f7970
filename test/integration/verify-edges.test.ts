// verify beyond tables and schema: large objects, true difference totals, huge values shown as length + md5,
// refusing to compare a database with itself, and --include patterns that match nothing.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SEED_SQL = `
CREATE TABLE keyed (id int PRIMARY KEY, v text);
INSERT INTO keyed SELECT g, 'value ' || g FROM generate_series(1, 2000) g;
CREATE TABLE bag (k text, n int);
INSERT INTO bag SELECT 'k' || (g % 10), g % 3 FROM generate_series(1, 600) g;
-- A few rows with multi-MB values (bytea and text), and a small column beside them.
CREATE TABLE blobs (id int PRIMARY KEY, small text, b bytea, t text);
INSERT INTO blobs SELECT g, 'small ' || g, decode(repeat(md5(g::text), 100000), 'hex'), repeat(md5(g::text), 100000) FROM generate_series(1, 4) g;
CREATE TABLE blobs_bag (t text);  -- no primary key: compared as a multiset
INSERT INTO blobs_bag SELECT repeat(md5(g::text), 100000) FROM generate_series(1, 2) g;
SELECT lo_from_bytea(50001, 'hello large object');
-- Three slices of 1 MB and a bit.
SELECT lo_from_bytea(50002, convert_to(repeat('abcdefgh', 400000), 'UTF8'));
SELECT lo_from_bytea(50003, '');
ANALYZE;
`;

describe('pgshift verify: large objects, totals, huge values, same database, unmatched --include', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let empty: TestDatabase;
  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt, empty] = await Promise.all([
      createDatabase(pg15, { label: 'vedge_src' }),
      createDatabase(pg17, { label: 'vedge_tgt' }),
      createDatabase(pg17, { label: 'vedge_empty' }),
    ]);
    await Promise.all([src.owner(SEED_SQL), tgt.owner(SEED_SQL)]);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop(), empty?.drop()]));

  it('equal databases, large objects included: exit 0', async () => {
    const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rep = parseJson(r);
    expect(rep.largeObjects).toMatchObject({ match: true, sourceCount: 3, targetCount: 3, missing: 0, extra: 0, different: 0 });
    const human = await runCli(['verify', '--source', src.url, '--target', tgt.url]);
    expect(human.stdout).toContain('Large objects (3): all equal ✓');
  });

  it('a changed, a removed and an extra large object are each named (exit 1)', async () => {
    await tgt.owner(`SELECT lo_put(50002, 2500000, 'X'); SELECT lo_unlink(50001); SELECT lo_from_bytea(60000, 'only here')`);
    const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const rep = parseJson(r);
    expect(rep.tables.every((t: any) => t.match)).toBe(true);
    expect(rep.largeObjects).toMatchObject({ match: false, sourceCount: 3, targetCount: 3, missing: 1, extra: 1, different: 1 });
    expect(rep.largeObjects.differences).toEqual([
      { kind: 'missing', oid: '50001', sourceBytes: 18, targetBytes: null },
      { kind: 'different', oid: '50002', sourceBytes: 3200000, targetBytes: 3200000, sourceMd5: expect.any(String), targetMd5: expect.any(String) },
      { kind: 'extra', oid: '60000', sourceBytes: null, targetBytes: 9 },
    ]);
    const human = await runCli(['verify', '--source', src.url, '--target', tgt.url]);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain('✗ large object 50002: contents differ');
    expect(human.stdout).toContain('✗ large object 50001: missing on target');
    expect(human.stdout).toContain('DO NOT switch traffic');
    await tgt.owner(`SELECT lo_put(50002, 2500000, 'a'); SELECT lo_from_bytea(50001, 'hello large object'); SELECT lo_unlink(60000)`);
    expect((await runCli(['verify', '--source', src.url, '--target', tgt.url])).code).toBe(0);
  });

  it('copy refuses a target that holds only a large object (exit 2, nothing changed)', async () => {
    await empty.owner(`SELECT lo_from_bytea(0, 'left over')`);
    const r = await runCli(['copy', '--source', src.url, '--target', empty.url]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is not empty: 1 user objects \(large object \d+\)/);
    expect((await empty.admin(`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`)).rows[0].n).toBe(0);
  });

  it('counts are true totals; --max-differences caps only the list', async () => {
    await tgt.owner(`
      DELETE FROM keyed WHERE id % 10 = 0;                        -- 200 missing
      UPDATE keyed SET v = v || '!' WHERE id % 10 = 1;            -- 200 different
      INSERT INTO keyed SELECT g, 'extra' FROM generate_series(3001, 3050) g;  -- 50 extra
      DELETE FROM bag WHERE n = 0 AND k IN ('k1', 'k2');          -- 40 missing copies
    `);
    const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json', '--max-differences', '5']);
    expect(r.code, r.stderr).toBe(1);
    const rep = parseJson(r);
    const t = (name: string) => rep.tables.find((x: any) => x.table === name);
    expect(t('public.keyed')).toMatchObject({ match: false, missingRows: 200, extraRows: 50, differentRows: 200, truncated: true });
    expect(t('public.keyed').differences).toHaveLength(5);
    expect(t('public.bag')).toMatchObject({ match: false, missingRows: 40, extraRows: 0, truncated: false });
    const human = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--max-differences', '5']);
    expect(human.stdout).toMatch(/✗\s+public\.keyed\s+2,000\s+1,850\s+key \(id\)\s+200 missing, 50 extra, 200 different, not all listed/);
    await tgt.owner(`TRUNCATE keyed, bag; INSERT INTO keyed SELECT g, 'value ' || g FROM generate_series(1, 2000) g;
                     INSERT INTO bag SELECT 'k' || (g % 10), g % 3 FROM generate_series(1, 600) g;`);
  });

  it('a changed multi-MB value is named by row and column and shown as length + md5, never whole', async () => {
    await tgt.owner(`UPDATE blobs SET t = t || 'x', small = 'changed' WHERE id = 3; UPDATE blobs SET b = b || '\\x00'::bytea WHERE id = 2;
                     UPDATE blobs_bag SET t = t || 'y' WHERE t LIKE md5('1') || '%'`);
    const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const blobs = parseJson(r).tables.find((x: any) => x.table === 'public.blobs');
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    const text3 = createHash('md5').update('3').digest('hex').repeat(100000);
    const hex2 = `\\x${createHash('md5').update('2').digest('hex').repeat(100000)}`;
    expect(blobs).toMatchObject({ match: false, differentRows: 2, missingRows: 0, extraRows: 0 });
    expect(blobs.differences).toEqual([
      {
        kind: 'different',
        key: { id: '2' },
        columns: [
          {
            column: 'b',
            source: `<${hex2.length.toLocaleString('en-US')} bytes, md5 ${md5(hex2)}>`,
            sourceBytes: hex2.length,
            sourceMd5: md5(hex2),
            target: `<${(hex2.length + 2).toLocaleString('en-US')} bytes, md5 ${md5(`${hex2}00`)}>`,
            targetBytes: hex2.length + 2,
            targetMd5: md5(`${hex2}00`),
          },
        ],
      },
      {
        kind: 'different',
        key: { id: '3' },
        columns: [
          { column: 'small', source: 'small 3', target: 'changed' },
          {
            column: 't',
            source: `<3,200,000 bytes, md5 ${md5(text3)}>`,
            sourceBytes: 3200000,
            sourceMd5: md5(text3),
            target: `<3,200,001 bytes, md5 ${md5(`${text3}x`)}>`,
            targetBytes: 3200001,
            targetMd5: md5(`${text3}x`),
          },
        ],
      },
    ]);
    // Without a key, the example rows are shown the same way: length and md5 of the row's text.
    const bag = parseJson(r).tables.find((x: any) => x.table === 'public.blobs_bag');
    const row1 = `(${createHash('md5').update('1').digest('hex').repeat(100000)})`;
    expect(bag).toMatchObject({ missingRows: 1, extraRows: 1 });
    expect(bag.differences).toEqual(
      expect.arrayContaining([
        { kind: 'missing', count: 1, row: `<3,200,002 bytes, md5 ${md5(row1)}>` },
        { kind: 'extra', count: 1, row: expect.stringMatching(/^<3,200,003 bytes, md5 [0-9a-f]{32}>$/) },
      ]),
    );
    expect(r.stdout.length).toBeLessThan(100_000);
    await tgt.owner(`UPDATE blobs_bag SET t = repeat(md5('1'), 100000) WHERE t LIKE md5('1') || '%'`);
    await tgt.owner(`UPDATE blobs SET t = repeat(md5(id::text), 100000), small = 'small ' || id, b = decode(repeat(md5(id::text), 100000), 'hex')`);
  });

  it('refuses to compare a database with itself (exit 2), however the URL spells the host', async () => {
    const same = await runCli(['verify', '--source', src.url, '--target', src.url]);
    expect(same.code, same.stderr).toBe(2);
    expect(same.stderr).toMatch(/--source and --target are the same database/);
    const u = new URL(src.url);
    u.hostname = u.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    const respelled = await runCli(['verify', '--source', src.url, '--target', u.toString(), '--json']);
    expect(respelled.code, respelled.stderr).toBe(2);
    expect(parseJson(respelled).error.message).toMatch(/same database/);
  });

  it('an --include that matches no table is a usage error (exit 2) in verify and inventory', async () => {
    const v = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--include', 'public.keyed', '--include', 'public.no_such_table']);
    expect(v.code, v.stderr).toBe(2);
    expect(v.stderr).toContain('--include "public.no_such_table" matches no table');
    const i = await runCli(['inventory', '--source', src.url, '--include', 'nope.*', '--json']);
    expect(i.code, i.stderr).toBe(2);
    expect(parseJson(i).error.message).toContain('--include "nope.*" matches no table');
    const ok = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--include', 'public.keyed']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('large objects (compared only without --include)');
  });
});
