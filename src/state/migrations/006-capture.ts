// State migration 6. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
// Trigger capture on the target: the captured tables are recorded BEFORE the install; applied_snapshot (a pg_snapshot
// of the source) is written in the same transaction as the changes it covers.
import type { Migration } from './types.js';

export const migration: Migration = {
  id: 6,
  name: 'trigger capture: captured tables (recorded before install), copy snapshot, applied snapshot',
  sql: `
CREATE TABLE pgshift.capture (
  id                  int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  source              text NOT NULL,
  tables              jsonb NOT NULL,
  options             jsonb NOT NULL DEFAULT '{}',
  started_at          timestamptz NOT NULL DEFAULT now(),
  installed_at        timestamptz,
  -- pg_current_snapshot() of the transaction that exported the initial copy's snapshot
  copy_snapshot       text,
  copy_done_at        timestamptz,
  -- every log row visible in this snapshot is applied; written with the changes it covers
  applied_snapshot    text,
  applied_changes     int8 NOT NULL DEFAULT 0,
  applied_batches     int8 NOT NULL DEFAULT 0,
  applied_commit_time timestamptz,
  applied_at          timestamptz,
  caught_up_at        timestamptz
)
`,
};
