// verify --source FILE, the schema: every object the archive's pre-data and post-data would create (what
// `pg_restore -s` restores) must be on the target. The target is dumped schema-only by pg_dump in the same
// archive format and both tables of contents are compared entry by entry — by type, schema and name (a
// missing index, key, trigger or comment is named) and by definition (normalized as verify's live schema
// comparison does: trailing blanks, and across majors what each prints differently for the same object).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionSpec } from '../config.js';
import { DUMP_EXCLUDED_SCHEMAS } from '../catalog/system.js';
import { withClient, serverMajor } from '../db/connect.js';
import { pickPgTools, type PgTools } from '../schema/pgdump.js';
import { UsageError } from '../errors.js';
import { presenceOnTarget } from './schema-presence.js';
import { runTool } from '../schema/run.js';
import { dialects, type Dialects } from '../verify/neutral.js';
import { sameMeaning } from '../verify/schema.js';
import { readToc, type ArchiveEntry } from './format.js';
import type { Archive } from './index.js';

export interface ArchiveSchemaDifference {
  /** The archive's entry type: INDEX, CONSTRAINT, COMMENT, TABLE, … */
  kind: string;
  /** schema.tag as pg_restore -l prints it ("public events_at", a comment's "TABLE accounts"). */
  object: string;
  difference: 'missing' | 'extra' | 'different';
  /** A definition that differs only between two majors' pg_dump is reported, not failed. */
  severity: 'difference' | 'note';
  archive: string | null;
  target: string | null;
}

export interface ArchiveSchemaCheck {
  compared: number;
  differences: ArchiveSchemaDifference[];
  /** What the comparison leaves out, said in the report. */
  notCompared: string[];
}

/** Entries that are not schema objects, or that copy leaves out by default (grants) or always (event triggers). */
const SKIPPED = new Set([
  'ENCODING',
  'STDSTRINGS',
  'SEARCHPATH',
  'DATABASE',
  'DATABASE PROPERTIES',
  'ACL',
  'DEFAULT ACL',
  'EVENT TRIGGER',
  'TABLE DATA',
  'SEQUENCE SET',
  'BLOBS',
  'BLOB',
  'BLOB METADATA',
  'LARGE OBJECT',
  'MATERIALIZED VIEW DATA',
  'PUBLICATION',
  'PUBLICATION TABLE',
  'PUBLICATION TABLES IN SCHEMA',
  'SUBSCRIPTION',
  'SUBSCRIPTION TABLE',
  'SECURITY LABEL',
]);

export const ARCHIVE_SCHEMA_NOT_COMPARED = [
  'grants and owners (copy restores with --no-acl --no-owner unless told otherwise)',
  'event triggers (a superuser’s; copy leaves them out)',
  'publications, subscriptions, security labels',
];

const compared = (e: ArchiveEntry, keep: (e: ArchiveEntry) => boolean) =>
  // Comments (and grants) are in no section of their own (1): they follow their object.
  (e.section === 1 || e.section === 2 || e.section === 4) &&
  !SKIPPED.has(e.desc) &&
  !DUMP_EXCLUDED_SCHEMAS.includes(e.namespace ?? '') &&
  !(e.desc === 'SCHEMA' && DUMP_EXCLUDED_SCHEMAS.includes(e.tag)) &&
  keep(e);

const keyOf = (e: ArchiveEntry) => `${e.desc}\u0000${e.namespace ?? '-'}\u0000${e.tag}`;

/** As verify's live comparison: only trailing blanks; and pg_dump's session lines and "--" remarks are not the object. */
function normalize(defn: string | null): string {
  return (defn ?? '')
    .split('\n')
    .filter((l) => !/^\s*--/.test(l))
    .join('\n')
    .replace(/[ \t]+$/gm, '')
    .trim();
}

const major = (version: string | null) => Number(/^(\d+)/.exec(version ?? '')?.[1] ?? 0);

/**
 * The archive's schema entries (those `keep` selects) against a schema-only dump of the target; `dir` is a private
 * temp folder for that dump.
 */
