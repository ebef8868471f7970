// A reference copy made with the stock tools (pg_dump -Fc | pg_restore), run as the owner roles over TLS
// exactly like a user would: the yardstick compare.ts is proven against, independent of pgshift.
import { spawn } from 'node:child_process';
import type { TestDatabase } from './fixtures.js';

function toolEnv(db: TestDatabase): NodeJS.ProcessEnv {
  // Password through the environment only: never on a command line (ps would show it).
  return { ...process.env, PGPASSWORD: db.password, PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '10' };
}

function connArgs(db: TestDatabase): string[] {
  return ['-h', db.cluster.host, '-p', String(db.cluster.port), '-U', db.role];
}

/** pg_dump (15, from PATH) piped into pg_restore; rejects with both tools' stderr on failure. */
export function dumpRestore(source: TestDatabase, target: TestDatabase): Promise<void> {
  return new Promise((resolve, reject) => {
    const dump = spawn('pg_dump', [...connArgs(source), '-Fc', '--no-owner', '--no-acl', '-d', source.database], {
      env: toolEnv(source),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const restore = spawn('pg_restore', [...connArgs(target), '--no-owner', '--no-acl', '--exit-on-error', '-d', target.database], {
      env: toolEnv(target),
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let errors = '';
    dump.stderr.on('data', (d) => (errors += `pg_dump: ${d}`));
    restore.stderr.on('data', (d) => (errors += `pg_restore: ${d}`));
    dump.stdout.pipe(restore.stdin);
    const codes: Array<number | null> = [];
    const done = (code: number | null) => {
      codes.push(code);
      if (codes.length < 2) return;
      if (codes.every((c) => c === 0)) resolve();
      else reject(new Error(`pg_dump | pg_restore failed (exit ${codes.join(', ')}):\n${errors}`));
    };
    dump.on('error', reject);
    restore.on('error', reject);
    dump.on('close', done);
    restore.on('close', done);
  });
}

/** pg_dump (from PATH) of `db` into `path` with `args` (e.g. -Fc, -Fd); `pipe` writes through a pipe, as `pg_dump | cat > file` does. */
export async function dumpToFile(db: TestDatabase, path: string, args: string[], opts: { pipe?: boolean } = {}): Promise<void> {
  const { createWriteStream } = await import('node:fs');
  return new Promise((resolve, reject) => {
    const dump = spawn('pg_dump', [...connArgs(db), ...args, ...(opts.pipe ? [] : ['-f', path]), '-d', db.database], {
      env: toolEnv(db),
      stdio: ['ignore', opts.pipe ? 'pipe' : 'ignore', 'pipe'],
    });
    let errors = '';
    dump.stderr!.on('data', (d) => (errors += d));
    if (opts.pipe) dump.stdout!.pipe(createWriteStream(path));
    dump.on('error', reject);
    dump.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_dump failed (exit ${code}): ${errors}`))));
  });
}
