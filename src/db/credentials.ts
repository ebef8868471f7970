// Where a connection's password comes from (the URL, PGPASSWORD, the password file) and when it may be sent:
// never in clear — a cleartext or MD5 password request — over a connection without TLS, unless the URL says
// sslmode=disable. Also the TLS facts the pg_dump/pg_restore children need to follow the same rules.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { ConnectionSpec } from '../config.js';
import { ConnectionError, UsageError } from '../errors.js';

/** libpq's password file: PGPASSFILE, else ~/.pgpass. */
export function passwordFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.PGPASSFILE || join(homedir(), '.pgpass');
}

const warned = new Set<string>();
function warnOnce(key: string, text: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  process.stderr.write(`pgshift: warning: ${text}\n`);
}

/** One line of a password file: five fields split on unescaped ':', backslash escapes ':' and '\'. */
function fields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '\\' && i + 1 < line.length) cur += line[++i];
    else if (ch === ':' && out.length < 4) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * libpq's lookup (host:port:database:user:password, '*' matches anything, first match wins). A file that group or
 * others can read is ignored with a warning, as libpq does.
 */
export function passwordFromFile(spec: Pick<ConnectionSpec, 'host' | 'port' | 'database' | 'user'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = passwordFile(env);
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) return undefined;
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      warnOnce(`mode:${file}`, `password file ${file} has group or world access and is ignored; make it private: chmod 0600 ${file}`);
      return undefined;
    }
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const want = [spec.host, String(spec.port), spec.database, spec.user];
  // libpq: a line for "localhost" also matches a connection through a Unix socket.
  const hostMatches = (f: string) => f === '*' || f === spec.host || (f === 'localhost' && spec.host.startsWith('/'));
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || line.startsWith('#')) continue;
    const f = fields(line);
    if (f.length < 5) continue;
    if (hostMatches(f[0]!) && want.slice(1).every((w, i) => f[i + 1] === '*' || f[i + 1] === w)) return f[4] || undefined;
  }
  return undefined;
}

/** The password pgshift will answer with, if the server asks: URL, then PGPASSWORD, then the password file. */
export function resolvePassword(spec: ConnectionSpec, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return spec.password ?? (env.PGPASSWORD || undefined) ?? passwordFromFile(spec, env);
}

/** The parts of pg's Connection used here: pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts). */
interface PgConnection {
  on(event: string, listener: () => void): void;
  stream?: { encrypted?: boolean };
}

/**
 * Install the password rules on a client before it connects: the password is handed to pg only when the server
 * asks for it, and refused (the connection fails with a clear error, nothing is sent) when the request is
 * cleartext or MD5 and the connection is not encrypted, unless the URL says sslmode=disable.
 */
export function guardPassword(client: pg.Client, spec: ConnectionSpec): void {
  const con = (client as unknown as { connection: PgConnection }).connection;
  let asked: 'cleartext' | 'md5' | 'sasl' | undefined;
  // These run before pg's own handlers (attached in connect()), which call the password function below.
  con.on('authenticationCleartextPassword', () => (asked = 'cleartext'));
  con.on('authenticationMD5Password', () => (asked = 'md5'));
  con.on('authenticationSASL', () => (asked = 'sasl'));
  const what = `${spec.side} ${spec.display}`;
  const password = async (): Promise<string> => {
    const encrypted = con.stream?.encrypted === true;
    if ((asked === 'cleartext' || asked === 'md5') && !encrypted && spec.sslmode !== 'disable') {
      throw new ConnectionError(
        `${what}: the server asked for a password in clear (${asked === 'md5' ? 'MD5' : 'cleartext'}) over an unencrypted connection; pgshift did not send it`,
        {
          hint:
            `the server (or something between you and it) declined TLS: turn TLS on at the server and use sslmode=require or verify-full; ` +
            `only if the network path is trusted (loopback, an SSH tunnel) add sslmode=disable to the URL to allow it`,
        },
      );
    }
    const pw = resolvePassword(spec);
    if (pw === undefined) {
      throw new ConnectionError(`${what}: the server asks for a password and no password given (not in the URL, PGPASSWORD or ${passwordFile()})`, {
        hint:
          `put the password in a password file (${passwordFile()}, mode 0600, a line host:port:database:user:password) ` +
          `or in the URL given by ${spec.side === 'source' ? 'PGSHIFT_SOURCE_URL' : 'PGSHIFT_TARGET_URL'}`,
      });
    }
    return pw;
  };
  Object.defineProperty(client, 'password', { configurable: true, enumerable: false, writable: true, value: password });
}

/** Whether a sslmode=prefer connection ended up encrypted, per endpoint: the children then insist on the same. */
const negotiated = new Map<string, boolean>();
const endpoint = (spec: ConnectionSpec) => `${spec.side} ${spec.display}`;

export function recordTls(spec: ConnectionSpec, client: pg.Client): void {
  const stream = (client as unknown as { connection?: PgConnection }).connection?.stream;
  negotiated.set(endpoint(spec), stream?.encrypted === true);
}

/**
 * The root certificate verify-ca/verify-full check against: sslrootcert, else libpq's ~/.postgresql/root.crt;
 * none is an error, as in libpq (Node's public CA bundle is never used silently; sslrootcert=system asks for it).
 */
export function rootCertFile(spec: ConnectionSpec): string | undefined {
  if (spec.sslrootcert) return spec.sslrootcert;
  if (spec.sslmode !== 'verify-ca' && spec.sslmode !== 'verify-full') return undefined;
  const fallback = join(homedir(), '.postgresql', 'root.crt');
  if (existsSync(fallback)) return fallback;
  throw new UsageError(
    `--${spec.side}: sslmode=${spec.sslmode} needs the root certificate to verify the server against: no sslrootcert= in the URL and no ${fallback}`,
    {
      hint: `add sslrootcert=/path/ca.pem to the URL (your provider's CA bundle), or sslrootcert=system to trust the system's CAs; sslmode=require encrypts without verifying`,
    },
  );
}

/** libpq environment for the TLS side of a pg_dump/pg_restore child: the same rules as the driver's connections. */
export function libpqTlsEnv(spec: ConnectionSpec): Record<string, string> {
  const env: Record<string, string> = { PGSSLMODE: spec.sslmode };
  if (spec.sslmode === 'prefer') {
    // The driver connected first: where it got TLS, the child must too (no downgrade); where it did not, libpq ≥ 16
    // refuses a cleartext or MD5 password request (older libpq ignores the variable).
    if (negotiated.get(endpoint(spec)) === true) env.PGSSLMODE = 'require';
    else env.PGREQUIREAUTH = '!password,!md5';
  }
  const root = rootCertFile(spec);
  if (root) env.PGSSLROOTCERT = root;
  if (spec.sslcert) env.PGSSLCERT = spec.sslcert;
  if (spec.sslkey) env.PGSSLKEY = spec.sslkey;
  return env;
}
