// Connections with libpq's sslmode semantics, keepalives, a connect timeout and application_name=pgshift.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { ConnectionSpec } from '../config.js';
import { classifyError, ConnectionError, errorCode, PgshiftError, tagSide, UsageError } from '../errors.js';
import { guardPassword, recordTls, rootCertFile } from './credentials.js';
import { pooledSocket } from './read-buffers.js';
import { countConnection, countRoundTrip } from './roundtrips.js';

export type Client = pg.Client;

export interface ConnectOptions {
  /** Shown in pg_stat_activity; always starts with "pgshift". */
  applicationName?: string;
  /** 'database' opens a logical replication connection. */
  replication?: 'database';
  /** Read into reusable buffers (read-buffers.ts): for connections that stream COPY data out. Plaintext only. */
  pooledReads?: boolean;
  /** Charge this connection's round trips to this phase (roundtrips.ts) instead of the current one. */
  phase?: string;
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
  // Never Node's public CA bundle by default: verify-* needs a root certificate, as in libpq (or sslrootcert=system).
  const root = rootCertFile(spec);
  const ca = root && root !== 'system' ? read(root, 'sslrootcert') : undefined;
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
    ssl,
    // SCRAM-SHA-256-PLUS when the server offers it over TLS: a man in the middle cannot relay the exchange.
    enableChannelBinding: ssl !== false,
    application_name: opts.applicationName ?? 'pgshift',
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: spec.connectTimeout * 1000,
    ...(opts.replication ? { replication: opts.replication } : {}),
    ...(spec.writeThroughFreeze && !opts.replication ? { options: '-c default_transaction_read_only=off' } : {}),
    // With TLS the reads happen inside the TLS socket, which allocates its own buffers.
    ...(opts.pooledReads && ssl === false ? { stream: () => pooledSocket() } : {}),
  } as pg.ClientConfig;
}

/** Every pg.Client pgshift opens: TLS per sslmode, and the password rules of credentials.ts. */
function newClient(spec: ConnectionSpec, config: pg.ClientConfig): pg.Client {
  const client = new pg.Client(config);
  guardPassword(client, spec);
  return client;
}

// pg reports a server that refuses TLS only by this message (no SQLSTATE exists for it).
const NO_TLS_MESSAGE = 'The server does not support SSL connections';

interface Submittable {
  handleError?: (err: Error, connection?: unknown) => void;
}

/** pg's socket, to tell a connection that closed from a query that failed on a live one (pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts)). */
function socketGone(client: pg.Client): boolean {
  const stream = (client as unknown as { connection?: { stream?: { destroyed?: boolean; readableEnded?: boolean; writable?: boolean } } }).connection?.stream;
  return !stream || stream.destroyed === true || stream.readableEnded === true || stream.writable === false;
}

/**
 * Every error a query on this client raises is stamped with the client's side (source/target), so a failure deep
 * in the data phase can say which server went away. Covers promise queries and submittables (COPY streams).
 * Relies on pg reporting a submittable's failure through its handleError(err, connection): pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts).
 */
function tagErrorsWithSide(client: pg.Client, side: ConnectionSpec['side'], phase?: string): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  // A connection that reported an error of its own (a FATAL while idle, a reset) is lost even while its socket
  // still closes: pg then answers "not queryable" with no SQLSTATE, and that must be retried like a lost socket.
  let broken = false;
  client.on('error', () => (broken = true));
  client.on('end', () => (broken = true));
  const tag = <E>(err: E): E => tagSide(err, side, broken || socketGone(client));
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    // Every query and every COPY start is one round trip (a multi-statement or pipelined one too).
    countRoundTrip(side, phase);
    const submittable = args[0] as Submittable | undefined;
    if (submittable && typeof submittable.handleError === 'function') {
      const handle = submittable.handleError.bind(submittable);
      submittable.handleError = (err, connection) => handle(tag(err), connection);
    }
    const out = query(...args);
    return out instanceof Promise ? out.catch((err: unknown) => Promise.reject(tag(err))) : out;
  };
}

/**
 * Opens with the URL's TLS settings; sslmode=prefer (the default) tries again without TLS when the server
 * offers none, as libpq does. For every connection pgshift opens, replication connections included.
 */
export async function withTlsFallback<T>(spec: ConnectionSpec, open: (ssl: ConnectionOptions | false) => Promise<T>): Promise<T> {
  try {
    return await open(tlsOptions(spec));
  } catch (err) {
    if (spec.sslmode === 'prefer' && err instanceof Error && err.message.includes(NO_TLS_MESSAGE)) return open(false);
    throw err;
  }
}

/**
 * A replication connection (walsender protocol: no extended queries, so not the tagged Client of connect()),
 * with the same TLS rules. Errors are left raw for the caller to classify with its phase.
 */
