// --include / --exclude patterns: "schema.table" with * and ? wildcards; a bare "name" matches the table in any schema.
import { UsageError } from '../errors.js';

export interface TableFilter {
  include: string[];
  exclude: string[];
}

function toRegex(pattern: string): RegExp {
  if (!pattern.trim()) throw new UsageError('empty --include/--exclude pattern', { hint: 'write a pattern like public.orders or sales.*' });
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

export function compileFilter(filter: Partial<TableFilter> = {}): (schema: string, name: string) => boolean {
  const inc = (filter.include ?? []).map((p) => ({ p, re: toRegex(p) }));
  const exc = (filter.exclude ?? []).map((p) => ({ p, re: toRegex(p) }));
  const matches = (list: typeof inc, schema: string, name: string) =>
    list.some(({ p, re }) => (p.includes('.') ? re.test(`${schema}.${name}`) : re.test(name)));
  return (schema, name) => (inc.length === 0 || matches(inc, schema, name)) && !matches(exc, schema, name);
}
