// --include/--exclude over an archive's tables: the same patterns as a live copy (catalog/filter.ts) select
// which TABLE DATA entries are loaded and verified; the schema is restored whole, as a live copy with filters
// restores it (every table created, only the selected ones filled).
import { DUMP_EXCLUDED_SCHEMAS } from '../catalog/system.js';
import { compileFilter, requireIncludesMatched, type TableFilter } from '../catalog/filter.js';
import type { ArchiveTable } from './index.js';

export const hasFilter = (f: Partial<TableFilter> | undefined): boolean => Boolean(f?.include?.length || f?.exclude?.length);

/**
 * The tables of the archive a command handles: not those of schemas pgshift never copies, and with filters,
 * the selected ones; an --include that matches no table is refused (a typo would restore nothing and exit 0).
 */
export function selectArchiveTables(tables: ArchiveTable[], filter: Partial<TableFilter> | undefined, command: string): ArchiveTable[] {
  const mine = tables.filter((t) => !DUMP_EXCLUDED_SCHEMAS.includes(t.schema));
  if (!hasFilter(filter)) return mine;
  requireIncludesMatched(filter!, mine, command);
  const keep = compileFilter(filter);
  return mine.filter((t) => keep(t.schema, t.name));
}
