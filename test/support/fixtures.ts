// One database per test file, owned by a non-superuser role — the shape of a Heroku credential
// (database owner, no SUPERUSER, no REPLICATION unless asked) and of a managed target.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ClusterInfo } from './cluster.js';

export interface TestDatabase {
  cluster: ClusterInfo;
  database: string;
  role: string;
  password: string;
  /** URL as the user would pass it: owner role, TLS without verification (sslmode=require). */
  url: string;
  /** Same database as the superuser (for test setup and independent checks). */
  adminUrl: string;
  /** Run SQL as the superuser in this database. */
  admin<R extends pg.QueryResultRow = any>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Run SQL as the owner role in this database. */
  owner<R extends pg.QueryResultRow = any>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  drop(): Promise<void>;
}

export interface DatabaseOptions {
  label: string;
  replication?: boolean;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function runSql(url: string, sql: string, params?: unknown[]): Promise<pg.QueryResult> {
  const client = new pg.Client({
    connectionString: url.replace(/[?&]sslmode=[^&]*/, ''),
    ssl: /sslmode=(require|prefer)/.test(url) ? { rejectUnauthorized: false } : false,
  });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

export async function createDatabase(cluster: ClusterInfo, opts: DatabaseOptions): Promise<TestDatabase> {
  const suffix = randomBytes(4).toString('hex');
  const database = `${opts.label}_${suffix}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const role = `${database}_owner`;
  // A password with URL-hostile characters: it must survive parsing and never be printed.
  const password = `pw:${randomBytes(6).toString('hex')}@/x`;
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  await runSql(
    cluster.adminUrl,
    `CREATE ROLE ${q(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE ${opts.replication ? 'REPLICATION' : 'NOREPLICATION'} PASSWORD '${password.replace(/'/g, "''")}'`,
  );
  await runSql(cluster.adminUrl, `CREATE DATABASE ${q(database)} OWNER ${q(role)}`);
  const adminUrl = withDatabase(cluster.adminUrl, database);
  const url = `postgres://${encodeURIComponent(role)}:${encodeURIComponent(password)}@${cluster.host}:${cluster.port}/${database}?sslmode=require`;
  return {
    cluster,
    database,
    role,
    password,
    url,
    adminUrl,
    admin: (sql, params) => runSql(adminUrl, sql, params) as never,
    owner: (sql, params) => runSql(url, sql, params) as never,
    async drop() {
      await runSql(cluster.adminUrl, `DROP DATABASE IF EXISTS ${q(database)} WITH (FORCE)`);
      await runSql(cluster.adminUrl, `DROP ROLE IF EXISTS ${q(role)}`);
    },
  };
}
