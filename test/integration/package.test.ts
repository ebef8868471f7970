// The npm package as users get it (issue #27): `npm pack` ships the built bundle and nothing else, the tarball
// installs into an empty folder with nothing else to fetch, and the installed `pgshift` runs a real command.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-pack-'));
  let db: TestDatabase;
  let tgz = '';

  beforeAll(async () => {
    db = await createDatabase(inject('clusters').pg15, { label: 'pack_src' });
    await db.owner(`CREATE TABLE t (id integer PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')`);
    // dist/ was built by `npm test`'s pretest: prepack (the same build) is not run again here.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
    const info = JSON.parse(stdout)[0] as { filename: string; files: { path: string }[] };
    tgz = join(dir, info.filename);
    files = info.files.map((f) => f.path).sort();
  }, 180_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  });

  let files: string[] = [];

  it('ships the CLI bundle, README and LICENSE only', () => {
    expect(files).toEqual(['LICENSE', 'README.md', 'bin/pgshift.js', 'dist/src/cli/bundle.js', 'package.json']);
  });

  it('installs into an empty folder and runs --help and a real inventory', { timeout: 180_000 }, async () => {
    const app = join(dir, 'app');
    rmSync(app, { recursive: true, force: true });
    await run('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'try-pgshift', private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--offline', tgz], { cwd: app });
    const help = await run('npx', ['--no-install', 'pgshift', '--help'], { cwd: app });
    expect(help.stdout).toContain('Typical migration');
    const inv = await run('npx', ['--no-install', 'pgshift', 'inventory', '--source', db.url, '--json'], {
      cwd: app,
      env: { ...process.env, PGSHIFT_SOURCE_URL: undefined },
    });
    const out = JSON.parse(inv.stdout) as { tables: { name: string }[] };
    expect(out.tables.map((t) => t.name)).toContain('t');
    expect(inv.stdout + inv.stderr).not.toContain(db.password);
  });
});
