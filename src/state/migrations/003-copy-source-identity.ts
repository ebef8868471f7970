// State migration 3. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
import type { Migration } from './types.js';

export const migration: Migration = {
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
};
