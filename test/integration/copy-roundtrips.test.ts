// Round trips to the source (#30): over a link with 40 ms of round trip, a copy of thousands of small tables
// pays for its round trips, not its bytes. copy --json counts them per side and phase; the per-table path must
// not make one source round trip per table: catalog reads, sizes and sequences are batched, and small tables'
// COPYs go out several to one multi-statement query. Judged by the independent comparison, as every copy test.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const TABLES = 120;

describe('copy: source round trips do not grow with the table count', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let tgt2: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt, tgt2] = await Promise.all([
      createDatabase(pg15, { label: 'rt_src' }),
      createDatabase(pg17, { label: 'rt_tgt' }),
      createDatabase(pg17, { label: 'rt_tgt2' }),
    ]);
    // Schema-per-tenant: four schemas of small tables (a serial key, a text, a bytea), some empty, one with an
    // identity and a generated column, plus one larger table; created as the owner, as a Heroku credential would.
    const ddl: string[] = [];
    for (let i = 0; i < TABLES; i++) {
      const s = `tenant_${i % 4}`;
      if (i < 4) ddl.push(`CREATE SCHEMA ${s}`);
      ddl.push(`CREATE TABLE ${s}.t${i} (id serial PRIMARY KEY, note text, blob bytea, n int GENERATED ALWAYS AS (id * 2) STORED)`);
      if (i % 5 !== 0)
        ddl.push(
          `INSERT INTO ${s}.t${i} (note, blob) SELECT 'row ' || g || E' \\t tab', decode(md5(g::text), 'hex') FROM generate_series(1, ${1 + (i % 7) * 3}) g`,
        );
    }
    ddl.push(`CREATE TABLE public.big (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload text)`);
    ddl.push(`INSERT INTO public.big (payload) SELECT repeat(md5(g::text), 4) FROM generate_series(1, 20000) g`);
    await src.owner(ddl.join(';\n'));
    await src.admin('ANALYZE');
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop(), tgt2?.drop()]));

  it('counts round trips per phase in --json and keeps the source side well below one per table', async () => {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--jobs', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = parseJson(r);
    expect(summary.tables).toBe(TABLES + 1);
    const rt = summary.roundTrips;
    expect(rt.source.data, JSON.stringify(rt)).toBeGreaterThan(0);
    expect(rt.target.data, JSON.stringify(rt)).toBeGreaterThan(0);
    expect(rt.connections.source).toBeGreaterThan(0);
    // Planning reads the catalog for all tables at once: a fixed number of queries, whatever the table count.
    expect(rt.source.plan, JSON.stringify(rt)).toBeLessThan(20);
    expect(rt.source.sequences, JSON.stringify(rt)).toBeLessThan(5);
    // pg_dump's schema dump, through pgshift's relay: about 60 catalog reads whatever the table count; its
    // per-table locks and per-sequence reads no longer wait on the source one by one (pg_dump 15 straight to
    // the source: one LOCK per table and one read per sequence, over 2 × TABLES here).
    expect(rt.source['schema dump'], JSON.stringify(rt)).toBeLessThan(TABLES * 0.7);
    // The data phase: small tables' COPYs are batched, so far fewer source round trips than tables
    // (today's per-table path made one per table plus a snapshot import every 100).
    expect(rt.source.data, JSON.stringify(rt)).toBeLessThan(TABLES / 4);
    // pgshift's own queries (pg_dump's, through the relay, are bounded above).
    const total = Object.entries(rt.source as Record<string, number>).reduce((a, [phase, n]) => a + (phase === 'schema dump' ? 0 : n), 0);
    expect(total, JSON.stringify(rt)).toBeLessThan(TABLES / 2);

    await expectSameDatabase(src.adminUrl, tgt.adminUrl);
  });

  it('a table that fails inside a batch is the one named; the tables committed before it stay done; --resume finishes', async () => {
    expect((await runCli(['copy', '--source', src.url, '--target', tgt2.url, '--schema-only'])).code).toBe(0);
    // A target-only rule the source rows break, on one small table among many (batched with its neighbours).
    await tgt2.owner(`ALTER TABLE tenant_1.t61 ADD CONSTRAINT no_rows CHECK (false) NOT VALID`);
    const failed = await runCli(['copy', '--source', src.url, '--target', tgt2.url, '--data-only', '--jobs', '1']);
    expect(failed.code).toBe(4);
    expect(failed.stderr).toMatch(/data: copying tenant_1\.t61.*no_rows/);
    expect(failed.stderr).not.toMatch(/data: copying tenant_(0|2|3)\./);
    // Exactly once per table: every table marked done holds all its source rows, the failed one none.
    const done = (await tgt2.admin(`SELECT format('%I.%I', table_schema, table_name) AS t FROM pgshift.copy_chunk WHERE done_at IS NOT NULL`)).rows.map(
      (r) => r.t as string,
    );
    expect(done.length).toBeGreaterThan(0);
    expect(done).not.toContain('tenant_1.t61');
    for (const t of done.slice(0, 20)) {
      const [a, b] = await Promise.all([src.admin(`SELECT count(*)::int AS n FROM ${t}`), tgt2.admin(`SELECT count(*)::int AS n FROM ${t}`)]);
      expect(b.rows[0].n, t).toBe(a.rows[0].n);
    }
    expect((await tgt2.admin(`SELECT count(*)::int AS n FROM tenant_1.t61`)).rows[0].n).toBe(0);

    await tgt2.owner(`ALTER TABLE tenant_1.t61 DROP CONSTRAINT no_rows`);
    const resumed = await runCli(['copy', '--source', src.url, '--target', tgt2.url, '--resume', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectSameDatabase(src.adminUrl, tgt2.adminUrl);
  });
});
