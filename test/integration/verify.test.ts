import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli, type CliResult } from '../support/cli.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { SEED_SQL } from './verify-seed.js';

// Differences planted on a target that started identical to the source; each one must be found and located.
const PLANT_SQL = `
UPDATE items SET f = 1 WHERE id = 17;                                        -- NaN → a number
UPDATE items SET f = 0 WHERE id = 18;                                        -- -0 → 0
UPDATE items SET at = at + interval '1 microsecond' WHERE id = 19;           -- one microsecond
UPDATE items SET doc = jsonb_set(doc, '{nested,x}', '"changed"') WHERE id = 20;  -- one json key
-- Two rows of one bucket (ids 1024 apart) swap a value: per-column sums would not move; row hashes must.
UPDATE items SET name = CASE id WHEN 30 THEN 'item 1054' ELSE 'item 30' END WHERE id IN (30, 1054);
DELETE FROM order_lines WHERE order_id = 5 AND line_no = 2;                  -- deleted row, composite key
INSERT INTO big VALUES (999999, 'extra', 1);                                 -- extra row
UPDATE tags SET n = 40 WHERE name = '😀 smile';                              -- non-BMP text key
-- One of two identical rows of a table without a primary key changes.
UPDATE events SET kind = 'changed'
 WHERE ctid = (SELECT ctid FROM events WHERE kind = 'k1' AND payload = '{"n": 1}' LIMIT 1);
SELECT setval('invoice_no', 1300);                                           -- moved sequence
DROP INDEX items_at;                                                         -- dropped index
ALTER TABLE order_lines ALTER COLUMN qty SET DEFAULT 2;                      -- changed default
ALTER TABLE order_lines VALIDATE CONSTRAINT qty_small;                       -- validated on target only
`;

