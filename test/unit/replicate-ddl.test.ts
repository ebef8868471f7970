// What a Relation message that no longer fits the target leads to (src/replicate/apply/ddl.ts): the exact statements
// for the target, and which ones --apply-ddl runs by itself. A rename is never turned into ADD + DROP.
import { describe, expect, it } from 'vitest';
import type { CurrentColumn, RelationEvent } from '../../src/replicate/change.js';
import type { TargetTable } from '../../src/replicate/apply/catalog.js';
import { diffRelation, disagrees, planDdl } from '../../src/replicate/apply/ddl.js';

const INT = 23;
const TEXT = 25;
const target = (cols: [string, string, number][]): TargetTable => ({
  id: { schema: 'public', name: 't' },
  qualified: '"public"."t"',
  label: 'public.t',
  partitioned: false,
  constrained: new Set(),
  identityKey: ['id'],
  columns: new Map(cols.map(([name, type, typeOid]) => [name, { name, type, typeOid, generated: false, identity: null }])),
});
const relation = (cols: [string, number][], previous?: [string, number][]): RelationEvent => ({
  type: 'relation',
  table: { schema: 'public', name: 't' },
  columns: cols.map(([name, typeOid]) => ({ name, typeOid })),
  ...(previous ? { previous: previous.map(([name, typeOid]) => ({ name, typeOid })) } : {}),
});
const now = (cols: [string, string, boolean?, string?][]): Map<string, CurrentColumn> =>
  new Map(cols.map(([name, type, notNull, dflt]) => [name, { name, type, notNull: notNull ?? false, default: dflt ?? null }]));

describe('DDL plan for a Relation message', () => {
  const t = target([
    ['id', 'integer', INT],
    ['a', 'text', TEXT],
  ]);

  it('fits: nothing to read or do', () => {
    expect(
      disagrees(
        t,
        relation([
          ['id', INT],
          ['a', TEXT],
        ]),
      ),
    ).toBe(false);
  });

  it('ADD COLUMN: named with type, default and NOT NULL; run by --apply-ddl only when nullable without a default', () => {
    const ev = relation([
      ['id', INT],
      ['a', TEXT],
      ['b', INT],
    ]);
    const d = diffRelation(
      t,
      ev,
      now([
        ['id', 'integer'],
        ['a', 'text'],
        ['b', 'integer'],
      ]),
    );
    expect(planDdl(t, d, false)).toEqual({
      problems: ['column b exists on the source but not on the target'],
      fixes: ['ALTER TABLE "public"."t" ADD COLUMN "b" integer'],
      auto: [],
    });
    expect(planDdl(t, d, true)).toEqual({ problems: [], fixes: [], auto: ['ALTER TABLE "public"."t" ADD COLUMN "b" integer'] });
    const withDefault = diffRelation(
      t,
      ev,
      now([
        ['id', 'integer'],
        ['a', 'text'],
        ['b', 'integer', true, '0'],
      ]),
    );
    expect(planDdl(t, withDefault, true).fixes).toEqual(['ALTER TABLE "public"."t" ADD COLUMN "b" integer DEFAULT 0 NOT NULL']);
  });

  it('a column sent that neither side has any more is not written, and stops nothing', () => {
    const d = diffRelation(
      t,
      relation([
        ['id', INT],
        ['a', TEXT],
        ['gone', TEXT],
      ]),
      now([
        ['id', 'integer'],
        ['a', 'text'],
      ]),
    );
    expect(d.ignored).toEqual(['gone']);
    expect(planDdl(t, d, false).problems).toEqual([]);
  });

  it('DROP COLUMN: named; --apply-ddl runs it only once the source catalog confirmed it', () => {
    const ev = relation(
      [['id', INT]],
      [
        ['id', INT],
        ['a', TEXT],
      ],
    );
    expect(planDdl(t, diffRelation(t, ev, now([['id', 'integer']])), true).auto).toEqual(['ALTER TABLE "public"."t" DROP COLUMN "a"']);
    const unknown = planDdl(t, diffRelation(t, ev, null), true);
    expect(unknown).toEqual({
      problems: ['column a is on the target but was dropped on the source'],
      fixes: ['ALTER TABLE "public"."t" DROP COLUMN "a"'],
      auto: [],
    });
  });

  it('a rename is named as RENAME, even with --apply-ddl (ADD + DROP would lose the values)', () => {
    const d = diffRelation(
      t,
      relation([
        ['id', INT],
        ['a2', TEXT],
      ]),
      now([
        ['id', 'integer'],
        ['a2', 'text'],
      ]),
    );
    expect(planDdl(t, d, true)).toEqual({
      problems: ['column a is on the target, a2 (same type) on the source: renamed on the source?'],
      fixes: ['ALTER TABLE "public"."t" RENAME COLUMN "a" TO "a2"'],
      auto: [],
    });
  });

  it('a built-in type that differs: named with ALTER COLUMN … TYPE', () => {
    const ev = relation([
      ['id', INT],
      ['a', INT],
    ]);
    expect(disagrees(t, ev)).toBe(true);
    expect(
      planDdl(
        t,
        diffRelation(
          t,
          ev,
          now([
            ['id', 'integer'],
            ['a', 'integer'],
          ]),
        ),
        true,
      ).fixes,
    ).toEqual(['ALTER TABLE "public"."t" ALTER COLUMN "a" TYPE integer USING "a"::integer']);
  });
});
