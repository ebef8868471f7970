// Extensions on a target pgshift does not own. On managed targets the owner role is no superuser, so the
// provider's admin creates extensions for it: they exist before the copy, owned by another role. pg_dump's
// `CREATE EXTENSION IF NOT EXISTS` then does nothing, but `COMMENT ON EXTENSION` needs the extension's owner.
// Checked before anything is written: a statement the target role may not run is skipped (with a warning) when
// the target already has what it would set; anything that really differs fails with the statement and remedy.
import type { Client } from '../db/connect.js';
import { quoteIdent, quoteLiteral } from '../db/ident.js';
import { PermissionError, UsageError } from '../errors.js';
import type { TocEntry } from './dump.js';
import { parseObjectTag } from './toc-tag.js';

export interface ExtensionCheck {
  /** Extensions whose COMMENT entry is left out: the target already has the same comment, set by its owner. */
  skipComment: Set<string>;
  /** Schemas that already exist on the target (an admin made them to install extensions into): CREATE SCHEMA is
   * left out, and so is COMMENT ON SCHEMA when the target role does not own them and the comment already matches. */
  skipSchema: Set<string>;
  skipSchemaComment: Set<string>;
  warnings: string[];
}

export interface SourceExtension {
  name: string;
  schema: string;
  comment: string | null;
}

export interface SourceSchema {
  name: string;
  comment: string | null;
  /** It holds objects of its own (not only extension members): the target role must be able to create in it. */
  objects: boolean;
}

interface TargetExtension {
  name: string;
  schema: string;
  owner: string;
  mayAlter: boolean;
  comment: string | null;
}

/** What the source (a live database, or an archive's TOC) has: its extensions and its schemas other than public. */
export interface SourceObjects {
  extensions: SourceExtension[];
  schemas: SourceSchema[];
}

export async function checkExtensions(src: Client, tgt: Client, targetDisplay: string): Promise<ExtensionCheck> {
  // The extensions pg_dump writes: not those installed by initdb (plpgsql), which it leaves out.
  const { rows: extensions } = await src.query<SourceExtension>(
    `SELECT e.extname AS name, n.nspname AS schema, obj_description(e.oid, 'pg_extension') AS comment
       FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
      WHERE e.oid >= 16384 ORDER BY 1`,
  );
  return checkExtensionsAgainst({ extensions, schemas: await sourceSchemas(src) }, tgt, targetDisplay);
}

/** The checks above against what the source has, however it was read. */
export async function checkExtensionsAgainst(src: SourceObjects, tgt: Client, targetDisplay: string): Promise<ExtensionCheck> {
  const check: ExtensionCheck = { skipComment: new Set(), skipSchema: new Set(), skipSchemaComment: new Set(), warnings: [] };
  await checkSchemas(src.schemas, tgt, targetDisplay, check);
  const source = src.extensions;
  if (source.length === 0) return check;
  const names = source.map((e) => e.name);
  const { rows: present } = await tgt.query<TargetExtension>(
    `SELECT e.extname AS name, n.nspname AS schema, pg_get_userbyid(e.extowner) AS owner,
            pg_has_role(e.extowner, 'USAGE') AS "mayAlter", obj_description(e.oid, 'pg_extension') AS comment
       FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = ANY($1::text[])`,
    [names],
  );
  const { rows: available } = await tgt.query<{ name: string; trusted: boolean; superuser: boolean; creator: boolean }>(
    `SELECT a.name, bool_or(v.trusted) AS trusted, bool_or(v.superuser) AS superuser,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS creator
       FROM pg_available_extensions a JOIN pg_available_extension_versions v ON v.name = a.name
      WHERE a.name = ANY($1::text[]) GROUP BY a.name`,
    [names],
  );
  const onTarget = new Map(present.map((e) => [e.name, e] as const));
  const installable = new Map(available.map((e) => [e.name, e] as const));
  const missing: string[] = [];
  const needSuperuser: string[] = [];
  for (const ext of source) {
    const there = onTarget.get(ext.name);
    if (!there) {
      const a = installable.get(ext.name);
      if (!a) missing.push(ext.name);
      else if (!a.creator && a.superuser && !a.trusted) needSuperuser.push(ext.name);
      continue;
    }
    if (there.schema !== ext.schema) {
      throw new UsageError(
        `preflight: extension ${ext.name} is already installed on the target ${targetDisplay} in schema ${there.schema}, the source has it in schema ${ext.schema}; nothing was changed`,
        {
          phase: 'preflight',
          object: `extension ${ext.name}`,
          hint: `on the target, as ${there.owner} (the extension's owner): ALTER EXTENSION ${quoteIdent(ext.name)} SET SCHEMA ${quoteIdent(ext.schema)}; — or DROP EXTENSION ${quoteIdent(ext.name)} so that pgshift creates it — then re-run`,
        },
      );
    }
    if (there.mayAlter || (there.comment ?? null) === (ext.comment ?? null)) {
      if (!there.mayAlter) {
        check.skipComment.add(ext.name);
        check.warnings.push(
          `copy: extension ${ext.name} was already installed on the target by ${there.owner}; its comment already matches the source's, so COMMENT ON EXTENSION (which only ${there.owner} may run) is skipped`,
        );
      }
      continue;
    }
    const statement = `COMMENT ON EXTENSION ${quoteIdent(ext.name)} IS ${ext.comment === null ? 'NULL' : quoteLiteral(ext.comment)}`;
    throw new PermissionError(
      `preflight: extension ${ext.name} on the target ${targetDisplay} belongs to ${there.owner} and its comment differs from the source's; the copy would run "${statement}", which only ${there.owner} may run; nothing was changed`,
      { phase: 'preflight', object: `extension ${ext.name}`, hint: `on the target, as ${there.owner}: ${statement}; then re-run` },
    );
  }
  if (missing.length) {
    throw new UsageError(
      `preflight: the source uses extension(s) ${missing.join(', ')}, which the target server ${targetDisplay} does not offer; nothing was changed`,
      {
        phase: 'preflight',
        object: `extension ${missing[0]}`,
        hint: `choose a target plan/server that provides ${missing.join(', ')} (or drop them on the source if unused), then re-run`,
      },
    );
  }
  if (needSuperuser.length) {
    throw new PermissionError(
      `preflight: extension(s) ${needSuperuser.join(', ')} need a superuser to be created on the target ${targetDisplay}, and the target role is none; nothing was changed`,
      {
        phase: 'preflight',
        object: `extension ${needSuperuser[0]}`,
        hint: `ask the target's administrator to run ${needSuperuser.map((n) => `CREATE EXTENSION ${quoteIdent(n)}`).join('; ')} in the target database (pgshift then uses them as they are), then re-run`,
      },
    );
  }
  return check;
}

