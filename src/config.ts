// Flags + environment → validated, frozen configuration. No I/O (connect lives in db/) except the DNS lookup
// sameEndpoint() makes to tell whether two URLs name one server.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { UsageError } from './errors.js';
import { registerSecret } from './redact.js';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export type Side = 'source' | 'target';

export interface ConnectionSpec {
  readonly side: Side;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
  readonly sslmode: SslMode;
  /** True when the URL wrote sslmode (or ssl=true); false when it is the default (prefer on loopback, else require). */
  readonly sslmodeGiven: boolean;
  readonly sslrootcert?: string;
  readonly sslcert?: string;
  readonly sslkey?: string;
  /** Seconds before giving up on connect (libpq connect_timeout). */
  readonly connectTimeout: number;
  /** The URL with its password masked: safe for logs, errors and JSON. */
  readonly display: string;
  /**
   * Sessions start with default_transaction_read_only = off (a startup option, above the database's own setting):
   * pgshift's apply sessions write into a side the cutover keeps read-only for everyone else (the reverse stream).
   */
  readonly writeThroughFreeze?: boolean;
}

// libpq waits forever by default; a cutover cannot. Short enough that a dead host fails in seconds.
const DEFAULT_CONNECT_TIMEOUT_S = 5;
const ENV_FOR: Record<Side, string> = { source: 'PGSHIFT_SOURCE_URL', target: 'PGSHIFT_TARGET_URL' };

/** Flag value or its environment fallback; undefined when neither is set. */
export function urlFromFlagOrEnv(side: Side, flag: string | undefined, env = process.env): string | undefined {
  const value = flag ?? env[ENV_FOR[side]];
  return value === undefined || value === '' ? undefined : value;
}

export function requireUrl(side: Side, flag: string | undefined, env = process.env): ConnectionSpec {
  const url = urlFromFlagOrEnv(side, flag, env);
  if (!url) {
    throw new UsageError(`no ${side} database given`, {
      hint: `pass --${side} postgres://USER:PASS@HOST:5432/DBNAME (as heroku config:get DATABASE_URL prints it) or set ${ENV_FOR[side]}`,
    });
  }
  return parseConnectionUrl(url, side);
}

export function optionalUrl(side: Side, flag: string | undefined, env = process.env): ConnectionSpec | undefined {
  const url = urlFromFlagOrEnv(side, flag, env);
  return url ? parseConnectionUrl(url, side) : undefined;
}

const URL_HINT = 'expected postgres://USER:PASSWORD@HOST:5432/DBNAME?sslmode=require';
const ENCODE_HINT =
  'percent-encode the password (and user name) in the URL: # → %23, / → %2F, ? → %3F, @ → %40, % → %25 ' +
  `(encodeURIComponent does it: node -p 'encodeURIComponent(process.argv[1])' 'PASSWORD'); Heroku's passwords need none`;

/**
 * A '#', '/' or '?' before the '@' that ends the user info means an unencoded character in the password: the URL
 * parser then cuts the authority there, reads a piece of the password as a host or port, and the rest as a path.
 */