export function connectReplication(spec: ConnectionSpec, applicationName: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  return withTlsFallback(spec, async (ssl) => {
    const c = newClient(spec, { ...clientConfig(spec, { applicationName, replication: 'database' }, ssl), ...extra } as pg.ClientConfig);
    c.on('error', () => undefined);
    try {
      await c.connect();
      recordTls(spec, c);
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    return c;
  });
}

/** Open a connection; errors come back classified (exit code 3) with the endpoint named, password masked. */
const specs = new WeakMap<Client, ConnectionSpec>();

/** What a connection made by connect() was opened with (to open another one like it), or undefined. */
export function specOf(client: Client): ConnectionSpec | undefined {
  return specs.get(client);
}

export async function connect(spec: ConnectionSpec, opts: ConnectOptions = {}): Promise<Client> {
  let closedEarly = false;
  let accepted = false;
  const attempt = async (ssl: ConnectionOptions | false) => {
    const client = newClient(spec, clientConfig(spec, opts, ssl));
    // An idle connection that dies (server restart, network) must not crash the process; the next query fails.
    client.on('error', () => undefined);
    // The server (or whatever listens there) hung up before the session started: no SQLSTATE, no errno.
    // Connection's 'end'/'connect' events: pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts).
    const connection = (client as unknown as { connection?: { once?: (e: string, f: () => void) => void } }).connection;
    connection?.once?.('end', () => (closedEarly = true));
    connection?.once?.('connect', () => (accepted = true));
    try {
      closedEarly = false;
      accepted = false;
      await client.connect();
      recordTls(spec, client);
      countConnection(spec.side);
      tagErrorsWithSide(client, spec.side, opts.phase);
      specs.set(client, spec);
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  };
  const what = `${spec.side} ${spec.display}`;
  try {
    return await withTlsFallback(spec, attempt);
  } catch (err) {
    // Our own refusals (a password asked in clear, no password given, a missing root certificate) say it all.
    if (err instanceof PgshiftError) throw err;
    if (err instanceof Error && err.message.includes(NO_TLS_MESSAGE)) {
      throw new ConnectionError(`${what}: the server at ${spec.host}:${spec.port} does not offer TLS (sslmode=${spec.sslmode}); nothing was sent`, {
        cause: err,
        hint: spec.sslmodeGiven
          ? 'the server does not offer TLS: turn TLS on at the server; only on a trusted network path use sslmode=disable (passwords would travel in clear)'
          : `the server does not offer TLS, which pgshift requires by default for a host other than localhost: turn TLS on at the server; only on a trusted network path add sslmode=disable to the URL`,
      });
    }
    if (err instanceof Error && /timeout/i.test(err.message) && !('code' in err && err.code)) {
      throw classifyError(Object.assign(err, { code: 'ETIMEDOUT' }), what, {
        hint: `no answer within ${spec.connectTimeout}s: check host, port and firewall (connect_timeout=N in the URL changes the wait)`,
      });
    }
    // A listener that closes at once shows up as a clean close, or as ECONNRESET when our startup bytes were already
    // on the wire (timing-dependent): both mean the TCP connection was accepted and the session never started.
    const resetAfterAccept = accepted && (errorCode(err) === 'ECONNRESET' || errorCode(err) === 'EPIPE');
    if ((!errorCode(err) && closedEarly) || resetAfterAccept) {
      throw new ConnectionError(`${what}: the server at ${spec.host}:${spec.port} accepted the connection and closed it without a word`, {
        cause: err,
        hint:
          `check that ${spec.port} is the PostgreSQL port (not another service); that sslmode suits the server (sslmode=require when it accepts TLS only, ` +
          `sslmode=disable when it has none); and for a pooler (PgBouncer, Heroku's connection pooling) that it knows this database and user and runs in session mode`,
      });
    }
    if (errorCode(err) === '28000' && spec.sslmode === 'disable' && (await tlsWouldPass(spec, opts))) {
      throw new ConnectionError(`${what}: the server requires TLS for this user and refused sslmode=disable`, {
        cause: err,
        hint: 'use sslmode=require in the URL (encrypts without verifying, as Heroku needs), or verify-full with sslrootcert=/path/ca.pem to also check the certificate',
      });
    }
    throw classifyError(err, what);
  }
}

/** After pg_hba.conf refused a plaintext connection: would the same connection over TLS get past pg_hba.conf? */
async function tlsWouldPass(spec: ConnectionSpec, opts: ConnectOptions): Promise<boolean> {
  const client = newClient(spec, clientConfig(spec, opts, { rejectUnauthorized: false }));
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch (err) {
    // Wrong password or missing database over TLS still means pg_hba.conf let TLS through.
    const code = errorCode(err);
    return code !== undefined && code !== '28000' && /^(28|3D)/.test(code);
  } finally {
    await client.end().catch(() => undefined);
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

/** Closes the socket at once: the server rolls back whatever was open on it. */
export function abandon(client: Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** Ends a connection without waiting on it for long (a lost or wedged one may never answer Terminate). */
export async function discard(client: Client | undefined): Promise<void> {
  if (!client) return;
  await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
  abandon(client);
}
