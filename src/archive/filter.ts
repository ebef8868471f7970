// --include/--exclude over an archive, as a live copy applies them (schema/filter.ts): a table left out is left
// out whole — its definition, rows, indexes, keys, triggers, policies, defaults, owned sequences, comments,
// grants, and what is built on it (views, materialized views) — found through the archive's own dependency
// graph; everything else (types, functions, schemas, other tables) is restored as usual. A foreign key of a
// kept table that points at a left-out one is refused up front, as a live copy's preflight refuses it.
import { DUMP_EXCLUDED_SCHEMAS } from '../catalog/system.js';
import { compileFilter, requireIncludesMatched, type TableFilter } from '../catalog/filter.js';
import { UsageError } from '../errors.js';
import type { Archive, ArchiveEntry, ArchiveTable } from './index.js';

export const hasFilter = (f: Partial<TableFilter> | undefined): boolean => Boolean(f?.include?.length || f?.exclude?.length);

export interface ArchiveSelection {
  /** The TABLE DATA entries loaded (and verified). */
  tables: ArchiveTable[];
  /** Dump ids of the entries left out (empty without filters). */
  excluded: Set<number>;
  /** Whether an entry (by its dump id) is restored. */
  keep(e: { dumpId: number }): boolean;
}

/** "schema.name" as pg_dump writes a qualified name in a definition: quoted only where needed. */
const sqlName = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : `"${s.replace(/"/g, '""')}"`);

/**
 * What a command restores or checks of the archive: not the schemas pgshift never copies, and with filters
 * only the selected tables; an --include that matches no table is refused (a typo would restore nothing).
 */
export function selectArchive(archive: Archive, filter: Partial<TableFilter> | undefined, command: string): ArchiveSelection {
  const mine = archive.tables.filter((t) => !DUMP_EXCLUDED_SCHEMAS.includes(t.schema));
  if (!hasFilter(filter)) return { tables: mine, excluded: new Set(), keep: () => true };
  const tableEntries = archive.entries.filter((e) => e.desc === 'TABLE' && !DUMP_EXCLUDED_SCHEMAS.includes(e.namespace ?? ''));
  requireIncludesMatched(
    filter!,
    tableEntries.map((e) => ({ schema: e.namespace ?? '', name: e.tag })),
    command,
  );
  const selected = compileFilter(filter);
  const left = tableEntries.filter((e) => !selected(e.namespace ?? '', e.tag));
  const dependents = new Map<number, ArchiveEntry[]>();
  for (const e of archive.entries) for (const d of e.dependencies) dependents.set(d, [...(dependents.get(d) ?? []), e]);
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  const excluded = new Set<number>();
  const leaveOut = (start: ArchiveEntry) => {
    const todo = [start];
    for (let e = todo.pop(); e; e = todo.pop()) {
      if (excluded.has(e.dumpId)) continue;
      // (A foreign key of a kept table reached here is refused below, never dropped silently.)
      excluded.add(e.dumpId);
      // A sequence owned by a left-out table goes with it (its OWNED BY entry names both).
      if (e.desc === 'SEQUENCE OWNED BY') for (const d of e.dependencies) if (byId.get(d)?.desc === 'SEQUENCE') todo.push(byId.get(d)!);
      todo.push(...(dependents.get(e.dumpId) ?? []));
    }
  };
  for (const t of left) leaveOut(t);
  // Foreign keys: one on a kept table that references a left-out table (by the archive's dependency or its text).
  const leftNames = new Set(left.map((e) => `${sqlName(e.namespace ?? '')}.${sqlName(e.tag)}`));
  for (const e of archive.entries.filter((x) => x.desc === 'FK CONSTRAINT')) {
    const own = e.dependencies.map((d) => byId.get(d)).find((d) => d?.desc === 'TABLE');
    const ownKept = own !== undefined && !excluded.has(own.dumpId);
    const target = /REFERENCES ((?:"(?:[^"]|"")*"|[^ ."(]+)\.(?:"(?:[^"]|"")*"|[^ ."(]+))\(/.exec(e.defn ?? '')?.[1];
    if (ownKept && (excluded.has(e.dumpId) || (target !== undefined && leftNames.has(target)))) {
      // A constraint's tag is "<table> <name>".
      const name = e.tag.startsWith(`${own.tag} `) ? e.tag.slice(own.tag.length + 1) : e.tag;
      throw new UsageError(
        `${command}: the foreign key ${name} of ${own.namespace}.${own.tag}, which is selected, references ${target ?? 'a table'} left out by --include/--exclude; nothing was done`,
        {
          phase: 'preflight',
          object: `${own.namespace}.${own.tag}`,
          hint: `select the referenced table too, or leave ${own.namespace}.${own.tag} out as well`,
        },
      );
    }
  }
  return {
    tables: mine.filter((t) => !excluded.has(t.dumpId)),
    excluded,
    keep: (e) => !excluded.has(e.dumpId),
  };
}
