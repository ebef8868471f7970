// The relay's hop to the source, under pgshift's own connection rules (db/credentials.ts, db/connect.ts): TLS per
// sslmode — an SSLRequest, then TLS with the options the driver's connections use —, no downgrade where the
// driver's connection got TLS, and a server that declines TLS refused unless sslmode allows plaintext.
import { connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isSocketDir, type ConnectionSpec, type SslMode } from '../../config.js';
import { libpqTlsEnv } from '../../db/credentials.js';
import { tlsOptions } from '../../db/connect.js';
import { ConnectionError } from '../../errors.js';
import { SSL_REQUEST } from './wire.js';

export interface SourceHop {
  socket: Socket | TLSSocket;
  encrypted: boolean;
}

/** The sslmode a child connection must use: the URL's, or require where the driver's prefer got TLS. */
export function hopSslmode(spec: ConnectionSpec): SslMode {
  return libpqTlsEnv(spec).PGSSLMODE as SslMode;
}

function failure(spec: ConnectionSpec, what: string, hint: string, cause?: unknown): ConnectionError {
  return new ConnectionError(`schema dump (pg_dump): ${spec.side} ${spec.display}: ${what}`, { phase: 'schema dump', hint, cause });
}

function openTcp(spec: ConnectionSpec): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // A Unix-socket directory (config.ts isSocketDir): the server's socket file in it, as libpq names it.
    const sock = isSocketDir(spec.host) ? tcpConnect({ path: join(spec.host, `.s.PGSQL.${spec.port}`) }) : tcpConnect({ host: spec.host, port: spec.port });
    sock.setNoDelay(true);
    sock.setKeepAlive(true, 10_000);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(failure(spec, `no answer within ${spec.connectTimeout}s`, 'check host, port and firewall (connect_timeout=N in the URL changes the wait)'));
    }, spec.connectTimeout * 1000);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(failure(spec, `could not connect (${(err as NodeJS.ErrnoException).code ?? err.message})`, 'check host, port and firewall', err));
    });
  });
}

/** The server's one-byte answer to an SSLRequest ('S' or 'N'); more bytes than that is refused (CVE-2021-23222). */
function sslAnswer(spec: ConnectionSpec, sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      cleanup();
      if (d.length !== 1) return reject(failure(spec, 'the server sent unexpected bytes after the TLS request', 'check that the port is a PostgreSQL server'));
      resolve(String.fromCharCode(d[0]!));
    };
    const onEnd = () => {
      cleanup();
      reject(failure(spec, 'the server closed the connection at the TLS request', 'check that the port is the PostgreSQL port and sslmode suits the server'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(failure(spec, `connection lost at the TLS request (${err.message})`, 'check the network path to the source', err));
    };
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('error', onError);
    };
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('error', onError);
    const req = Buffer.alloc(8);
    req.writeUInt32BE(8, 0);
    req.writeUInt32BE(SSL_REQUEST, 4);
    sock.write(req);
  });
}

function startTls(spec: ConnectionSpec, mode: SslMode, sock: Socket): Promise<TLSSocket> {
  const opts = tlsOptions({ ...spec, sslmode: mode });
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ ...(opts || {}), socket: sock });
    tls.once('secureConnect', () => {
      tls.removeAllListeners('error');
      resolve(tls);
    });
    tls.once('error', (err) => {
      sock.destroy();
      reject(failure(spec, `TLS failed (${err.message})`, 'check sslmode and sslrootcert in the URL against the server certificate', err));
    });
  });
}

/** Connect to the source as the driver would; resolves once the hop is ready for the startup packet. */
export async function openSourceHop(spec: ConnectionSpec): Promise<SourceHop> {
  const mode = hopSslmode(spec);
  const sock = await openTcp(spec);
  if (mode === 'disable') return { socket: sock, encrypted: false };
  let answer: string;
  try {
    answer = await sslAnswer(spec, sock);
  } catch (err) {
    sock.destroy();
    throw err;
  }
  if (answer === 'S') return { socket: await startTls(spec, mode, sock), encrypted: true };
  if (answer === 'N' && mode === 'prefer') return { socket: sock, encrypted: false };
  sock.destroy();
  throw failure(
    spec,
    `the server at ${spec.host}:${spec.port} does not offer TLS (sslmode=${mode}); nothing was sent`,
    'turn TLS on at the server; only on a trusted network path use sslmode=disable (passwords would travel in clear)',
  );
}
