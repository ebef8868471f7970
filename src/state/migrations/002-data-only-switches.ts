// State migration 2. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
import type { Migration } from './types.js';

export const migration: Migration = {
  id: 2,
  name: 'what --data-only switched off on the target',
  sql: `
      CREATE TABLE IF NOT EXISTS pgshift.copy_fk (tbl text NOT NULL, name text NOT NULL, def text NOT NULL, PRIMARY KEY (tbl, name));
      CREATE TABLE IF NOT EXISTS pgshift.copy_trigger (tbl text NOT NULL, name text NOT NULL, PRIMARY KEY (tbl, name));`,
};
