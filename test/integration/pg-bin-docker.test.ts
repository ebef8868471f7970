// docker/pg-bin as --pg-bin (docs/install.md): pg_dump and pg_restore of the postgres:17 image through
// `docker run`. No Docker engine runs here, so `docker` on PATH is a stand-in that runs this machine's client
// tools the way a container would see them: ONLY the environment variables `-e` forwards (plus PATH), and
// nothing but the folders `-v` mounts. A copy through it must succeed and equal the source, so every variable
// pgshift hands to pg_dump/pg_restore (host, password, sslmode, …) and the dump folder must reach the tool.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const PG_BIN = new URL('../../docker/pg-bin', import.meta.url).pathname;

/** The newest client tools folder on this machine (what the stand-in runs for the image's tool). */
function localTools(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_dump'))) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  if (!majors.length) throw new Error('no pg_dump under /usr/lib/postgresql (install postgresql-client)');
  return join(root, majors[0]!, 'bin');
}

// `docker run [--rm] [-i] [--network N] [--user U] [-v SRC:DST[:ro]]… [-e NAME[=V]]… IMAGE TOOL ARGS…`
const STAND_IN = (tools: string, log: string) => `#!/usr/bin/env bash
set -euo pipefail
[ "$1" = run ] || { echo "docker stand-in: only run" >&2; exit 2; }
shift
keep=(PATH=/usr/bin:/bin)
mounts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rm|-i) shift ;;
    --network|--user) shift 2 ;;
    -v) mounts+=("\${2%%:*}"); shift 2 ;;
    -e) name=\${2%%=*}; if [ "$name" != "$2" ]; then keep+=("$2"); elif [ -n "\${!name+x}" ]; then keep+=("$name=\${!name}"); fi; shift 2 ;;
    -*) echo "docker stand-in: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
image=$1 tool=$2
shift 2
# A file argument outside every mount would not exist in the container.
for a in "$@"; do
  case "$a" in
    /*) ok=; for m in "\${mounts[@]}"; do case "$a" in "$m"/*) ok=1 ;; esac; done
        [ -n "$ok" ] || { echo "docker stand-in: $a is not mounted" >&2; exit 2; } ;;
  esac
done
echo "$image $tool" >> '${log}'
exec env -i "\${keep[@]}" '${tools}'/"$tool" "$@"
`;

describe('--pg-bin docker/pg-bin: the postgres image as pg_dump/pg_restore', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    src = await createDatabase(pg15, { label: 'pgbin_src' });
    tgt = await createDatabase(pg17, { label: 'pgbin_tgt' });
    await src.owner(`CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL);
      INSERT INTO accounts (name) SELECT 'a' || g FROM generate_series(1, 1000) g;
      CREATE TABLE notes (id int PRIMARY KEY REFERENCES accounts, body text); COMMENT ON TABLE notes IS 'through the image';
      INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 100) g;`);
    dir = mkdtempSync(join(tmpdir(), 'pgshift-pgbin-'));
    writeFileSync(join(dir, 'docker'), STAND_IN(localTools(), join(dir, 'calls.log')));
    chmodSync(join(dir, 'docker'), 0o755);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('copy takes the tools from docker/pg-bin, runs both in postgres:17, and the target equals the source', async () => {
    const env = { PATH: `${dir}:${process.env.PATH}`, PGSHIFT_SOURCE_URL: src.url, PGSHIFT_TARGET_URL: tgt.url };
    const inv = await runCli(['inventory', '--pg-bin', PG_BIN, '--json'], { env });
    expect(inv.code, inv.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(inv.stdout))).toContain(PG_BIN);
    const r = await runCli(['copy', '--pg-bin', PG_BIN], { env });
    expect(r.code, r.stderr).toBe(0);
    const calls = readFileSync(join(dir, 'calls.log'), 'utf8');
    expect(calls).toMatch(/^postgres:17 pg_dump$/m);
    expect(calls).toMatch(/^postgres:17 pg_restore$/m);
    await expectSameDatabase(src, tgt);
  });
});
