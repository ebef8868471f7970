// verify across majors: what each major prints differently for the same catalog object reads the same.
import { describe, expect, it } from 'vitest';
import { dialects, equalButQualifiers, joinTokens, neutral, neutralTokens, tokenize } from '../../src/verify/neutral.js';

const d15to17 = dialects(['select', 'from'], ['select', 'from', 'json', 'json_object'], { source: 15, target: 17 });

describe('verify: definitions read the same across majors', () => {
  it('unquotes only the words whose quoting changed, never inside literals or bodies', () => {
    expect([...d15to17.unquote].sort()).toEqual(['json', 'json_object']);
    expect(neutral('test."json"(doc "json", "Json" "select")', d15to17)).toBe('test.json(doc json, "Json" "select")');
    const body = `AS $function$ SELECT '{"json": 1}' $function$ DEFAULT E'\\'"json"' || '"json"'`;
    expect(neutral(body, d15to17)).toBe(body);
    expect(joinTokens(tokenize(`x   =  'a  b'`))).toBe(`x = 'a  b'`);
  });

  it('pg_catalog.json (15) is json (16 and newer); spacing of names is kept', () => {
    expect(neutral('on function test.wrap(pg_catalog.json,integer)', d15to17)).toBe('on function test.wrap(json,integer)');
    expect(neutral('a pg_catalog.json_typeof(x)', d15to17)).toBe('a pg_catalog.json_typeof(x)');
    expect(neutral('app.a  b', d15to17)).not.toBe(neutral('app.a b', d15to17));
  });

  it('a view equals its newer text once column qualifiers are left out, and only those', () => {
    const eq = (older: string, newer: string) => equalButQualifiers(neutralTokens(older, d15to17), neutralTokens(newer, d15to17));
    // A schema named like its table: test.test is the relation, test.id a column.
    expect(eq(' SELECT test.id, test.json FROM test.test WHERE (test.id > 0);', ' SELECT id, "json" FROM test.test WHERE (id > 0);')).toBe(true);
    expect(
      eq(' SELECT t.id, test.wrap(t.json) AS w, (t.b)::test.json FROM test.test t;', ' SELECT id, test.wrap("json") AS w, (b)::test."json" FROM test.test t;'),
    ).toBe(true);
    // Joins keep their qualifiers on every major.
    expect(eq(' SELECT a.id, b.x FROM (s.a JOIN s.b ON ((a.id = b.id)));', ' SELECT a.id, b.x FROM (s.a JOIN s.b ON ((a.id = b.id)));')).toBe(true);
    // Real differences stay differences: another column, another function's schema, another relation, another cast.
    expect(eq(' SELECT t.id FROM s.t;', ' SELECT other FROM s.t;')).toBe(false);
    expect(eq(' SELECT s.f(t.x) FROM s.t;', ' SELECT f(x) FROM s.t;')).toBe(false);
    expect(eq(' SELECT t.x FROM s.t;', ' SELECT x FROM t;')).toBe(false);
    expect(eq(' SELECT (t.x)::s.ty FROM s.t;', ' SELECT (x)::ty FROM s.t;')).toBe(false);
    expect(eq(' SELECT t.id FROM s.t;', ' SELECT id FROM s.t WHERE true;')).toBe(false);
  });
});
