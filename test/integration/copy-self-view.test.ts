// Views defined in terms of themselves (issue #23.6). The server accepts them (CREATE OR REPLACE VIEW v AS … FROM v,
// or CREATE OR REPLACE RULE "_RETURN" … SELECT … FROM v) though they cannot be queried; pg_dump writes
// CREATE VIEW v AS … FROM v, which no server restores. inventory names them with the fix; copy refuses in preflight
// (exit 2, nothing written) instead of stopping midway through the schema step (exit 4). Views that refer to each
// other in a loop are not flagged: pg_dump breaks that loop and they restore. After the advice is followed, the copy
// is identical.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SCHEMA = `
CREATE TABLE items (id integer PRIMARY KEY, label text);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 300) g;
CREATE VIEW cheap AS SELECT id, label FROM items WHERE id < 100;
-- Self-referencing through a column reference…
CREATE VIEW loop_cols AS SELECT 1 AS a;
CREATE OR REPLACE VIEW loop_cols AS SELECT a FROM loop_cols;
CREATE VIEW "Built On Loop" AS SELECT a FROM loop_cols;
-- …through the rule itself, reading no column of itself…
CREATE VIEW loop_rule AS SELECT 1 AS a;
CREATE OR REPLACE RULE "_RETURN" AS ON SELECT TO loop_rule DO INSTEAD SELECT 1 AS a FROM loop_rule;
-- …and two views that refer to each other: pg_dump restores those (a placeholder view first).
CREATE VIEW ping AS SELECT 1 AS x;
CREATE VIEW pong AS SELECT x FROM ping;
CREATE OR REPLACE VIEW ping AS SELECT x FROM pong;
`;

describe('self-referencing views', () => {
  let src: TestDatabase;
  let src17: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, src17, tgt] = await Promise.all([
      createDatabase(pg15, { label: 'sv_src', replication: true }),
      createDatabase(pg17, { label: 'sv_src17' }),
      createDatabase(pg17, { label: 'sv_tgt' }),
    ]);
    await Promise.all([src.owner(SCHEMA), src17.owner(SCHEMA)]);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), src17?.drop(), tgt?.drop()]);
  });

  it('inventory finds them on 15 and on 17 (not the pair that loops through each other) and says what to do', async () => {
    for (const db of [src, src17]) {
      const r = await runCli(['inventory', '--source', db.url, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const inv = parseJson(r);
      expect(inv.selfReferencingViews).toEqual([
        { schema: 'public', name: 'loop_cols', qualified: 'public.loop_cols', dependents: ['public."Built On Loop"'] },
        { schema: 'public', name: 'loop_rule', qualified: 'public.loop_rule', dependents: [] },
      ]);
      const w = inv.warnings.filter((x: { code: string }) => x.code === 'self-referencing-view');
      expect(w.map((x: { object: string }) => x.object)).toEqual(['public.loop_cols', 'public.loop_rule']);
      expect(w[0].message).toContain('view public.loop_cols is defined in terms of itself');
      expect(w[0].message).toContain('(and the views built on it: public."Built On Loop"); copy refuses to start');
      expect(w[0].remedy).toContain('on the source, DROP VIEW public.loop_cols CASCADE (it drops the views built on it too) if nothing uses it');
      expect(w[1].remedy).toMatch(/^on the source, DROP VIEW public\.loop_rule if nothing uses it, or give it a definition that does not read itself/);
    }
  });

  it('copy refuses in preflight, naming each view and the fix, with nothing written', async () => {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /error: preflight: view public\.loop_cols is defined in terms of itself.*view public\.loop_rule is defined in terms of itself.*nothing was changed/,
    );
    expect(r.stderr).toMatch(/next: on the source, DROP VIEW public\.loop_cols CASCADE .*; on the source, DROP VIEW public\.loop_rule/);
    expect(r.stderr).not.toMatch(/schema pre-data/);
    const { rows } = await tgt.admin(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')`,
    );
    expect(rows[0].n).toBe(0);
  });

  it('replicate (pgoutput and trigger capture) refuses them before it creates anything on the source', async () => {
    for (const capture of [[], ['--capture', 'triggers']]) {
      const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '60', ...capture]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/error: preflight: view public\.loop_cols is defined in terms of itself/);
    }
    const { rows: slots } = await src.admin(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = current_database()`);
    expect(slots[0].n).toBe(0);
    const { rows: pubs } = await src.admin(
      `SELECT (SELECT count(*) FROM pg_publication)::int + (SELECT count(*) FROM pg_namespace WHERE nspname = '_pgshift')::int AS n`,
    );
    expect(pubs[0].n).toBe(0);
    // The target holds pgshift's record of the attempt at most, no user object: the next copy may use it after cleanup.
    const c = await runCli(['cleanup', '--target', tgt.url, '--source', src.url, '--force']);
    expect(c.code, c.stderr).toBe(0);
  });

  it('after the advice (the views dropped on the source), copy works and the target is identical', async () => {
    await src.owner('DROP VIEW public.loop_cols CASCADE; DROP VIEW public.loop_rule;');
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
    // The views that loop through each other arrived, and read the same (nothing) on both sides.
    const { rows } = await tgt.admin(
      `SELECT string_agg(relname, ',' ORDER BY relname) AS v FROM pg_class WHERE relkind = 'v' AND relnamespace = 'public'::regnamespace`,
    );
    expect(rows[0].v).toBe('cheap,ping,pong');
  });
});