function unencodedUserInfo(raw: string): boolean {
  const rest = raw.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const firstDelimiter = rest.search(/[/?#]/);
  return firstDelimiter >= 0 && firstDelimiter < rest.lastIndexOf('@');
}

/** The port written in a URL the WHATWG parser refused (it refuses ports above 65535 without saying so). */
function writtenPort(raw: string): string | undefined {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(raw)?.[1] ?? '';
  return /(?:^|@)(?:\[[^\]]*\]|[^:@]*):(\d+)$/.exec(authority)?.[1];
}

/** Parse a postgres:// URL as Heroku and libpq write them. */
export function parseConnectionUrl(raw: string, side: Side): ConnectionSpec {
  raw = raw.trim();
  // libpq's Unix-socket spelling postgres://USER@/DB?host=/run/postgresql has an empty host, which the URL parser
  // refuses after a user name: an empty host is read as "localhost" (the host= parameter then names the socket).
  if (/[?&]host=(?:\/|%2F)/i.test(raw)) raw = raw.replace(/^(postgres(?:ql)?:\/\/[^/?#]*@)(?=\/)/i, '$1localhost');
  const bad = (why: string) =>
    unencodedUserInfo(raw)
      ? new UsageError(`--${side}: malformed connection URL (${why}); the password or user name seems to hold an unencoded #, / or ?`, { hint: ENCODE_HINT })
      : new UsageError(`--${side}: malformed connection URL (${why})`, { hint: URL_HINT });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    const port = writtenPort(raw);
    if (port !== undefined && !unencodedUserInfo(raw) && (Number(port) < 1 || Number(port) > 65535)) {
      throw new UsageError(`--${side}: port ${port} out of range (valid ports are 1–65535)`, { hint: 'fix the port after the host, e.g. HOST:5432' });
    }
    // Never echo the raw string: it may hold a password.
    throw bad('not a URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw bad(`scheme must be postgres:// or postgresql://, not ${url.protocol}//`);
  }
  // It parsed, but a '@' left in the path or fragment means the password was cut at an unencoded character.
  if (/@/.test(url.pathname + url.hash)) throw bad('an @ after the host');
  const badUserInfo = (why: string) => new UsageError(`--${side}: malformed connection URL (${why} in the user name or password)`, { hint: ENCODE_HINT });
  const password = url.password ? safeDecode(url.password, badUserInfo) : undefined;
  registerSecret(password);
  const params = url.searchParams;
  // A Unix socket: the directory in host= (libpq) or as the percent-encoded host (postgres://%2Frun%2Fpostgresql/DB).
  const socketDir = params.get('host') ?? (/^%2F/i.test(url.hostname) ? safeDecode(url.hostname, bad) : undefined);
  if (socketDir !== undefined && !socketDir.startsWith('/'))
    throw bad('host= must be the absolute path of a Unix-socket directory (for a host name, write it after the @)');
  if (!url.hostname && socketDir === undefined) throw bad('no host');
  const writtenPortText = params.get('port') ?? url.port;
  const port = writtenPortText ? Number(writtenPortText) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`--${side}: port ${writtenPortText} out of range (valid ports are 1–65535)`, { hint: 'fix the port after the host, e.g. HOST:5432' });
  }
  const database = safeDecode(url.pathname.replace(/^\//, ''), bad);
  if (!database) throw bad('no database name after the host');
  const user = url.username ? safeDecode(url.username, badUserInfo) : (process.env.PGUSER ?? 'postgres');

  const known = new Set(['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'connect_timeout', 'application_name', 'ssl', 'host', 'port']);
  for (const key of params.keys()) {
    if (!known.has(key)) throw bad(`unsupported parameter ${key}`);
  }
  const host = socketDir ?? url.hostname.replace(/^\[(.*)\]$/, '$1');
  const sslmodeGiven = params.has('sslmode') || params.get('ssl') === 'true';
  // Off loopback, TLS by default: a server (or a man in the middle) that declines TLS must not get the password.
  let sslmode = (params.get('sslmode') ??
    (params.get('ssl') === 'true' || !isLoopback(host.toLowerCase().replace(/\.$/, '')) ? 'require' : 'prefer')) as SslMode;
  if (!SSL_MODES.includes(sslmode)) throw bad(`sslmode must be one of ${SSL_MODES.join(', ')}`);
  if (sslmode === 'allow') sslmode = 'prefer'; // same observable behaviour for us: TLS when offered
  // A Unix socket never leaves the machine and carries no TLS: libpq ignores sslmode there, and so does pgshift.
  if (socketDir !== undefined) sslmode = 'disable';
  const connectTimeout = params.has('connect_timeout') ? Number(params.get('connect_timeout')) : DEFAULT_CONNECT_TIMEOUT_S;
  if (!Number.isFinite(connectTimeout) || connectTimeout < 0) throw bad('connect_timeout must be a number of seconds');

  const authority = socketDir !== undefined ? `${encodeURIComponent(socketDir)}${port === 5432 ? '' : `:${port}`}` : url.host;
  const display = `${url.protocol}//${encodeURIComponent(user)}${password ? ':***' : ''}@${authority}/${encodeURIComponent(database)}`;
  return Object.freeze({
    side,
    host,
    port,
    database,
    user,
    password,
    sslmode,
    sslmodeGiven,
    sslrootcert: params.get('sslrootcert') ?? undefined,
    sslcert: params.get('sslcert') ?? undefined,
    sslkey: params.get('sslkey') ?? undefined,
    connectTimeout: connectTimeout === 0 ? DEFAULT_CONNECT_TIMEOUT_S : connectTimeout,
    display,
  });
}

function safeDecode(s: string, bad: (why: string) => Error): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad('bad percent-encoding');
  }
}

/** Positive integer flag (--jobs 4). */
export function parsePositiveInt(name: string, value: string | number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, not ${value}`);
  return n;
}

/** Size flag: 512MB, 2GB, 1048576. */
export function parseSize(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$/i.exec(value);
  if (!m) throw new UsageError(`${name}: cannot read size "${value}"`, { hint: 'write it like 512MB or 2GB' });
  const unit = (m[2] ?? '').toLowerCase().replace(/i?b$/, '');
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit];
  if (mult === undefined) throw new UsageError(`${name}: unknown unit in "${value}"`);
  return Math.round(Number(m[1]) * mult);
}

/** What a connection points at, whatever its spelling: postgres:// or postgresql://, host case, loopback alias. */
export interface ConnectionIdentity {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
}

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback']);

/** A Unix-socket directory (the host of a postgres://%2F… or ?host=/… URL). */
export function isSocketDir(host: string): boolean {
  return host.startsWith('/');
}

export function isLoopback(host: string): boolean {
  return isSocketDir(host) || LOOPBACK_NAMES.has(host) || host === '::1' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::ffff:127.0.0.1';
}

/** Host name as compared: lower case, no trailing dot, every loopback spelling as "localhost". */
function normalHost(host: string): string {
  if (isSocketDir(host)) return host.replace(/\/+$/, '') || '/';
  const h = host.toLowerCase().replace(/\.$/, '');
  return isLoopback(h) ? 'localhost' : h;
}

/** Identity without any lookup. `spec` may be a URL (such as a stored display URL, password masked). */
export function connectionIdentity(spec: ConnectionSpec | string): ConnectionIdentity {
  const s = typeof spec === 'string' ? parseConnectionUrl(spec, 'source') : spec;
  return { host: normalHost(s.host), port: s.port, database: s.database, user: s.user };
}

type Lookup = (host: string) => Promise<string[]>;
const systemLookup: Lookup = async (host) => (await dnsLookup(host, { all: true })).map((a) => a.address);

/**
 * Do two connections reach the same database as the same user? Port, database and user must be equal; hosts are
 * equal when their names normalise alike or when they resolve to a common address (a name and its IP address).
 * A name that does not resolve only matches itself.
 */
export async function sameEndpoint(a: ConnectionSpec | string, b: ConnectionSpec | string, lookup: Lookup = systemLookup): Promise<boolean> {
  const x = connectionIdentity(a);
  const y = connectionIdentity(b);
  if (x.port !== y.port || x.database !== y.database || x.user !== y.user) return false;
  if (x.host === y.host) return true;
  const addresses = async (h: string) => {
    if (h === 'localhost' || isSocketDir(h)) return [h];
    const found = isIP(h) ? [h] : await lookup(h).catch(() => [] as string[]);
    return found.map(normalHost);
  };
  const [ax, ay] = await Promise.all([addresses(x.host), addresses(y.host)]);
  return ax.some((h) => ay.includes(h));
}
