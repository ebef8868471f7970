// State migration 1. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
// IF NOT EXISTS: targets written before migrations existed already hold these tables.
import type { Migration } from './types.js';

export const migration: Migration = {
  id: 1,
  name: 'copy run, chunks and built indexes',
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
};