/**
 * Schemas of the source that already exist on the target. requireEmptyTarget has let the target through, so they
 * hold nothing but extensions; pg_dump's CREATE SCHEMA (no IF NOT EXISTS) would fail on them.
 */
async function sourceSchemas(src: Client): Promise<SourceSchema[]> {
  const { rows } = await src.query<SourceSchema>(
    `SELECT n.nspname AS name, obj_description(n.oid, 'pg_namespace') AS comment,
            EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'))
         OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = n.oid AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'))
         OR EXISTS (SELECT 1 FROM pg_type t WHERE t.typnamespace = n.oid AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype IN ('e', 'i'))) AS objects
       FROM pg_namespace n
      WHERE n.nspname NOT IN ('public', 'pg_catalog', 'information_schema', 'pgshift', '_pgshift', '_heroku') AND n.nspname !~ '^pg_'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')`,
  );
  return rows;
}

async function checkSchemas(source: SourceSchema[], tgt: Client, targetDisplay: string, check: ExtensionCheck): Promise<void> {
  if (source.length === 0) return;
  const { rows: present } = await tgt.query<{ name: string; owner: string; mayAlter: boolean; mayCreate: boolean; comment: string | null }>(
    `SELECT nspname AS name, pg_get_userbyid(nspowner) AS owner, pg_has_role(nspowner, 'USAGE') AS "mayAlter",
            has_schema_privilege(oid, 'CREATE') AS "mayCreate", obj_description(oid, 'pg_namespace') AS comment
       FROM pg_namespace WHERE nspname = ANY($1::text[])`,
    [source.map((n) => n.name)],
  );
  const bySource = new Map(source.map((n) => [n.name, n] as const));
  for (const there of present) {
    const ns = bySource.get(there.name)!;
    if (ns.objects && !there.mayCreate) {
      throw new PermissionError(
        `preflight: schema ${there.name} already exists on the target ${targetDisplay}, owned by ${there.owner}, and the target role may not create the source's objects in it; nothing was changed`,
        {
          phase: 'preflight',
          object: `schema ${there.name}`,
          hint: `on the target, as ${there.owner}: GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(there.name)} TO <target role>; then re-run`,
        },
      );
    }
    check.skipSchema.add(there.name);
    let note = `copy: schema ${there.name} already exists on the target (owned by ${there.owner}): used as it is, CREATE SCHEMA skipped`;
    if (!there.mayAlter && (there.comment ?? null) !== (ns.comment ?? null)) {
      const statement = `COMMENT ON SCHEMA ${quoteIdent(there.name)} IS ${ns.comment === null ? 'NULL' : quoteLiteral(ns.comment)}`;
      throw new PermissionError(
        `preflight: schema ${there.name} on the target ${targetDisplay} belongs to ${there.owner} and its comment differs from the source's; the copy would run "${statement}", which only ${there.owner} may run; nothing was changed`,
        {
          phase: 'preflight',
          object: `schema ${there.name}`,
          hint: `on the target, as ${there.owner}: ${statement}; then re-run`,
        },
      );
    }
    if (!there.mayAlter) {
      check.skipSchemaComment.add(there.name);
      if (ns.comment !== null) note += '; its comment already matches';
    }
    check.warnings.push(note);
  }
}

/** A pre-data TOC entry left out because of the checks above. */
export function skippedByExtensionCheck(check: ExtensionCheck | undefined, e: TocEntry): boolean {
  if (!check) return false;
  if (e.desc === 'SCHEMA') return check.skipSchema.has(e.rest.slice(0, Math.max(0, e.rest.lastIndexOf(' '))));
  if (e.desc !== 'COMMENT') return false;
  const tag = parseObjectTag(e.rest);
  if (tag?.kind === 'EXTENSION') return check.skipComment.has(tag.names[0]!);
  if (tag?.kind === 'SCHEMA') return check.skipSchemaComment.has(tag.names[0]!);
  return false;
}
