// Choosing the pg_dump/pg_restore pair (issue #23.2): --pg-bin (or PGSHIFT_PG_BIN) when given, else the newest
// major found on this machine. Its major must be at least the source's (an older pg_dump refuses to dump a newer
// server); older than the target's is a risk, not a refusal (see olderThanTarget). pg_dump and pg_restore always
// come from the same folder.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { basename, delimiter, join, sep } from 'node:path';
import { UsageError } from '../errors.js';

export interface PgTools {
  dir: string;
  pgDump: string;
  pgRestore: string;
  major: number;
  version: string;
}

function versionOf(binary: string): { major: number; version: string } | undefined {
  try {
    const out = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 5000 });
    const m = /(\d+)(?:\.(\d+))?/.exec(out.replace(/^[^)]*\)/, ''));
    return m ? { major: Number(m[1]), version: m[0] } : undefined;
  } catch {
    return undefined;
  }
}

function isDebianWrapper(binary: string): boolean {
  try {
    return basename(realpathSync(binary)) === 'pg_wrapper';
  } catch {
    return false;
  }
}

/** Where to look besides --pg-bin (tests pass their own, so they do not depend on what this machine has). */
export interface SearchPlaces {
  path: string;
  /** Folders that may hold a pair; one `*` in a path component matches every entry there (a version). */
  patterns: string[];
}

/** The usual install places: Debian/Ubuntu, RHEL/Fedora (PGDG), Homebrew (Apple silicon and Intel), Postgres.app. */
export const INSTALL_PLACES = [
  '/usr/lib/postgresql/*/bin',
  '/usr/pgsql-*/bin',
  '/opt/homebrew/opt/libpq/bin',
  '/usr/local/opt/libpq/bin',
  '/opt/homebrew/opt/postgresql@*/bin',
  '/usr/local/opt/postgresql@*/bin',
  '/Applications/Postgres.app/Contents/Versions/*/bin',
];

const MACHINE: () => SearchPlaces = () => ({ path: process.env.PATH ?? '', patterns: INSTALL_PLACES });

/** The folders a pattern names: `/usr/pgsql-*\/bin` → every `/usr/pgsql-<v>/bin` present. */
export function expandPattern(pattern: string): string[] {
  const parts = pattern.split(sep);
  const i = parts.findIndex((p) => p.includes('*'));
  if (i < 0) return [pattern];
  const parent = parts.slice(0, i).join(sep) || sep;
  const [prefix, suffix] = parts[i]!.split('*') as [string, string];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && n.endsWith(suffix ?? '') && n.length >= prefix.length + (suffix ?? '').length)
    .sort()
    .map((n) => [parent, n, ...parts.slice(i + 1)].join(sep));
}

function pairIn(dir: string, skipDebianWrapper: boolean): PgTools | undefined {
  const pgDump = join(dir, 'pg_dump');
  const pgRestore = join(dir, 'pg_restore');
  if (!existsSync(pgDump) || !existsSync(pgRestore)) return undefined;
  // Debian's /usr/bin/pg_dump is a Perl wrapper (~50 ms of CPU per call) around the binaries in
  // /usr/lib/postgresql/N/bin, which are scanned anyway: use those directly.
  if (skipDebianWrapper && isDebianWrapper(pgDump)) return undefined;
  const v = versionOf(pgDump);
  return v ? { dir, pgDump, pgRestore, ...v } : undefined;
}

/** Every pg_dump/pg_restore pair on this machine (PATH and the install places), newest first. */
export function findPgTools(where: SearchPlaces = MACHINE()): PgTools[] {
  const dirs = [...where.path.split(delimiter).filter(Boolean), ...where.patterns.flatMap(expandPattern)];
  const debianScanned = where.patterns.some((p) => p.startsWith('/usr/lib/postgresql/')) && existsSync('/usr/lib/postgresql');
  const seen = new Set<string>();
  const found: PgTools[] = [];
  for (const dir of dirs) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    const t = pairIn(dir, debianScanned);
    if (t) found.push(t);
  }
  // Newest first; among equal majors the first found (PATH before the install places).
  return found
    .map((t, i) => ({ t, i }))
    .sort((a, b) => b.t.major - a.t.major || a.i - b.i)
    .map(({ t }) => t);
}

