// PostgreSQL in Docker via testcontainers, used when a Docker engine answers (never on machines without one).
// Same shape as the embedded servers: TLS with a self-signed certificate, TLS required for non-superusers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterInfo, Major, RunningCluster } from './cluster.js';

const PASSWORD = 'admin-secret-pw';

export function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

export async function startContainer(major: Major): Promise<RunningCluster> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const dir = mkdtempSync(join(tmpdir(), `pgshift-tc-${major}-`));
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=pgshift-test-self-signed', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  writeFileSync(
    join(dir, 'pg_hba.conf'),
    ['local all all trust', 'host all postgres all scram-sha-256', 'hostssl all all all scram-sha-256', 'hostssl replication all all scram-sha-256', ''].join(
      '\n',
    ),
  );
  const container = await new GenericContainer(`postgres:${major}`)
    .withEnvironment({ POSTGRES_PASSWORD: PASSWORD })
    .withCopyFilesToContainer([
      // Owned by root: PostgreSQL accepts a root-owned key with mode 0640.
      { source: cert, target: '/etc/pgshift/server.crt', mode: 0o644 },
      { source: key, target: '/etc/pgshift/server.key', mode: 0o640 },
      { source: join(dir, 'pg_hba.conf'), target: '/etc/pgshift/pg_hba.conf', mode: 0o644 },
    ])
    .withCommand([
      'postgres',
      '-c',
      'ssl=on',
      '-c',
      'ssl_cert_file=/etc/pgshift/server.crt',
      '-c',
      'ssl_key_file=/etc/pgshift/server.key',
      '-c',
      'hba_file=/etc/pgshift/pg_hba.conf',
      '-c',
      'wal_level=logical',
      '-c',
      'max_connections=300',
      '-c',
      'max_replication_slots=20',
      '-c',
      'max_wal_senders=20',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
    ])
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const info: ClusterInfo = {
    major,
    host: container.getHost(),
    port: container.getMappedPort(5432),
    adminUrl: `postgres://postgres:${PASSWORD}@${container.getHost()}:${container.getMappedPort(5432)}/postgres?sslmode=disable`,
    certFile: cert,
  };
  return { ...info, stop: async () => void (await container.stop()) };
}
