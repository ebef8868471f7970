// pg_dump --schema-only of a test database, normalized only where source and target must differ (owner role
// names, pgshift's own state schema, version header lines, psql \restrict keys): the yardstick for "copy lost no
// schema". Independent of src/. pg_dump on the PATH must be able to dump the server (15 dumps 15, not 17).
import { spawn } from 'node:child_process';
import type { TestDatabase } from './fixtures.js';

function run(binary: string, args: string[], db: TestDatabase): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      env: { ...process.env, PGPASSWORD: db.password, PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '10' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${binary} failed (exit ${code}): ${err}`))));
  });
}

/** The schema as pg_dump prints it (comments included), owners and ACLs as copy's default leaves them out. */
export async function schemaDump(db: TestDatabase, opts: { acl?: boolean } = {}): Promise<string> {
  const sql = await run(
    'pg_dump',
    [
      '-h',
      db.cluster.host,
      '-p',
      String(db.cluster.port),
      '-U',
      db.role,
      '-d',
      db.database,
      '--schema-only',
      '--no-owner',
      ...(opts.acl ? [] : ['--no-acl']),
      '--no-tablespaces',
      '--exclude-schema=pgshift',
    ],
    db,
  );
  return normalizeDump(sql, db.role);
}

export function normalizeDump(sql: string, role: string): string {
  return sql
    .split('\n')
    .filter((l) => !/^-- Dumped (from|by) /.test(l) && !/^\\(un)?restrict /.test(l))
    .join('\n')
    .replaceAll(role, '<owner>');
}

/** The lines that differ, as a compact unified-ish listing ("- source" / "+ target"), for a readable failure. */
export function dumpDifferences(source: string, target: string): string[] {
  const a = source.split('\n');
  const b = target.split('\n');
  const inB = new Map<string, number>();
  for (const l of b) inB.set(l, (inB.get(l) ?? 0) + 1);
  const inA = new Map<string, number>();
  for (const l of a) inA.set(l, (inA.get(l) ?? 0) + 1);
  const out: string[] = [];
  for (const [l, n] of inA) if ((inB.get(l) ?? 0) < n) out.push(`- ${l}`);
  for (const [l, n] of inB) if ((inA.get(l) ?? 0) < n) out.push(`+ ${l}`);
  // Same lines in another order also counts: pg_dump's order follows dependencies, so it must match too.
  if (out.length === 0 && source !== target) out.push('(same lines, different order)');
  return out;
}