export async function compareArchiveSchema(
  archive: Archive,
  keep: (e: ArchiveEntry) => boolean,
  target: ConnectionSpec,
  dir: string,
  pgBin?: string,
): Promise<ArchiveSchemaCheck> {
  const { targetMajor, words } = await withClient(
    target,
    async (c) => ({
      targetMajor: await serverMajor(c),
      words: (await c.query<{ word: string }>(`SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'`)).rows.map((r) => r.word),
    }),
    { applicationName: 'pgshift verify schema' },
  );
  // A pg_dump at least as new as the target's server; without one, each object is looked up in its catalog.
  let tools: PgTools;
  try {
    tools = pickPgTools(targetMajor, pgBin);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return byCatalog(archive, keep, target, targetMajor);
  }
  const file = join(dir, 'target-schema.dump');
  await runTool(
    tools.pgDump,
    ['--schema-only', '--format=custom', `--file=${file}`, ...DUMP_EXCLUDED_SCHEMAS.map((s) => `--exclude-schema=${s}`)],
    target,
    'verify schema (pg_dump of the target)',
  );
  // The target's entries have dump ids of their own: a left-out object is recognized by its key.
  const leftOut = new Set(archive.entries.filter((e) => !keep(e)).map(keyOf));
  const theirs = new Map(
    readToc(file, statSync(file).size)
      .entries.filter((e) => compared(e, () => !leftOut.has(keyOf(e))))
      .map((e) => [keyOf(e), e]),
  );
  const ours = new Map(archive.entries.filter((e) => compared(e, keep)).map((e) => [keyOf(e), e]));
  const majors = { source: major(archive.header.serverVersion), target: targetMajor };
  const sameTools = major(archive.header.pgDumpVersion) === tools.major && majors.source === majors.target;
  const d: Dialects = dialects(words, words, majors);
  const differences: ArchiveSchemaDifference[] = [];
  for (const key of [...new Set([...ours.keys(), ...theirs.keys()])].sort()) {
    const a = ours.get(key);
    const b = theirs.get(key);
    const row = (a ?? b)!;
    const object = `${row.namespace ? `${row.namespace} ` : ''}${row.tag}`;
    if (!a || !b) {
      differences.push({
        kind: row.desc,
        object,
        difference: b ? 'extra' : 'missing',
        severity: 'difference',
        archive: a?.defn ?? null,
        target: b?.defn ?? null,
      });
      continue;
    }
    const [x, y] = [normalize(a.defn), normalize(b.defn)];
    if (x === y) continue;
    if (sameMeaning(row.desc.toLowerCase(), x, y, d, majors)) continue;
    differences.push({ kind: row.desc, object, difference: 'different', severity: sameTools ? 'difference' : 'note', archive: x, target: y });
  }
  return { compared: ours.size, differences, notCompared: ARCHIVE_SCHEMA_NOT_COMPARED };
}

/** Presence by catalog lookups (schema-presence.ts): when no pg_dump here can dump the target. */
async function byCatalog(archive: Archive, keep: (e: ArchiveEntry) => boolean, target: ConnectionSpec, targetMajor: number): Promise<ArchiveSchemaCheck> {
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  const entries = archive.entries.filter((e) => compared(e, keep));
  const p = await withClient(target, (c) => presenceOnTarget(c, entries, byId), { applicationName: 'pgshift verify schema' });
  const object = (e: ArchiveEntry) => `${e.namespace ? `${e.namespace} ` : ''}${e.tag}`;
  return {
    compared: p.looked,
    differences: [
      ...p.missing.map((e) => ({
        kind: e.desc,
        object: object(e),
        difference: 'missing' as const,
        severity: 'difference' as const,
        archive: e.defn,
        target: null,
      })),
      ...p.different.map((d) => ({
        kind: d.entry.desc,
        object: object(d.entry),
        difference: 'different' as const,
        severity: 'difference' as const,
        archive: d.archive,
        target: d.target,
      })),
    ],
    notCompared: [
      ...ARCHIVE_SCHEMA_NOT_COMPARED,
      `definitions, and ${entries.length - p.looked} objects of other kinds (operators, casts, collations…): only presence is checked, by name, since no pg_dump ${targetMajor} or newer was found to dump the target (install it to compare definitions too)`,
    ],
  };
}
