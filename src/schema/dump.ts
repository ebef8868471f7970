// Schema through pg_dump (fidelity) under the copy's snapshot; restored by section with a filtered TOC list, so
// pgshift can build some post-data objects itself (indexes, keys) and skip what a target cannot take.
import { lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionSpec } from '../config.js';
import type { PgTools } from './pgdump.js';
import { runTool } from './run.js';
import { relayEnabled, startRelay, type RelayStats } from './relay/index.js';
import { PgshiftError } from '../errors.js';
import { DUMP_EXCLUDED_SCHEMAS } from '../catalog/system.js';
import { qualify, quoteIdent } from '../db/ident.js';

export interface DumpOptions {
  snapshot?: string;
  signal?: AbortSignal;
  /**
   * Tables left out by --exclude (tableKey form, as in Excluded.tables): pg_dump skips them too, so it neither locks
   * nor reads them and a table the migration role cannot read can be left out. The TOC filter still applies.
   */
  excludeTables?: Iterable<string>;
  /** What the pg_dump relay did (undefined: not used, PGSHIFT_PGDUMP_RELAY=off). */
  onRelayStats?: (stats: RelayStats | undefined) => void;
}

/** A pg_dump pattern matching exactly one table: both parts double-quoted, so no wildcard or case folding applies. */
export function exactTablePattern(schema: string, name: string): string {
  return qualify(schema, name);
}

/** Schema-only custom-format dump of the source (bytes, held in memory and in target state: schemas are small). */
export async function dumpSchema(tools: PgTools, source: ConnectionSpec, opts: DumpOptions = {}): Promise<Buffer> {
  const args = [
    '--schema-only',
    '--format=custom',
    // pgshift's own state/capture schemas, and Heroku's internal one (event-trigger plumbing a customer role can't recreate).
    ...DUMP_EXCLUDED_SCHEMAS.map((s) => `--exclude-schema=${s}`),
    '--no-publications',
    '--no-subscriptions',
    '--no-security-labels',
    '--no-tablespaces',
  ];
  for (const key of opts.excludeTables ?? []) {
    const [schema, name] = JSON.parse(key) as [string, string];
    args.push(`--exclude-table=${exactTablePattern(schema, name)}`);
  }
  if (opts.snapshot) args.push(`--snapshot=${opts.snapshot}`);
  // Through the relay (relay/index.ts): pg_dump's per-table locks and per-sequence reads stop costing a round trip each.
  const relay = relayEnabled() ? await startRelay(source) : undefined;
  try {
    const { stdout } = await runTool(tools.pgDump, args, source, 'schema dump (pg_dump)', opts.signal, relay);
    // A reply the relay answered for that the server then contradicted fails the dump even if pg_dump did not.
    const failed = relay?.failure();
    if (failed) throw failed;
    opts.onRelayStats?.(relay?.stats());
    return stdout;
  } catch (err) {
    throw relay?.failure() ?? err;
  } finally {
    relay?.close();
  }
}

export interface TocEntry {
  line: string;
  dumpId: number;
  oid: number;
  desc: string;
  schema: string;
  rest: string;
}

// The TOC entry types pg_restore prints; the longest first so "FK CONSTRAINT" wins over "CONSTRAINT".
const DESCS = [
  'MATERIALIZED VIEW DATA',
  'DEFAULT ACL',
  'EVENT TRIGGER',
  'FK CONSTRAINT',
  'CHECK CONSTRAINT',
  'SEQUENCE OWNED BY',
  'SEQUENCE SET',
  'TABLE ATTACH',
  'INDEX ATTACH',
  'TABLE DATA',
  'ROW SECURITY',
  'MATERIALIZED VIEW',
  'FOREIGN TABLE',
  'LARGE OBJECT',
  'BLOB',
  'BLOBS',
  'COMMENT',
  'CONSTRAINT',
  'DEFAULT',
  'EXTENSION',
  'FUNCTION',
  'INDEX',
  'POLICY',
  'PROCEDURE',
  'RULE',
  'SCHEMA',
  'SEQUENCE',
  'TABLE',
  'TRIGGER',
  'TYPE',
  'DOMAIN',
  'VIEW',
  'ACL',
  'AGGREGATE',
  'COLLATION',
  'CONVERSION',
  'OPERATOR',
  'STATISTICS',
  'TEXT SEARCH',
  'SERVER',
  'USER MAPPING',
  'FOREIGN DATA WRAPPER',
  'CAST',
  'TRANSFORM',
  'PUBLICATION',
  'SUBSCRIPTION',
  'SHELL TYPE',
  'ACCESS METHOD',
].sort((a, b) => b.length - a.length);