describe('pgshift verify (non-superuser owners over TLS)', () => {
  let src: TestDatabase;
  let t15: TestDatabase;
  let t17: TestDatabase;
  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, t15, t17] = await Promise.all([
      createDatabase(pg15, { label: 'verify_src' }),
      createDatabase(pg15, { label: 'verify_t15' }),
      createDatabase(pg17, { label: 'verify_t17' }),
    ]);
    await Promise.all([src.owner(SEED_SQL), t15.owner(SEED_SQL), t17.owner(SEED_SQL)]);
  });
  afterAll(async () => Promise.all([src?.drop(), t15?.drop(), t17?.drop()]));

  const noSecrets = (r: CliResult, ...dbs: TestDatabase[]) => {
    for (const db of dbs) {
      expect(r.stdout + r.stderr).not.toContain(db.password);
      expect(r.stdout + r.stderr).not.toContain(encodeURIComponent(db.password));
    }
  };

  for (const [label, target] of [
    ['15 → 15', () => t15],
    ['15 → 17', () => t17],
  ] as const) {
    describe(label, () => {
      it('identical databases: exit 0, every table, sequence and schema object equal', async () => {
        const tgt = target();
        // Small chunks: the big table is read as many block ranges across both jobs.
        const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json', '--chunk-size', '64kB']);
        expect(r.code, r.stderr).toBe(0);
        const rep = parseJson(r);
        expect(rep.ok).toBe(true);
        expect(rep.schema).toEqual([]);
        const names = rep.tables.map((t: any) => t.table);
        expect(names).toEqual([
          'public.big',
          'public.child_inh',
          'public.events',
          'public.items',
          'public.measurements_2024',
          'public.measurements_2025',
          'public.order_lines',
          'public.parent_inh',
          'public.tags',
        ]);
        for (const t of rep.tables) {
          expect(t, t.table).toMatchObject({ match: true, differences: [] });
          expect(t.sourceRows).toBe(t.targetRows);
        }
        const t = (name: string) => rep.tables.find((x: any) => x.table === name);
        expect(t('public.items')).toMatchObject({ sourceRows: 3000, primaryKey: ['id'], comparedAs: 'key' });
        expect(t('public.big').sourceRows).toBe(60000);
        expect(t('public.big').buckets).toBeGreaterThan(16);
        expect(t('public.parent_inh').sourceRows).toBe(1); // ONLY: the child's row is not counted twice
        expect(t('public.events')).toMatchObject({ sourceRows: 500, primaryKey: null, comparedAs: 'multiset' });
        // Materialized views are derived data, reported apart from the tables.
        expect(rep.derived).toEqual([
          expect.objectContaining({
            table: 'public.item_totals',
            kind: 'materialized view',
            match: true,
            sourceRows: 3,
            targetRows: 3,
            populated: { source: true, target: true },
            definition: 'equal',
            remedy: null,
          }),
        ]);
        expect(rep.summary.derivedDiffering).toBe(0);
        expect(rep.sequences).toEqual([
          { sequence: 'public.invoice_no', match: true, source: { lastValue: '1234', isCalled: true }, target: { lastValue: '1234', isCalled: true } },
          expect.objectContaining({ sequence: 'public.items_id_seq', match: true }),
        ]);
        noSecrets(r, src, tgt);

        const human = await runCli(['verify', '--source', src.url, '--target', tgt.url]);
        expect(human.code, human.stderr).toBe(0);
        expect(human.stdout).toMatch(/✓\s+public\.order_lines\s+2,000\s+2,000\s+key \(order_id, line_no\)\s+equal/);
        expect(human.stdout).toContain('target matches source — safe to switch traffic');
        noSecrets(human, src, tgt);
      });

      it('finds and locates every planted difference: exit 1', async () => {
        const tgt = target();
        await tgt.owner(PLANT_SQL);
        const r = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--json', '--jobs', '3', '--chunk-size', '64kB']);
        expect(r.code, r.stderr).toBe(1);
        const rep = parseJson(r);
        expect(rep.ok).toBe(false);
        const t = (name: string) => rep.tables.find((x: any) => x.table === name);

        const items = t('public.items');
        expect(items).toMatchObject({ match: false, missingRows: 0, extraRows: 0, differentRows: 6, truncated: false });
        expect(items.buckets).toBeLessThanOrEqual(1024);
        expect(items.differences).toEqual([
          { kind: 'different', key: { id: '17' }, columns: [{ column: 'f', source: 'NaN', target: '1' }] },
          { kind: 'different', key: { id: '18' }, columns: [{ column: 'f', source: '-0', target: '0' }] },
          {
            kind: 'different',
            key: { id: '19' },
            columns: [{ column: 'at', source: expect.stringMatching(/\.123475\+00$/), target: expect.stringMatching(/\.123476\+00$/) }],
          },
          { kind: 'different', key: { id: '20' }, columns: [expect.objectContaining({ column: 'doc', target: expect.stringContaining('"x": "changed"') })] },
          {
            kind: 'different',
            key: { id: '30' },
            columns: [
              { column: 'name', source: 'item 30', target: 'item 1054' },
              { column: 'name_upper', source: 'ITEM 30', target: 'ITEM 1054' },
            ],
          },
          {
            kind: 'different',
            key: { id: '1054' },
            columns: [
              { column: 'name', source: 'item 1054', target: 'item 30' },
              { column: 'name_upper', source: 'ITEM 1054', target: 'ITEM 30' },
            ],
          },
        ]);
        expect(t('public.order_lines')).toMatchObject({
          match: false,
          sourceRows: 2000,
          targetRows: 1999,
          differences: [{ kind: 'missing', key: { order_id: '5', line_no: '2' } }],
        });
        expect(t('public.big')).toMatchObject({ match: false, targetRows: 60001, differences: [{ kind: 'extra', key: { id: '999999' } }] });
        expect(t('public.tags').differences).toEqual([{ kind: 'different', key: { name: '😀 smile' }, columns: [{ column: 'n', source: '4', target: '40' }] }]);
        const events = t('public.events');
        expect(events).toMatchObject({ match: false, sourceRows: 500, targetRows: 500, missingRows: 1, extraRows: 1 });
        expect(events.differences).toEqual(
          expect.arrayContaining([
            { kind: 'missing', count: 1, row: '(k1,"{""n"": 1}","2024-01-02 00:00:00")' },
            { kind: 'extra', count: 1, row: '(changed,"{""n"": 1}","2024-01-02 00:00:00")' },
          ]),
        );
        expect(rep.derived.map((d: any) => [d.table, d.match])).toEqual([['public.item_totals', true]]);
        const unchanged = ['public.child_inh', 'public.measurements_2024', 'public.measurements_2025', 'public.parent_inh'];
        for (const name of unchanged) expect(t(name).match, name).toBe(true);
        expect(rep.tables.filter((x: any) => !x.match).map((x: any) => x.table)).toEqual([
          'public.big',
          'public.events',
          'public.items',
          'public.order_lines',
          'public.tags',
        ]);

        expect(rep.sequences.find((s: any) => s.sequence === 'public.invoice_no')).toEqual({
          sequence: 'public.invoice_no',
          match: false,
          source: { lastValue: '1234', isCalled: true },
          target: { lastValue: '1300', isCalled: true },
        });
        expect(rep.sequences.find((s: any) => s.sequence === 'public.items_id_seq').match).toBe(true);

        expect(rep.schema).toEqual([
          {
            kind: 'column',
            object: 'public.order_lines.qty',
            difference: 'different',
            severity: 'difference',
            source: 'integer not null default 1',
            target: 'integer not null default 2',
          },
          {
            kind: 'constraint',
            object: 'qty_small on public.order_lines',
            difference: 'different',
            severity: 'difference',
            source: 'CHECK ((qty < 100)) NOT VALID [not validated]',
            target: 'CHECK ((qty < 100))',
          },
          {
            kind: 'index',
            object: 'public.items_at on items',
            difference: 'missing',
            severity: 'difference',
            source: expect.stringContaining('CREATE INDEX items_at ON public.items USING btree (at)'),
            target: null,
          },
        ]);
        noSecrets(r, src, tgt);

        const human = await runCli(['verify', '--source', src.url, '--target', tgt.url]);
        expect(human.code).toBe(1);
        expect(human.stdout).toMatch(/✗\s+public\.order_lines\s+2,000\s+1,999/);
        expect(human.stdout).toContain('missing on target order_id=5, line_no=2');
        expect(human.stdout).toContain('different         id=18: f -0 → 0');
        expect(human.stdout).toContain('✗ public.invoice_no: source 1234, target 1300');
        expect(human.stdout).toContain('✗ index public.items_at on items: missing on target');
        expect(human.stdout).toContain('DO NOT switch traffic');
        noSecrets(human, src, tgt);
      });
    });
  }

  it('--include/--exclude narrow the comparison; --max-differences caps the list', async () => {
    // Runs after the 15 → 17 target got its planted differences.
    const r = await runCli([
      'verify',
      '--source',
      src.url,
      '--target',
      t17.url,
      '--json',
      '--include',
      'public.item*',
      '--exclude',
      'public.item_totals',
      '--max-differences',
      '2',
    ]);
    expect(r.code, r.stderr).toBe(1);
    const rep = parseJson(r);
    expect(rep.tables.map((t: any) => t.table)).toEqual(['public.items']);
    expect(rep.tables[0]).toMatchObject({ match: false, truncated: true });
    const ids = rep.tables[0].differences.map((d: any) => d.key.id);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(['17', '18', '19', '20', '30', '1054']).toContain(id);
    // Sequences follow the same patterns (items_id_seq matches public.item*).
    expect(rep.sequences).toEqual([expect.objectContaining({ sequence: 'public.items_id_seq', match: true })]);
    expect(rep.schema).toEqual([expect.objectContaining({ kind: 'index', object: 'public.items_at on items' })]);

    const equal = await runCli(['verify', '--source', src.url, '--target', t17.url, '--json', '--include', 'public.measurements*', '--include', 'parent_inh']);
    expect(equal.code, equal.stderr).toBe(0);
    expect(parseJson(equal).tables.map((t: any) => t.table)).toEqual(['public.measurements_2024', 'public.measurements_2025', 'public.parent_inh']);
  });

  it('a wrong password is a connection error (exit 3) that never prints the password', async () => {
    const bad = t17.url.replace(encodeURIComponent(t17.password), encodeURIComponent(`${t17.password}-wrong`));
    const r = await runCli(['verify', '--source', src.url, '--target', bad, '--json']);
    expect(r.code).toBe(3);
    expect(parseJson(r).error.message).toMatch(/target .*authentication failed/);
    noSecrets(r, src, t17);
    expect(r.stdout + r.stderr).not.toContain(`${t17.password}-wrong`);
  });
});
