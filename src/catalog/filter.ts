// --include / --exclude patterns: "schema.table" with * and ? wildcards; a bare "name" matches the table in any schema.
import { UsageError } from '../errors.js';

export interface TableFilter {
  include: string[];
  exclude: string[];
}

function toRegex(pattern: string): RegExp {
  if (!pattern.trim()) throw new UsageError('empty --include/--exclude pattern', { hint: 'write a pattern like public.orders or sales.*' });
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

export function compileFilter(filter: Partial<TableFilter> = {}): (schema: string, name: string) => boolean {
  const inc = (filter.include ?? []).map((p) => ({ p, re: toRegex(p) }));
  const exc = (filter.exclude ?? []).map((p) => ({ p, re: toRegex(p) }));
  const matches = (list: typeof inc, schema: string, name: string) =>
    list.some(({ p, re }) => (p.includes('.') ? re.test(`${schema}.${name}`) : re.test(name)));
  return (schema, name) => (inc.length === 0 || matches(inc, schema, name)) && !matches(exc, schema, name);
}

/**
 * Every --include pattern must select something: a typo would otherwise give "Copied 0 tables" or "safe to
 * switch traffic" about nothing. Called by each command with the relations it lists (both sides for verify).
 */
export function requireIncludesMatched(filter: Partial<TableFilter>, relations: { schema: string; name: string }[], command: string): void {
  const unmatched = (filter.include ?? []).filter((p) => {
    const keep = compileFilter({ include: [p] });
    return !relations.some((r) => keep(r.schema, r.name));
  });
  if (unmatched.length === 0) return;
  const list = unmatched.map((p) => `"${p}"`).join(', ');
  const left = (filter.exclude ?? []).length ? ' left by --exclude' : '';
  throw new UsageError(`${command}: --include ${list} matches no table${left}; nothing was done`, {
    phase: 'preflight',
    hint: 'patterns are schema.table with * and ? wildcards (a bare name matches that table in any schema): check the spelling, or list the tables with pgshift inventory --source …',
  });
}
