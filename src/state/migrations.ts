// The `pgshift` state schema on the target evolves by numbered migrations, each committed with its id, so a
// target written by an older pgshift is brought forward instead of half-matching `CREATE … IF NOT EXISTS`.
// The migrations are numbered immutable files in ./migrations/ (listed in order by its index.ts).
import { withTransaction, type Client } from '../db/connect.js';
import { STATE_SCHEMA } from '../catalog/system.js';
import { UsageError } from '../errors.js';
import { MIGRATIONS, type Migration } from './migrations/index.js';
import { assertStateTrusted, lockDownState } from './trust.js';

export { MIGRATIONS, type Migration };

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
  if (ns[0]!.present) {
    const seen = await assertStateTrusted(client, where);
    // A rerun's state as the last run left it (ours, locked down, every migration applied): nothing to create,
    // revoke or migrate — two round trips instead of a dozen, on every rerun over a slow link.
    if (seen.lockedDown && seen.objects.has(`table ${STATE_SCHEMA}.schema_migrations`)) {
      const { rows } = await client.query<{ id: number }>(`SELECT id FROM pgshift.schema_migrations`);
      const applied = new Set(rows.map((r) => r.id));
      if (MIGRATIONS.every((m) => applied.has(m.id)) && Math.max(0, ...applied) <= STATE_VERSION) return;
    }
  }
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
  // Every pending migration in one transaction, locked down once: a fresh target's state is one commit, not one
  // per migration (eleven commits and ~90 statements took 0.3–2.3 s before a copy's first step).
  const pending = MIGRATIONS.filter((m) => !applied.has(m.id));
  if (!pending.length) return;
  await withTransaction(client, async () => {
    for (const m of pending) {
      await client.query(m.sql);
      await client.query(`INSERT INTO pgshift.schema_migrations (id, name) VALUES ($1, $2)`, [m.id, m.name]);
    }
    await lockDownState(client);
  });
}
