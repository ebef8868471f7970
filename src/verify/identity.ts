// Is the "target" the source itself? Comparing a database with itself proves nothing, so verify refuses it.
import type { Client } from '../db/connect.js';
import { UsageError } from '../errors.js';

export interface DatabaseIdentity {
  /** pg_control_system().system_identifier when the role may read it; otherwise the server's start time and port. */
  server: string;
  database: string;
  databaseOid: string;
}

/**
 * Which server and database a connection reached, whatever host name or proxy led there: two URLs naming
 * localhost and 127.0.0.1 (or a pooler) reach the same database. The system identifier is unique per cluster;
 * when the role may not read it, the postmaster's start time (microseconds) and listening port stand in.
 */
export async function databaseIdentity(client: Client): Promise<DatabaseIdentity> {
  const { rows } = await client.query<{ can: boolean }>(
    `SELECT has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE') AS can`,
  );
  const server = rows[0]!.can
    ? `system ${(await client.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_catalog.pg_control_system()')).rows[0]!.id}`
    : `started ${(await client.query<{ s: string }>(`SELECT extract(epoch FROM pg_postmaster_start_time())::text || ' port ' || current_setting('port') AS s`)).rows[0]!.s}`;
  const db = await client.query<{ name: string; oid: string }>(
    `SELECT d.datname::text AS name, d.oid::text AS oid FROM pg_database d WHERE d.datname = current_database()`,
  );
  return { server, database: db.rows[0]!.name, databaseOid: db.rows[0]!.oid };
}

export function sameDatabase(a: DatabaseIdentity, b: DatabaseIdentity): boolean {
  return a.server === b.server && a.database === b.database && a.databaseOid === b.databaseOid;
}

/** Refuse (exit 2) when source and target are one database. */
export async function requireDistinctDatabases(source: Client, target: Client, command: string, targetDisplay: string): Promise<void> {
  const [s, t] = await Promise.all([databaseIdentity(source), databaseIdentity(target)]);
  if (!sameDatabase(s, t)) return;
  throw new UsageError(`${command}: --source and --target are the same database (${t.database} on one server, reached as ${targetDisplay}); comparing it with itself proves nothing`, {
    phase: 'preflight',
    hint: 'pass the URL of the new database as --target',
  });
}
