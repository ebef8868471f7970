// State migration 5. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
// Replication (pgoutput): the slot and publication are recorded here BEFORE they are created, the applied position is
// written in the same transaction as the changes it covers; replication_switch holds what was switched off on the
// target while applying.
import type { Migration } from './types.js';

export const migration: Migration = {
  id: 5,
  name: 'replication: slot and publication (recorded before creation), applied position, target switches',
  sql: `
CREATE TABLE IF NOT EXISTS pgshift.replication (
  id                   int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  source               text NOT NULL,
  slot                 text NOT NULL,
  publication          text NOT NULL,
  options              jsonb NOT NULL DEFAULT '{}',
  started_at           timestamptz NOT NULL DEFAULT now(),
  -- where streaming starts: the slot's consistent point (its exported snapshot is what the initial copy read)
  consistent_point     text,
  copy_done_at         timestamptz,
  -- source-agnostic position (pgoutput: commit end LSN as a number), same transaction as the applied changes
  applied_position     numeric,
  applied_commit_time  timestamptz,
  applied_at           timestamptz,
  caught_up_at         timestamptz
);
CREATE TABLE IF NOT EXISTS pgshift.replication_switch (
  kind     text NOT NULL,
  tbl      text NOT NULL,
  name     text NOT NULL,
  -- statements that put it back, run in one transaction with the removal of this row
  restore  text[] NOT NULL,
  PRIMARY KEY (kind, tbl, name)
);`,
};
