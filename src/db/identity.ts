// Which database a connection reaches, as the server itself says — not as the URL spells it (postgres:// vs
// postgresql://, localhost vs 127.0.0.1, a DNS alias). Used to recognise the same source on --resume and to
// refuse comparing or copying a database onto itself.
import type { Client } from './connect.js';

export interface ServerIdentity {
  /** pg_control_system().system_identifier when the role may read it (superuser or pg_monitor), else null. */
  systemIdentifier: string | null;
  serverAddr: string | null;
  serverPort: number | null;
  database: string;
  databaseOid: number;
  user: string;
}

/** The identity's columns, for a query that reads them with others in one round trip (see identityFromRow). */
export const IDENTITY_COLUMNS = `host(inet_server_addr()) AS addr, inet_server_port() AS port, current_database() AS db,
            (SELECT oid FROM pg_database WHERE datname = current_database())::int8 AS dboid, current_user AS usr,
            has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE') AS can_sysid`;

export interface IdentityRow {
  addr: string | null;
  port: number | null;
  db: string;
  dboid: string;
  usr: string;
  can_sysid: boolean;
}

/** The identity from IDENTITY_COLUMNS; the system identifier is read only when the role may (one more round trip). */
export async function identityFromRow(client: Client, r: IdentityRow): Promise<ServerIdentity> {
  let systemIdentifier: string | null = null;
  if (r.can_sysid) {
    const { rows: sys } = await client.query<{ id: string }>(`SELECT system_identifier::text AS id FROM pg_catalog.pg_control_system()`);
    systemIdentifier = sys[0]?.id ?? null;
  }
  return { systemIdentifier, serverAddr: r.addr, serverPort: r.port, database: r.db, databaseOid: Number(r.dboid), user: r.usr };
}

export async function serverIdentity(client: Client): Promise<ServerIdentity> {
  const { rows } = await client.query<IdentityRow>(`SELECT ${IDENTITY_COLUMNS}`);
  return identityFromRow(client, rows[0]!);
}

/** Same database on the same server? Falls back to address + port + database oid when the system id is hidden. */
export function sameDatabase(a: ServerIdentity, b: ServerIdentity): boolean {
  if (a.database !== b.database || a.databaseOid !== b.databaseOid) return false;
  if (a.systemIdentifier && b.systemIdentifier) return a.systemIdentifier === b.systemIdentifier;
  return a.serverAddr === b.serverAddr && a.serverPort === b.serverPort;
}

/** Parse a recorded identity back (state JSON); null when it is not one. */
export function parseServerIdentity(v: unknown): ServerIdentity | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.database !== 'string' || typeof o.databaseOid !== 'number' || typeof o.user !== 'string') return null;
  return {
    systemIdentifier: typeof o.systemIdentifier === 'string' ? o.systemIdentifier : null,
    serverAddr: typeof o.serverAddr === 'string' ? o.serverAddr : null,
    serverPort: typeof o.serverPort === 'number' ? o.serverPort : null,
    database: o.database,
    databaseOid: o.databaseOid,
    user: o.user,
  };
}
