// State migration 4. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
import type { Migration } from './types.js';

export const migration: Migration = {
  id: 4,
  name: 'schema entries restored so far (sections are committed in batches)',
  sql: `
      CREATE TABLE IF NOT EXISTS pgshift.copy_toc (
        dump_id  int PRIMARY KEY,
        section  text NOT NULL,
        done_at  timestamptz NOT NULL DEFAULT now()
      );`,
};