/** What to install to get pg_dump/pg_restore of this major, on each platform. */
export function installHint(major: number): string {
  return [
    `install the PostgreSQL ${major} client tools —`,
    `Debian/Ubuntu: add the PGDG apt repository (sudo apt-get install -y postgresql-common && sudo /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh), then sudo apt-get install postgresql-client-${major} (found in /usr/lib/postgresql/${major}/bin);`,
    `macOS: brew install libpq (pg_dump in /opt/homebrew/opt/libpq/bin, /usr/local/opt/libpq/bin on Intel);`,
    `RHEL/Fedora: the PGDG yum repository, then dnf install postgresql${major} (/usr/pgsql-${major}/bin);`,
    `or pass --pg-bin DIR (or set PGSHIFT_PG_BIN) naming a folder that holds pg_dump and pg_restore ${major} or newer`,
  ].join(' ');
}

/** The pair to use: the one in --pg-bin when given (an error if it holds none), else the newest found. */
export function selectPgTools(pgBin?: string, where: SearchPlaces = MACHINE()): { tools?: PgTools; found: PgTools[] } {
  if (pgBin) {
    const tools = pairIn(pgBin, false);
    if (!tools) {
      const what = existsSync(pgBin) ? 'holds no pg_dump and pg_restore that run' : 'does not exist';
      throw new UsageError(`--pg-bin ${pgBin} ${what}; nothing was changed`, {
        phase: 'preflight',
        hint: 'name the bin folder that holds both pg_dump and pg_restore (e.g. /usr/lib/postgresql/17/bin), or leave --pg-bin (and PGSHIFT_PG_BIN) out to use the newest found on this machine',
      });
    }
    return { tools, found: [tools] };
  }
  const found = findPgTools(where);
  return { tools: found[0], found };
}

/**
 * The tools for a source of this major, or a usage error naming what to install. With the target's major, the
 * install step names the newer of the two (a pg_dump at least as new as both ends).
 */
export function pickPgTools(sourceMajor: number, pgBin?: string, where?: SearchPlaces, targetMajor?: number): PgTools {
  const { tools, found } = selectPgTools(pgBin, where);
  if (tools && tools.major >= sourceMajor) return tools;
  const want = Math.max(sourceMajor, targetMajor ?? 0);
  const elsewhere = pgBin ? findPgTools(where).find((t) => t.major >= sourceMajor) : undefined;
  const have = pgBin
    ? `--pg-bin ${pgBin} holds pg_dump ${tools!.version}${elsewhere ? ` (pg_dump ${elsewhere.version} in ${elsewhere.dir} would do: pass that folder, or leave --pg-bin out)` : ''}`
    : found.length
      ? `found only ${found.map((t) => `pg_dump ${t.version} (${t.dir})`).join(', ')}`
      : 'found no pg_dump (looked on PATH and in the usual install places)';
  throw new UsageError(
    `preflight: the source runs PostgreSQL ${sourceMajor} and pg_dump must be version ${sourceMajor} or newer (an older pg_dump refuses to dump it); ${have}; nothing was changed`,
    {
      phase: 'preflight',
      hint: installHint(want),
    },
  );
}

/** A warning when the pair is older than the target's major (the schema it writes may not parse there), else undefined. */
export function olderThanTarget(tools: PgTools, targetMajor: number): { message: string; remedy: string } | undefined {
  if (tools.major >= targetMajor) return undefined;
  return {
    message:
      `pg_dump ${tools.version} (${tools.dir}) is older than the target's PostgreSQL ${targetMajor}: the schema it writes follows PostgreSQL ${tools.major}'s rules, ` +
      `and a statement may not restore on ${targetMajor} (for example a column named system_user, a reserved word since PostgreSQL 16, that a pg_dump older than 16 writes unquoted); ` +
      'the schema step then stops on that statement and names it',
    remedy: installHint(targetMajor),
  };
}
