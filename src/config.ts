// Flags + environment → validated, frozen configuration. No I/O except reading nothing; connect lives in db/.
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
  readonly sslrootcert?: string;
  readonly sslcert?: string;
  readonly sslkey?: string;
  /** Seconds before giving up on connect (libpq connect_timeout). */
  readonly connectTimeout: number;
  /** The URL with its password masked: safe for logs, errors and JSON. */
  readonly display: string;
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

/** Parse a postgres:// URL as Heroku and libpq write them. */
export function parseConnectionUrl(raw: string, side: Side): ConnectionSpec {
  const bad = (why: string) =>
    new UsageError(`--${side}: malformed connection URL (${why})`, {
      hint: 'expected postgres://user:password@host:5432/dbname?sslmode=require',
    });
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    // Never echo the raw string: it may hold a password.
    throw bad('not a URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw bad(`scheme must be postgres:// or postgresql://, not ${url.protocol}//`);
  }
  const password = url.password ? safeDecode(url.password, bad) : undefined;
  registerSecret(password);
  if (!url.hostname) throw bad('no host');
  const port = url.port ? Number(url.port) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`invalid port ${url.port}`);
  const database = safeDecode(url.pathname.replace(/^\//, ''), bad);
  if (!database) throw bad('no database name after the host');
  const user = url.username ? safeDecode(url.username, bad) : process.env.PGUSER ?? 'postgres';

  const params = url.searchParams;
  const known = new Set(['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'connect_timeout', 'application_name', 'ssl']);
  for (const key of params.keys()) {
    if (!known.has(key)) throw bad(`unsupported parameter ${key}`);
  }
  let sslmode = (params.get('sslmode') ?? (params.get('ssl') === 'true' ? 'require' : 'prefer')) as SslMode;
  if (!SSL_MODES.includes(sslmode)) throw bad(`sslmode must be one of ${SSL_MODES.join(', ')}`);
  if (sslmode === 'allow') sslmode = 'prefer'; // same observable behaviour for us: TLS when offered
  const connectTimeout = params.has('connect_timeout') ? Number(params.get('connect_timeout')) : DEFAULT_CONNECT_TIMEOUT_S;
  if (!Number.isFinite(connectTimeout) || connectTimeout < 0) throw bad('connect_timeout must be a number of seconds');

  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const display = `${url.protocol}//${encodeURIComponent(user)}${password ? ':***' : ''}@${url.host}/${encodeURIComponent(database)}`;
  return Object.freeze({
    side,
    host,
    port,
    database,
    user,
    password,
    sslmode,
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
