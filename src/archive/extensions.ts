// What an archive says about extensions and schemas, in the shape the live copy's extension check reads
// (src/schema/extensions.ts): so an archive restored into a managed target, whose admin installed the
// extensions beforehand, skips what only their owner may run, exactly as a live copy does.
import { DUMP_EXCLUDED_SCHEMAS } from '../catalog/system.js';
import type { SourceObjects } from '../schema/extensions.js';
import type { ArchiveEntry } from './format.js';

/** pg_dump's fmtId: a name as written, double quotes removed. */
function unquote(name: string): string {
  return name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name;
}

/** The text a COMMENT statement sets ("… IS 'text';"), or null for IS NULL / what cannot be read. */
export function commentText(defn: string | null): string | null {
  const m = /\bIS (E?)'((?:[^'\\]|''|\\.)*)';\s*$/s.exec(defn ?? '');
  if (!m) return null;
  const body = m[2]!.replace(/''/g, "'");
  return m[1] ? body.replace(/\\(.)/g, '$1') : body;
}

export function sourceObjectsOf(entries: ArchiveEntry[]): SourceObjects {
  const comments = new Map(entries.filter((e) => e.desc === 'COMMENT').map((e) => [e.tag, commentText(e.defn)] as const));
  const extensions = entries
    .filter((e) => e.desc === 'EXTENSION')
    .map((e) => ({
      name: e.tag,
      schema: unquote(/WITH SCHEMA ("(?:[^"]|"")*"|[^\s;]+)/.exec(e.defn ?? '')?.[1] ?? 'public'),
      comment: comments.get(`EXTENSION ${e.tag}`) ?? null,
    }));
  const schemas = entries
    .filter((e) => e.desc === 'SCHEMA' && e.tag !== 'public' && !DUMP_EXCLUDED_SCHEMAS.includes(e.tag))
    .map((e) => ({
      name: e.tag,
      comment: comments.get(`SCHEMA ${e.tag}`) ?? null,
      objects: entries.some((x) => x.namespace === e.tag && x.desc !== 'COMMENT' && x.desc !== 'ACL'),
    }));
  return { extensions, schemas };
}
