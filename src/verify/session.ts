// Every verify connection runs under the same fixed settings, so that equal data prints as equal text on both
// sides whatever each server's (or role's, or database's) defaults are, and across PostgreSQL majors.
import type { ConnectionSpec } from '../config.js';
import { connect, type Client } from '../db/connect.js';
import { IDENTITY_COLUMNS, identityFromRow, type IdentityRow, type ServerIdentity } from '../db/identity.js';
import { quoteLiteral } from '../db/ident.js';
import { importSnapshotSql } from '../db/snapshot.js';
import { classifyError } from '../errors.js';

/**
 * Set with SET LOCAL at the start of every verify transaction (not as startup parameters, which PgBouncer
 * refuses; and inside the transaction, so a transaction-mode pooler keeps them on the right server session):
 * - TimeZone/DateStyle/IntervalStyle: timestamptz, date and interval text depends on them.
 * - extra_float_digits=1: shortest text that round-trips exactly (PostgreSQL 12+), so -0, NaN and the last
 *   bit of a float are visible and print the same on every major.
 * - bytea_output=hex, lc_monetary=C: bytea and money text.
 * - search_path=pg_catalog: regclass/regtype values and catalog definitions print schema-qualified, the
 *   same way on both sides (a user's search_path setting would otherwise change the text).
 * - statement/idle timeouts off: workers hold a snapshot transaction open while others work.
 * - work_mem: the per-bucket hash aggregate stays in memory.
 * - jit off: every chunk query would pay JIT compilation again (hundreds of ms) for no gain on output functions.
 */
export const VERIFY_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  TimeZone: 'UTC',
  DateStyle: 'ISO,YMD',
  IntervalStyle: 'postgres',
  extra_float_digits: '1',
  bytea_output: 'hex',
  lc_monetary: 'C',
  standard_conforming_strings: 'on',
  search_path: 'pg_catalog',
  statement_timeout: '0',
  idle_in_transaction_session_timeout: '0',
  work_mem: '64MB',
  jit: 'off',
  // Compare every row: a policy that would hide rows from this role raises an error instead.
  row_security: 'off',
});

const SETTINGS_SQL = Object.entries(VERIFY_SETTINGS)
  .map(([k, v]) => `SET LOCAL ${k} = ${quoteLiteral(v)}`)
  .join('; ');

export interface VerifySession {
  client: Client;
  spec: ConnectionSpec;
  major: number;
}

/** What a catalog session learns about its server when it opens (one round trip, two when the system id is readable). */
export interface ServerFacts {
  serverVersion: string;
  blockSize: number;
  identity: ServerIdentity;
}

/** Phases verify's round trips are counted under (roundtrips.ts): the catalog sessions' and the workers'. */
export const CATALOG_PHASE = 'verify catalog';
export const DATA_PHASE = 'verify data';

/**
 * Open one verify connection with the fixed settings; its round trips are charged to `phase`. `major`: the
 * server's, already known (a worker of a side whose catalog session read it): no query at all.
 */
export async function openSession(spec: ConnectionSpec, role: string, phase: string = DATA_PHASE, major?: number): Promise<VerifySession> {
  const client = await connect(spec, { applicationName: `pgshift verify ${role}`, phase });
  if (major !== undefined) return { client, spec, major };
  try {
    const { rows } = await client.query<{ num: string }>("SELECT current_setting('server_version_num') AS num");
    return { client, spec, major: Math.floor(Number(rows[0]!.num) / 10000) };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classifyError(err, `${spec.side} ${spec.display}`, { phase: 'verify' });
  }
}

/** The catalog session: opened with its server's version, block size and identity read in the same round trip. */
export async function openCatalogSession(spec: ConnectionSpec, role: string): Promise<VerifySession & ServerFacts> {
  const client = await connect(spec, { applicationName: `pgshift verify ${role}`, phase: CATALOG_PHASE });
  try {
    const { rows } = await client.query<IdentityRow & { num: string; v: string; b: string }>(
      `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS v, current_setting('block_size') AS b, ${IDENTITY_COLUMNS}`,
    );
    const r = rows[0]!;
    const identity = await identityFromRow(client, r);
    return { client, spec, major: Math.floor(Number(r.num) / 10000), serverVersion: r.v, blockSize: Number(r.b), identity };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classifyError(err, `${spec.side} ${spec.display}`, { phase: 'verify' });
  }
}

/**
 * Coordinator: a read-only repeatable-read transaction whose snapshot every worker of the same side imports,
 * so all chunks and the later row location of one side see one consistent state of the database. One round
 * trip: BEGIN, the settings and the export go as one simple query.
 */
export async function beginExportedSnapshot(s: VerifySession): Promise<string> {
  const results = (await s.client.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${SETTINGS_SQL}; SELECT pg_export_snapshot() AS id`)) as unknown as {
    rows: { id: string }[];
  }[];
  return results[results.length - 1]!.rows[0]!.id;
}

/** BEGIN on the shared snapshot with the fixed settings: one round trip (`restart`: COMMIT the current transaction first). */
export async function importSnapshot(s: VerifySession, snapshot: string, restart = false): Promise<void> {
  await s.client.query(`${restart ? 'COMMIT; ' : ''}${importSnapshotSql(snapshot)}; ${SETTINGS_SQL}`);
}

export async function closeSession(s: VerifySession | undefined): Promise<void> {
  if (!s) return;
  // Ending the connection ends its read-only transaction. No ROLLBACK first: after a failure a sibling query may
  // still run on this client, and queueing behind it is what pg deprecates (a DeprecationWarning on the console).
  await s.client.end().catch(() => undefined);
}
