// The `pgshift` state schema on the target evolves by numbered migrations, each committed with its id, so a
// target written by an older pgshift is brought forward instead of half-matching `CREATE … IF NOT EXISTS`.
// Append new migrations at the END; never edit or reorder one that has shipped.
import { withTransaction, type Client } from '../db/connect.js';
import { STATE_SCHEMA } from '../catalog/system.js';
import { UsageError } from '../errors.js';
import { REPLICATION_STATE_SQL, REPLICATION_SWITCH_FACTS_SQL } from '../replicate/state-sql.js';
import { assertStateTrusted, lockDownState } from './trust.js';
import { CAPTURE_STATE_SQL } from '../replicate/triggers/state-sql.js';
import { CUTOVER_STATE_SQL } from '../cutover/state.js';

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'copy run, chunks and built indexes',
    // IF NOT EXISTS: targets written before migrations existed already hold these tables.
    sql: `
      CREATE TABLE IF NOT EXISTS pgshift.copy_run (
        id            int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        started_at    timestamptz NOT NULL DEFAULT now(),
        resumed_at    timestamptz,
        finished_at   timestamptz,
        source        text NOT NULL,
        options       jsonb NOT NULL,
        schema_dump   bytea,
        steps         jsonb NOT NULL DEFAULT '{}'
      );
      CREATE TABLE IF NOT EXISTS pgshift.copy_chunk (
        table_schema  text NOT NULL,
        table_name    text NOT NULL,
        chunk         int NOT NULL,
        chunks        int NOT NULL,
        method        text NOT NULL,
        lo            text,
        hi            text,
        est_bytes     bigint NOT NULL,
        done_at       timestamptz,
        rows          bigint,
        bytes         bigint,
        PRIMARY KEY (table_schema, table_name, chunk)
      );
      CREATE TABLE IF NOT EXISTS pgshift.copy_index (
        table_schema  text NOT NULL,
        table_name    text NOT NULL,
        index_name    text NOT NULL,
        done_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (table_schema, index_name)
      );`,
  },
  {
    id: 2,
    name: 'what --data-only switched off on the target',
    sql: `
      CREATE TABLE IF NOT EXISTS pgshift.copy_fk (tbl text NOT NULL, name text NOT NULL, def text NOT NULL, PRIMARY KEY (tbl, name));
      CREATE TABLE IF NOT EXISTS pgshift.copy_trigger (tbl text NOT NULL, name text NOT NULL, PRIMARY KEY (tbl, name));`,
  },
  {
    id: 3,
    name: 'source identity and per-table change counters of a copy run',
    sql: `
      ALTER TABLE pgshift.copy_run ADD COLUMN IF NOT EXISTS source_identity jsonb;
      CREATE TABLE IF NOT EXISTS pgshift.copy_table (
        table_schema  text NOT NULL,
        table_name    text NOT NULL,
        -- n_tup_ins + n_tup_upd + n_tup_del on the source when its data was planned: a resume compares them
        -- to name the tables that changed in between.
        source_changes bigint,
        PRIMARY KEY (table_schema, table_name)
      );`,
  },
  {
    id: 4,
    name: 'schema entries restored so far (sections are committed in batches)',
    sql: `
      CREATE TABLE IF NOT EXISTS pgshift.copy_toc (
        dump_id  int PRIMARY KEY,
        section  text NOT NULL,
        done_at  timestamptz NOT NULL DEFAULT now()
      );`,
  },
  {
    id: 5,
    name: 'replication: slot and publication (recorded before creation), applied position, target switches',
    sql: REPLICATION_STATE_SQL,
  },
  {
    id: 6,
    name: 'trigger capture: captured tables (recorded before install), copy snapshot, applied snapshot',
    sql: CAPTURE_STATE_SQL,
  },
  {
    id: 7,
    name: 'target switches kept as facts (kind, table, name, catalog definition), never as SQL',
    sql: REPLICATION_SWITCH_FACTS_SQL,
  },
  {
    id: 8,
    name: 'cutover: each freeze step recorded before it runs, with the source setting to restore',
    sql: CUTOVER_STATE_SQL,
  },
];

/** The newest migration this pgshift knows. */
export const STATE_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.id;

export async function stateVersion(client: Client): Promise<number | null> {
  const { rows } = await client.query<{ present: boolean; legacy: boolean }>(
    `SELECT to_regclass('pgshift.schema_migrations') IS NOT NULL AS present, to_regclass('pgshift.copy_run') IS NOT NULL AS legacy`,
  );
  if (!rows[0]!.present) return rows[0]!.legacy ? 0 : null;
  await assertStateTrusted(client, 'the target'); // nothing read from a state another role can write
  const { rows: v } = await client.query<{ v: number | null }>(`SELECT max(id) AS v FROM pgshift.schema_migrations`);
  return v[0]!.v ?? 0;
}

/**
 * Create or bring forward the state schema. Callers hold the run lock, so two runs never migrate at once. A state
 * that exists already is checked first (owner, and no other role able to write it); every object is created with
 * the privileges of PUBLIC and of every other role revoked in the same transaction (default privileges too).
 */
export async function migrateState(client: Client, where = 'the target'): Promise<void> {
  const { rows: ns } = await client.query<{ present: boolean }>(`SELECT to_regnamespace($1) IS NOT NULL AS present`, [STATE_SCHEMA]);
  if (ns[0]!.present) await assertStateTrusted(client, where);
  await withTransaction(client, async () => {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${STATE_SCHEMA}`);
    await client.query(`COMMENT ON SCHEMA ${STATE_SCHEMA} IS 'pgshift migration state; safe to drop once the migration is over (pgshift cleanup)'`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS pgshift.schema_migrations (id int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    await lockDownState(client);
  });
  const { rows } = await client.query<{ id: number }>(`SELECT id FROM pgshift.schema_migrations`);
  const applied = new Set(rows.map((r) => r.id));
  const newest = Math.max(0, ...applied);
  if (newest > STATE_VERSION) {
    throw new UsageError(
      `the pgshift state on this target was written by a newer pgshift (state version ${newest}, this one knows ${STATE_VERSION}); nothing was changed`,
      {
        phase: 'preflight',
        hint: 'run the newer pgshift that started this migration',
      },
    );
  }
  for (const m of MIGRATIONS) {
    if (applied.has(m.id)) continue;
    await withTransaction(client, async () => {
      await client.query(m.sql);
      await client.query(`INSERT INTO pgshift.schema_migrations (id, name) VALUES ($1, $2)`, [m.id, m.name]);
      await lockDownState(client);
    });
  }
}
