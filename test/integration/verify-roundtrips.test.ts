// verify over a slow link (#30 item 6): every round trip to a remote source costs 10–80 ms, so verify's
// per-table path must not make one per table. Catalog reads are per object class (a fixed number), snapshot
// imports once per connection, and small tables' counts and checksums go several to one query — with the same
// checksums, so a difference is still found and located by key. Counted by verify --json's roundTrips.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const TABLES = 200;

/** Small tables in four schemas: keyed ones (some empty), a few without a key, one multi-column key; one larger table. */
function schemaSql(): string {
  const ddl: string[] = [];
  for (let i = 0; i < TABLES; i++) {
    const s = `tenant_${i % 4}`;
    if (i < 4) ddl.push(`CREATE SCHEMA ${s}`);
    if (i % 50 === 7) ddl.push(`CREATE TABLE ${s}.t${i} (note text, n int)`);
    else if (i % 50 === 9) ddl.push(`CREATE TABLE ${s}.t${i} (a int, b text, note text, PRIMARY KEY (a, b))`);
    else ddl.push(`CREATE TABLE ${s}.t${i} (id serial PRIMARY KEY, note text, blob bytea, f float8)`);
    const rows = i % 5 === 0 ? 0 : 1 + (i % 7) * 3;
    if (rows === 0) continue;
    if (i % 50 === 7) ddl.push(`INSERT INTO ${s}.t${i} SELECT 'row ' || (g % 3), g % 3 FROM generate_series(1, ${rows}) g`);
    else if (i % 50 === 9) ddl.push(`INSERT INTO ${s}.t${i} SELECT g, 'k' || g, 'row ' || g FROM generate_series(1, ${rows}) g`);
    else ddl.push(`INSERT INTO ${s}.t${i} (note, blob, f) SELECT 'row ' || g, decode(md5(g::text), 'hex'), g / 3.0 FROM generate_series(1, ${rows}) g`);
  }
  ddl.push(`CREATE TABLE public.big (id bigint PRIMARY KEY, payload text)`);
  ddl.push(`INSERT INTO public.big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g`);
  ddl.push('ANALYZE');
  return ddl.join(';\n');
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

describe('verify: round trips per side stay well below one per table', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let fresh: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt, fresh] = await Promise.all([
      createDatabase(pg15, { label: 'vrt_src', replication: true }),
      createDatabase(pg17, { label: 'vrt_tgt' }),
      createDatabase(pg17, { label: 'vrt_fresh' }),
    ]);
    await Promise.all([src.owner(schemaSql()), tgt.owner(schemaSql())]);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop(), fresh?.drop()]));

  it('equal databases: every table compared, round trips counted per phase in --json and far fewer than tables', async () => {
    const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json', '--chunk-size', '256kB']);
    expect(r.code, r.stderr).toBe(0);
    const rep = parseJson(r);
    expect(rep.ok).toBe(true);
    expect(rep.tables).toHaveLength(TABLES + 1);
    for (const t of rep.tables) expect(t, t.table).toMatchObject({ match: true });
    expect(rep.tables.find((t: any) => t.table === 'public.big').sourceRows).toBe(20000);
    expect(rep.tables.find((t: any) => t.table === 'tenant_1.t1').sourceRows).toBe(4);
    const rt = rep.roundTrips;
    expect(rt.connections, JSON.stringify(rt)).toEqual({ source: 3, target: 3 });
    // The catalog's fixed round trips (#30): the server's version, block size and identity in the catalog
    // session's first query (+1 for the system identifier when the role may read it), the snapshot, the tables,
    // columns, types, materialized views and sequences in one multi-statement query, the schema objects in one,
    // the sequence values in two; the target adds its state and run-lock reads. Before: 14 and 17.
    expect(rt.source['verify catalog'], JSON.stringify(rt)).toBeLessThanOrEqual(7);
    expect(rt.target['verify catalog'], JSON.stringify(rt)).toBeLessThanOrEqual(10);
    for (const side of ['source', 'target'] as const) {
      expect(rt[side]['verify catalog'], JSON.stringify(rt)).toBeGreaterThan(0);
      expect(rt[side]['verify data'], JSON.stringify(rt)).toBeGreaterThan(0);
      // One per table would be 201 on each side (plus imports: 276 before); batched: a few dozen (42–45 measured:
      // a few groups of small tables, the big table's 14 chunks, imports, catalog reads).
      expect(rt[side]['verify data'], JSON.stringify(rt)).toBeLessThan(TABLES / 5);
      expect(total(rt[side]), `${side}: ${JSON.stringify(rt)}`).toBeLessThan(TABLES / 3);
    }
  });

  it('a planted difference among the batched small tables is named by table and key, its neighbours equal', async () => {
    await tgt.admin(`
      UPDATE tenant_2.t58 SET note = 'changed' WHERE id = 3;
      DELETE FROM tenant_1.t109 WHERE a = 2;
      UPDATE tenant_3.t107 SET n = 9 WHERE ctid = (SELECT ctid FROM tenant_3.t107 WHERE n = 1 LIMIT 1);
      INSERT INTO tenant_0.t0 (note) VALUES ('only on the target')`);
    const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const rep = parseJson(r);
    const differing = rep.tables.filter((t: any) => !t.match);
    expect(differing.map((t: any) => t.table).sort()).toEqual(['tenant_0.t0', 'tenant_1.t109', 'tenant_2.t58', 'tenant_3.t107']);
    const t = (name: string) => differing.find((x: any) => x.table === name);
    expect(t('tenant_2.t58')).toMatchObject({ differentRows: 1, missingRows: 0, extraRows: 0 });
    expect(t('tenant_2.t58').differences).toEqual([{ kind: 'different', key: { id: '3' }, columns: [{ column: 'note', source: 'row 3', target: 'changed' }] }]);
    expect(t('tenant_1.t109').differences).toEqual([{ kind: 'missing', key: { a: '2', b: 'k2' } }]);
    expect(t('tenant_3.t107')).toMatchObject({ comparedAs: 'multiset', missingRows: 1, extraRows: 1 });
    expect(t('tenant_0.t0')).toMatchObject({ sourceRows: 0, targetRows: 1, extraRows: 1 });
    expect(t('tenant_0.t0').differences).toEqual([{ kind: 'extra', key: { id: '1' } }]);
    // The human report names them too.
    const text = await runCli(['verify', '--source', src.url, '--target', tgt.url]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/tenant_2\.t58/);
    expect(text.stdout).toMatch(/id=3|"id":\s*"3"|id 3/);
  });

  it('a small table the role cannot read, batched with others: the error names that table and side, as its own query did', async () => {
    const ddl = `CREATE TABLE tenant_1.zz_secret (id int PRIMARY KEY); INSERT INTO tenant_1.zz_secret VALUES (1)`;
    await Promise.all([src.admin(ddl), tgt.admin(ddl)]);
    try {
      const r = await runCli(['verify', '--source', src.url, '--target', tgt.url]);
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.code).not.toBe(1);
      expect(r.stderr).toMatch(/(source|target) tenant_1\.zz_secret: checksums/);
      expect(r.stderr).toMatch(/permission denied/);
    } finally {
      await Promise.all([src.admin('DROP TABLE tenant_1.zz_secret'), tgt.admin('DROP TABLE tenant_1.zz_secret')]);
    }
  });

  // Last: --fix-replica-identity changes the source's tables without a key.
  it("replicate's initial copy goes through copy's batched relay: source round trips of its data phase well below one per table", async () => {
    const r = await runCli([
      'replicate',
      '--source',
      src.url,
      '--target',
      fresh.url,
      '--until-caught-up',
      '--fix-replica-identity',
      '--json',
      '--timeout',
      '90',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const s = parseJson(r);
    const rt = s.initialCopy.roundTrips;
    expect(rt.source.data, JSON.stringify(rt)).toBeGreaterThan(0);
    expect(rt.source.data, JSON.stringify(rt)).toBeLessThan(TABLES / 4);
    await runCli(['cleanup', '--source', src.url, '--target', fresh.url]);
    await expectSameDatabase(src.adminUrl, fresh.adminUrl);
  });
});
