// Naming the statement of a restore batch that failed: pg_restore's script cut into TOC entries, and the first line
// of the statement at a server error position.
import { describe, expect, it } from 'vitest';
import { splitScript, statementAt } from '../../src/copy/restore-failure.js';

const SCRIPT = [
  '--',
  '-- PostgreSQL database dump',
  '--',
  '',
  'SET statement_timeout = 0;',
  "SELECT pg_catalog.set_config('search_path', '', false);",
  '',
  '--',
  '-- Name: f(json); Type: FUNCTION; Schema: public; Owner: -',
  '--',
  '',
  'CREATE FUNCTION public.f(json json) RETURNS text',
  '    LANGUAGE sql',
  '    AS $$SELECT json::text;$$;',
  '',
  '',
  '--',
  '-- Name: Ünïcode tbl; Type: TABLE; Schema: sales; Owner: -',
  '--',
  '',
  'CREATE TABLE sales."Ünïcode tbl" (',
  '    id integer',
  ');',
  'ALTER TABLE sales."Ünïcode tbl" OWNER TO someone;',
  '',
  '--',
  '-- Name: SCHEMA app; Type: COMMENT; Schema: -; Owner: -',
  '--',
  '',
  "COMMENT ON SCHEMA app IS 'x';",
  '',
].join('\n');

describe('restore script entries', () => {
  it('cuts the script at each entry header, keeping the settings before the first apart', () => {
    const { prefix, entries } = splitScript(SCRIPT);
    expect(prefix).toMatch(/^--\n-- PostgreSQL database dump[\s\S]*set_config\('search_path', '', false\);\n\n$/);
    expect(entries.map((e) => e.label)).toEqual(['FUNCTION public.f(json)', 'TABLE sales.Ünïcode tbl', 'COMMENT SCHEMA app']);
    expect(prefix + entries.map((e) => e.sql).join('')).toBe(SCRIPT);
    for (const e of entries) expect(SCRIPT.slice(e.start, e.start + e.sql.length)).toBe(e.sql);
  });

  it('names the first line of the statement at an offset, or of the entry', () => {
    const { entries } = splitScript(SCRIPT);
    const [f, t] = entries as [NonNullable<(typeof entries)[0]>, NonNullable<(typeof entries)[0]>];
    expect(statementAt(f)).toBe('CREATE FUNCTION public.f(json json) RETURNS text');
    expect(statementAt(f, SCRIPT.indexOf('json json'))).toBe('CREATE FUNCTION public.f(json json) RETURNS text');
    expect(statementAt(t, SCRIPT.indexOf('OWNER TO someone'))).toBe('ALTER TABLE sales."Ünïcode tbl" OWNER TO someone;');
    expect(statementAt(t, SCRIPT.indexOf('id integer'))).toBe('CREATE TABLE sales."Ünïcode tbl" (');
  });
});
