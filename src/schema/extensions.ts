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
  warnings: string[];
}

interface SourceExtension {
  name: string;
  schema: string;
  comment: string | null;
}

interface TargetExtension {
  name: string;
  schema: string;
  owner: string;
  mayAlter: boolean;
  comment: string | null;
}

export async function checkExtensions(src: Client, tgt: Client, targetDisplay: string): Promise<ExtensionCheck> {
  const check: ExtensionCheck = { skipComment: new Set(), warnings: [] };
  // The extensions pg_dump writes: not those installed by initdb (plpgsql), which it leaves out.
  const { rows: source } = await src.query<SourceExtension>(
    `SELECT e.extname AS name, n.nspname AS schema, obj_description(e.oid, 'pg_extension') AS comment
       FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
      WHERE e.oid >= 16384 ORDER BY 1`,
  );
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
        check.warnings.push(`copy: extension ${ext.name} was already installed on the target by ${there.owner}; its comment already matches the source's, so COMMENT ON EXTENSION (which only ${there.owner} may run) is skipped`);
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
    throw new UsageError(`preflight: the source uses extension(s) ${missing.join(', ')}, which the target server ${targetDisplay} does not offer; nothing was changed`, {
      phase: 'preflight',
      object: `extension ${missing[0]}`,
      hint: `choose a target plan/server that provides ${missing.join(', ')} (or drop them on the source if unused), then re-run`,
    });
  }
  if (needSuperuser.length) {
    throw new PermissionError(`preflight: extension(s) ${needSuperuser.join(', ')} need a superuser to be created on the target ${targetDisplay}, and the target role is none; nothing was changed`, {
      phase: 'preflight',
      object: `extension ${needSuperuser[0]}`,
      hint: `ask the target's administrator to run ${needSuperuser.map((n) => `CREATE EXTENSION ${quoteIdent(n)}`).join('; ')} in the target database (pgshift then uses them as they are), then re-run`,
    });
  }
  return check;
}

/** A pre-data TOC entry left out because of the check above. */
export function skippedByExtensionCheck(check: ExtensionCheck | undefined, e: TocEntry): boolean {
  if (!check || e.desc !== 'COMMENT' || check.skipComment.size === 0) return false;
  const tag = parseObjectTag(e.rest);
  return tag?.kind === 'EXTENSION' && check.skipComment.has(tag.names[0]!);
}