/** Parse `pg_restore -l` output: "123; 1259 16386 TABLE public users owner". */
export function parseToc(list: string): TocEntry[] {
  const out: TocEntry[] = [];
  for (const line of list.split('\n')) {
    const m = /^(\d+); (\d+) (\d+) (.*)$/.exec(line);
    if (!m) continue;
    const tail = m[4]!;
    const desc = DESCS.find((d) => tail.startsWith(`${d} `)) ?? tail.split(' ')[0]!;
    const after = tail.slice(desc.length + 1);
    const sp = after.indexOf(' ');
    out.push({ line, dumpId: Number(m[1]), oid: Number(m[3]), desc, schema: after.slice(0, sp), rest: after.slice(sp + 1) });
  }
  return out;
}

export interface RestoreOptions {
  section: 'pre-data' | 'post-data';
  /** Keep only the TOC entries this returns true for. */
  keep?: (e: TocEntry) => boolean;
  keepOwner?: boolean;
  keepAcl?: boolean;
  /**
   * The role the source was dumped as. Without keepOwner, its DEFAULT ACL entries apply to the target's role,
   * which owns what is restored (pg_restore --no-owner keeps "FOR ROLE <source role>", a role the target's
   * owner is usually not a member of).
   */
  sourceRole?: string;
  signal?: AbortSignal;
}

