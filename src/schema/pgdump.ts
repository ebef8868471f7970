// Finding a pg_dump/pg_restore pair able to dump the source: its major must be >= the server's.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
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
  /** Debian/Ubuntu keep each major in <root>/<major>/bin. */
  debianRoot: string;
}

const MACHINE: () => SearchPlaces = () => ({ path: process.env.PATH ?? '', debianRoot: '/usr/lib/postgresql' });

/** Every pg_dump/pg_restore pair on this machine, newest first: --pg-bin, then PATH, then /usr/lib/postgresql/N/bin. */
export function findPgTools(pgBin?: string, where: SearchPlaces = MACHINE()): PgTools[] {
  const dirs: string[] = [];
  if (pgBin) dirs.push(pgBin);
  dirs.push(...where.path.split(delimiter).filter(Boolean));
  const debian = where.debianRoot;
  if (existsSync(debian)) {
    for (const v of readdirSync(debian)) dirs.push(join(debian, v, 'bin'));
  }
  const seen = new Set<string>();
  const found: PgTools[] = [];
  for (const dir of dirs) {
    const pgDump = join(dir, 'pg_dump');
    const pgRestore = join(dir, 'pg_restore');
    if (seen.has(dir) || !existsSync(pgDump) || !existsSync(pgRestore)) continue;
    seen.add(dir);
    // Debian's /usr/bin/pg_dump is a Perl wrapper (~50 ms of CPU per call) around the binaries in
    // <debianRoot>/N/bin, which are scanned anyway: use those directly.
    if (isDebianWrapper(pgDump) && existsSync(debian)) continue;
    const v = versionOf(pgDump);
    if (v) found.push({ dir, pgDump, pgRestore, ...v });
  }
  // --pg-bin wins when it qualifies; otherwise the newest.
  return found.sort((a, b) => (pgBin && a.dir === pgBin ? -1 : pgBin && b.dir === pgBin ? 1 : b.major - a.major));
}

/** The tools to use for a server of this major, or a usage error naming the version to install. */
export function pickPgTools(serverMajor: number, pgBin?: string, where?: SearchPlaces): PgTools {
  const all = findPgTools(pgBin, where);
  const ok = all.find((t) => t.major >= serverMajor);
  if (ok) return ok;
  const have = all.length ? `found only ${all.map((t) => `pg_dump ${t.version} (${t.dir})`).join(', ')}` : 'found no pg_dump';
  throw new UsageError(`the source runs PostgreSQL ${serverMajor} and pg_dump must be version ${serverMajor} or newer; ${have}`, {
    phase: 'preflight',
    hint: `install postgresql-client-${serverMajor} (Debian/Ubuntu: apt-get install postgresql-client-${serverMajor}) or pass --pg-bin DIR`,
  });
}
