// A relay between pg_dump and the source (issue #30.3): pg_dump < 16 pays one round trip per table lock and
// pg_dump < 18 one per sequence; over a slow link those are most of a schema dump's time. pg_dump connects to a
// Unix socket pgshift listens on, in a private folder (mode 0700: only this OS user can connect; accepts exactly
// one connection, then stops listening); the relay connects to the source under pgshift's own rules (outer.ts)
// and relays the session (session.ts). PGSHIFT_PGDUMP_RELAY=off runs pg_dump straight to the source.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import type { ConnectionSpec } from '../../config.js';
import { countConnection } from '../../db/roundtrips.js';
import { ConnectionError, PgshiftError } from '../../errors.js';
import { openSourceHop } from './outer.js';
import { RelaySession, type RelayStats } from './session.js';
import { CANCEL_REQUEST, errorResponse, GSSENC_REQUEST, MessageReader, SSL_REQUEST } from './wire.js';

export type { RelayStats } from './session.js';

export interface Relay {
  /** libpq variables that point pg_dump at the relay (over the ones built for the source). */
  env: Record<string, string>;
  /** Variables to drop from pg_dump's environment. */
  unset: string[];
  stats(): RelayStats | undefined;
  /** The relay's own refusal or failure, if any (more telling than pg_dump's echo of it). */
  failure(): PgshiftError | undefined;
  close(): void;
}

const PORT = 5432;

/** Whether pg_dump runs through the relay: on unless PGSHIFT_PGDUMP_RELAY=off (or on Windows). */
export function relayEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.PGSHIFT_PGDUMP_RELAY ?? '').toLowerCase();
  return process.platform !== 'win32' && !['off', '0', 'false', 'no'].includes(v);
}

/** Read the client's startup packet, declining TLS/GSS requests (the inner hop is a private local socket). */
function readStartup(client: Socket): Promise<{ startup: Buffer; rest: Buffer } | undefined> {
  const reader = new MessageReader(true);
  return new Promise((resolve) => {
    const onData = (d: Buffer) => {
      for (let m = reader.feed(d)[0]; m; m = reader.feed(Buffer.alloc(0))[0]) {
        const code = m.bytes.length >= 8 ? m.bytes.readUInt32BE(4) : 0;
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          client.write('N');
          continue;
        }
        client.off('data', onData);
        client.pause();
        if (code === CANCEL_REQUEST) return resolve(undefined);
        reader.startupDone();
        const rest: Buffer[] = [];
        for (let n = reader.next(); n; n = reader.next()) rest.push(n.bytes);
        // Bytes of an unfinished message stay in the reader: the session's own reader starts empty, so hand
        // them over raw (pg_dump sends nothing before the server's first answer, so this is normally empty).
        return resolve({ startup: m.bytes, rest: Buffer.concat([...rest, reader.rawPending()]) });
      }
    };
    client.on('data', onData);
    client.once('close', () => resolve(undefined));
  });
}

export async function startRelay(spec: ConnectionSpec): Promise<Relay> {
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-relay-'));
  let session: RelaySession | undefined;
  let failure: PgshiftError | undefined;
  const sockets: Socket[] = [];
  // close() can come while the source hop is still being opened (a Ctrl-C as pg_dump connects): a hop that opens
  // after it is closed at once, or it would hold the process open until the server times it out.
  let closed = false;
  const server: Server = createServer((client) => {
    // Exactly one connection: pg_dump's.
    server.close();
    sockets.push(client);
    client.on('error', () => undefined);
    void (async () => {
      const start = await readStartup(client);
      if (!start) return void client.destroy();
      let hop;
      try {
        hop = await openSourceHop(spec);
      } catch (err) {
        failure = err instanceof PgshiftError ? err : new ConnectionError(`schema dump (pg_dump): ${(err as Error).message}`, { cause: err });
        client.end(errorResponse('FATAL', '08001', failure.message));
        return;
      }
      const upstream = hop.socket;
      if (closed || client.destroyed) return void upstream.destroy();
      countConnection(spec.side);
      sockets.push(upstream);
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.end());
      upstream.on('close', () => client.end());
      session = new RelaySession(spec, client, upstream as Socket, hop.encrypted ? (upstream as TLSSocket) : undefined, (err) => (failure = err));
      session.start(start.startup, start.rest);
      client.resume();
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(join(dir, `.s.PGSQL.${PORT}`), () => resolve());
  });
  return {
    env: { PGHOST: dir, PGPORT: String(PORT), PGSSLMODE: 'disable', PGGSSENCMODE: 'disable' },
    // The relay authenticates (auth.ts): pg_dump is given no password, and no TLS files for a hop without TLS.
    unset: ['PGPASSWORD', 'PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY', 'PGREQUIREAUTH'],
    stats: () => session?.stats,
    failure: () => failure,
    close() {
      closed = true;
      server.close();
      for (const s of sockets) s.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