const DUMP_DIR_PREFIX = 'pgshift-dump-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A dump held in a private temp folder for pg_restore (it needs a seekable file for -l/-L). */
export class DumpFile {
  readonly dir = mkdtempSync(join(tmpdir(), `${DUMP_DIR_PREFIX}${process.pid}-`));
  readonly path = join(this.dir, 'schema.dump');
  constructor(readonly bytes: Buffer) {
    writeFileSync(this.path, bytes, { mode: 0o600 });
  }
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Remove folders left by runs that were killed (SIGKILL, forced exit) before they could dispose of them: only
   * real folders of the current OS user (never another user's, never a symlink); one that cannot be removed is
   * reported through `warn` and left, it never fails the run.
   */
  static removeStale(warn: (message: string) => void = () => undefined): void {
    let names: string[] = [];
    const dir = tmpdir();
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
    for (const n of names) {
      const m = new RegExp(`^${DUMP_DIR_PREFIX}(\\d+)-`).exec(n);
      if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
      const path = join(dir, n);
      try {
        const st = lstatSync(path);
        if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
        rmSync(path, { recursive: true, force: true });
      } catch (err) {
        warn(`copy: could not remove ${path}, a schema dump folder left by an earlier run (${(err as Error).message}); remove it by hand`);
      }
    }
  }
}

/** The dump's TOC entries in restore order; with a section, only that section's (pg_restore -l --section). */
export async function listToc(tools: PgTools, dump: DumpFile, target: ConnectionSpec, section?: RestoreOptions['section']): Promise<TocEntry[]> {
  const args = section ? ['-l', `--section=${section}`, dump.path] : ['-l', dump.path];
  const { stdout } = await runTool(tools.pgRestore, args, target, 'schema (pg_restore -l)');
  return parseToc(stdout.toString('utf8'));
}

/**
 * The SQL of one section, as pg_restore writes it for the kept TOC entries. pgshift runs it itself, in one
 * transaction together with its own "step done" mark, so a crash can never leave a section applied but
 * unrecorded (a resume would then trip over "already exists").
 */
export async function sectionSql(tools: PgTools, dump: DumpFile, target: ConnectionSpec, toc: TocEntry[], opts: RestoreOptions): Promise<string> {
  const entries = opts.keep ? toc.filter(opts.keep) : toc;
  const listPath = join(dump.dir, `${opts.section}.list`);
  writeFileSync(listPath, entries.map((e) => e.line).join('\n') + '\n');
  // No --section: the list already selects. With it, pg_restore takes a dependent entry's section (COMMENT, ACL,
  // SECURITY LABEL) from the entry before it in the list, and silently skips one that opens a batch (issue #23).
  const args = ['-L', listPath, '--file=-'];
  if (!opts.keepOwner) args.push('--no-owner');
  if (!opts.keepAcl) args.push('--no-acl');
  args.push(dump.path);
  const { stdout } = await runTool(tools.pgRestore, args, target, `schema ${opts.section} (pg_restore)`, opts.signal);
  let sql = stripPsqlRestrict(stdout.toString('utf8'));
  if (!opts.keepOwner && opts.sourceRole !== undefined) sql = defaultAclsForTargetRole(sql, opts.sourceRole);
  // Every entry given must come back: one pg_restore left out would be lost while copy exits 0.
  const expected = entries.filter((e) => opts.keepAcl || !ACL_DESCS.has(e.desc)).length;
  const rendered = renderedEntries(sql);
  if (rendered < expected) {
    throw new PgshiftError(
      `schema ${opts.section}: pg_restore rendered ${rendered} of the ${expected} entries it was given (first: ${entries[0]?.desc ?? '?'} ${entries[0]?.schema ?? ''} ${entries[0]?.rest.split(' ')[0] ?? ''}); nothing of this batch was applied`,
      {
        phase: `schema ${opts.section}`,
        hint: 'this is a pgshift bug: report it with the pg_restore version (pg_restore --version); copy with pg_dump | pg_restore meanwhile',
      },
    );
  }
  return sql;
}

/** "ALTER DEFAULT PRIVILEGES FOR ROLE <role> …" → "ALTER DEFAULT PRIVILEGES …" (the current role's) for `role`. */
export function defaultAclsForTargetRole(sql: string, role: string): string {
  const plain = /^[a-z_][a-z0-9_$]*$/.test(role) ? role : null;
  const quoted = quoteIdent(role);
  const names = [quoted, ...(plain ? [plain] : [])].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return sql.replace(new RegExp(`^ALTER DEFAULT PRIVILEGES FOR ROLE (?:${names.join('|')}) `, 'gm'), 'ALTER DEFAULT PRIVILEGES ');
}

/** TOC entries --no-acl leaves out. */
const ACL_DESCS = new Set(['ACL', 'DEFAULT ACL']);

/** How many TOC entries a pg_restore script holds: each begins with its "-- Name: …; Type: …" header. */
export function renderedEntries(sql: string): number {
  return sql.match(/^-- (?:Data for )?Name: .*; Type: /gm)?.length ?? 0;
}

/**
 * pg_dump/pg_restore from the 2025 security releases wrap scripts in psql's \restrict KEY … \unrestrict KEY
 * (meta-commands that stop a malicious server from injecting psql commands). pgshift sends the SQL over the
 * protocol, where no meta-command runs, so the two marker lines — and only those — are removed.
 */
export function stripPsqlRestrict(sql: string): string {
  const m = /^\\restrict ([A-Za-z0-9]+)\n/m.exec(sql);
  if (!m) return sql;
  return sql.replace(m[0], '').replace(new RegExp(`^\\\\unrestrict ${m[1]}\\n?`, 'm'), '');
}
