// Smaller holes (issue 22, item 5): metrics bound to loopback, the dump-folder sweep limited to the current OS
// user's folders, control characters in names escaped on the terminal, --exclude reaching pg_dump.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postgresUser } from '../support/pg-binaries.js';
import { BIN, runCli, type CliResult } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { waitFor } from '../support/replication.js';

const EVIL = 'evil\x1b]0;pwned\x07\x1b[2J';
// eslint-disable-next-line no-control-regex -- the raw escape and bell bytes EVIL holds, which must never be printed
const RAW_ESCAPES = /[\x1b\x07]/;

/** Does a TCP connection to host:port open? */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function spawnCli(args: string[], opts: { uid?: number; gid?: number; env?: Record<string, string | undefined> } = {}) {
  const env = { ...process.env, PGSHIFT_SOURCE_URL: undefined, PGSHIFT_TARGET_URL: undefined, ...opts.env } as NodeJS.ProcessEnv;
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], uid: opts.uid, gid: opts.gid });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.on('data', (d) => (stdout += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: 0 })));
  return { child, done, stderr: () => stderr };
}

describe('metrics server bind address', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'holes_msrc', replication: true }), createDatabase(pg17, { label: 'holes_mtgt' })]);
    await src.owner(`CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 100) g`);
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  // Every address of this machine but 127.0.0.1: other loopback addresses (always there on Linux) and the interfaces'.
  const others = () => [
    '127.0.0.2',
    ...Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4' && !a.internal)
      .map((a) => a!.address),
  ];

  const serve = async (extra: string[]) => {
    const run = spawnCli(['replicate', '--source', src.url, '--target', tgt.url, '--metrics-port', '0', '--status-interval', '1', ...extra]);
    try {
      const m = await waitFor('the metrics endpoint', async () => /metrics on http:\/\/([^/]+):(\d+)\/metrics/.exec(run.stderr()), 90_000);
      const port = Number(m[2]);
      return { host: m[1], port, loopback: await reachable('127.0.0.1', port), others: await Promise.all(others().map((h) => reachable(h, port))) };
    } finally {
      run.child.kill('SIGTERM');
      await run.done;
    }
  };

  it('binds 127.0.0.1 by default (no other address reaches it); --metrics-host 0.0.0.0 widens it', { timeout: 240_000 }, async () => {
    const narrow = await serve([]);
    expect(narrow.host).toBe('127.0.0.1');
    expect(narrow.loopback).toBe(true);
    expect(
      narrow.others.every((r) => r === false),
      `reachable from ${others().join(', ')}: ${narrow.others}`,
    ).toBe(true);
    const wide = await serve(['--metrics-host', '0.0.0.0']);
    expect(wide.loopback).toBe(true);
    expect(wide.others.every((r) => r === true)).toBe(true);
    const fin = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '120']);
    expect(fin.code, fin.stderr).toBe(0);
    await expectSameDatabase(src, tgt);
  });

  it('--metrics-host with --capture triggers is refused like --metrics-port', async () => {
    const r = await runCli(['replicate', '--capture', 'triggers', '--source', src.url, '--target', tgt.url, '--metrics-host', '0.0.0.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--metrics-host applies to logical replication/);
  });
});

describe('copy: sweep, names on the terminal, --exclude and pg_dump', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let tgt2: TestDatabase;
  let tmp: string;
  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt, tgt2] = await Promise.all([
      createDatabase(pg15, { label: 'holes_src' }),
      createDatabase(pg17, { label: 'holes_tgt' }),
      createDatabase(pg17, { label: 'holes_tgt2' }),
    ]);
    const q = `"${EVIL.replace(/"/g, '""')}"`;
    await src.owner(`CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 300) g;
      CREATE TABLE ${q} (id int PRIMARY KEY, ${q} text); INSERT INTO ${q} VALUES (1, 'x')`);
    // A table the migration role cannot read (owned by another role, nothing granted).
    await src.admin(`CREATE TABLE public.secret (id int PRIMARY KEY, salary numeric); INSERT INTO public.secret VALUES (1, 100000)`);
    tmp = mkdtempSync(join(tmpdir(), 'pgshift-sweep-'));
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), tgt?.drop(), tgt2?.drop()]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  const notSecret = { ignore: (d: unknown) => JSON.stringify(d).includes('secret') };

  it('--exclude keeps pg_dump off a table the role cannot read; the rest is copied (compared independently)', async () => {
    const r = await runCli(['copy', '--source', src.url, '--target', tgt.url, '--exclude', 'public.secret']);
    expect(r.code, r.stderr).toBe(0);
    await expectSameDatabase(src, tgt, notSecret);
    const { rows } = await tgt.admin(`SELECT to_regclass('public.secret') AS t`);
    expect(rows[0].t).toBe(null);
  });

  it('a table name holding escape sequences is printed escaped (stdout and stderr), never raw', async () => {
    const inv = await runCli(['inventory', '--source', src.url, '--exclude', 'public.secret']);
    expect(inv.code, inv.stderr).toBe(0);
    expect(inv.stdout).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J');
    expect(inv.stdout + inv.stderr).not.toMatch(RAW_ESCAPES);
    // An error naming it: verify after the target lost that table's row.
    await tgt.admin(`DELETE FROM public."${EVIL}"`);
    const ver = await runCli(['verify', '--source', src.url, '--target', tgt.url, '--exclude', 'public.secret']);
    expect(ver.code).toBe(1);
    expect(ver.stdout + ver.stderr).toContain('evil\\x1b]0;pwned\\x07');
    expect(ver.stdout + ver.stderr).not.toMatch(RAW_ESCAPES);
  });

  it("the stale dump-folder sweep leaves other users' folders alone and only warns about one it cannot remove", async () => {
    const pgUser = postgresUser();
    if (!pgUser) return; // needs root to run the CLI as another OS user
    chownSync(tmp, pgUser.uid, pgUser.gid);
    const dead = spawnSync('true').pid!;
    // Another user's folder (root's), empty: the directory is the postgres user's, so it could be removed — must not be.
    const others = join(tmp, `pgshift-dump-${dead}-others`);
    mkdirSync(others);
    // The user's own folder holding a folder it cannot empty: removal fails → a warning, the copy goes on.
    const stuck = join(tmp, `pgshift-dump-${dead}-stuck`);
    mkdirSync(join(stuck, 'locked'), { recursive: true });
    writeFileSync(join(stuck, 'locked', 'schema.dump'), 'x');
    chownSync(stuck, pgUser.uid, pgUser.gid);
    const run = spawnCli(['copy', '--source', src.url, '--target', tgt2.url, '--exclude', 'public.secret'], {
      uid: pgUser.uid,
      gid: pgUser.gid,
      env: { TMPDIR: tmp, HOME: tmp },
    });
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(others)).toBe(true);
    expect(existsSync(stuck)).toBe(true);
    expect(r.stderr).toMatch(/could not remove .*pgshift-dump-\d+-stuck/);
    await expectSameDatabase(src, tgt2, notSecret);
  });
});
