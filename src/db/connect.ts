// Connections with libpq's sslmode semantics, keepalives, a connect timeout and application_name=pgshift.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { ConnectionSpec } from '../config.js';
import { classifyError, UsageError } from '../errors.js';

export type Client = pg.Client;

export interface ConnectOptions {
  /** Shown in pg_stat_activity; always starts with "pgshift". */
  applicationName?: string;
  /** 'database' opens a logical replication connection. */
  replication?: 'database';
}

/** The TLS options for an sslmode, or false for plaintext. Exported for tests. */
export function tlsOptions(spec: ConnectionSpec): ConnectionOptions | false {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UsageError(`--${spec.side}: cannot read ${what} file ${file} (${(err as Error).message})`, {
        hint: `fix the ${what} path in the URL`,
      });
    }
  };
  if (spec.sslmode === 'disable') return false;
  const base: ConnectionOptions = {};
  if (spec.sslcert) base.cert = read(spec.sslcert, 'sslcert');
  if (spec.sslkey) base.key = read(spec.sslkey, 'sslkey');
  if (!isIP(spec.host)) base.servername = spec.host;
  // libpq: with sslmode=require and a root certificate file given, behave as verify-ca.
  const mode = spec.sslmode === 'require' && spec.sslrootcert ? 'verify-ca' : spec.sslmode;
  if (mode === 'prefer' || mode === 'require') {
    // Encrypt, do not verify: Heroku's certificates are self-signed.
    return { ...base, rejectUnauthorized: false };
  }
  const ca = spec.sslrootcert ? read(spec.sslrootcert, 'sslrootcert') : undefined;
  const verified: ConnectionOptions = { ...base, rejectUnauthorized: true, ...(ca ? { ca } : {}) };
  // verify-ca checks the chain only; verify-full also checks the host name (Node's default).
  return mode === 'verify-ca' ? { ...verified, checkServerIdentity: () => undefined } : verified;
}

export function clientConfig(spec: ConnectionSpec, opts: ConnectOptions = {}, ssl = tlsOptions(spec)): pg.ClientConfig {
  return {
    host: spec.host,
    port: spec.port,
    database: spec.database,
    user: spec.user,
    password: spec.password ?? process.env.PGPASSWORD,
    ssl,
    application_name: opts.applicationName ?? 'pgshift',
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: spec.connectTimeout * 1000,
    ...(opts.replication ? { replication: opts.replication } : {}),
  } as pg.ClientConfig;
}

// pg reports a server that refuses TLS only by this message (no SQLSTATE exists for it).
const NO_TLS_MESSAGE = 'The server does not support SSL connections';

/** Open a connection; errors come back classified (exit code 3) with the endpoint named, password masked. */
export async function connect(spec: ConnectionSpec, opts: ConnectOptions = {}): Promise<Client> {
  const attempt = async (ssl: ConnectionOptions | false) => {
    const client = new pg.Client(clientConfig(spec, opts, ssl));
    // An idle connection that dies (server restart, network) must not crash the process; the next query fails.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  };
  const what = `${spec.side} ${spec.display}`;
  try {
    try {
      return await attempt(tlsOptions(spec));
    } catch (err) {
      if (spec.sslmode === 'prefer' && err instanceof Error && err.message.includes(NO_TLS_MESSAGE)) {
        return await attempt(false);
      }
      throw err;
    }
  } catch (err) {
    if (err instanceof Error && err.message.includes(NO_TLS_MESSAGE)) {
      throw classifyError(err, what, { hint: 'the server does not offer TLS: use sslmode=disable or prefer' });
    }
    if (err instanceof Error && /timeout/i.test(err.message) && !('code' in err && err.code)) {
      throw classifyError(Object.assign(err, { code: 'ETIMEDOUT' }), what, {
        hint: `no answer within ${spec.connectTimeout}s: check host, port and firewall (connect_timeout=N in the URL changes the wait)`,
      });
    }
    throw classifyError(err, what);
  }
}

/** Run fn with a fresh connection, always closing it. */
export async function withClient<T>(spec: ConnectionSpec, fn: (c: Client) => Promise<T>, opts?: ConnectOptions): Promise<T> {
  const client = await connect(spec, opts);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function withTransaction<T>(client: Client, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Server major version number (15, 17, …). */
export async function serverMajor(client: Client): Promise<number> {
  const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Math.floor(Number(rows[0]!.v) / 10000);
}
