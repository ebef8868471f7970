// State migration 9. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
// pgshift cutover: every freeze step recorded before it runs, with the source database's own
// default_transaction_read_only before the freeze, so --abort or a rerun after a crash always undoes it.
import type { Migration } from './types.js';

export const migration: Migration = {
  id: 9,
  name: 'cutover: each freeze step recorded before it runs, with the source setting to restore',
  sql: `
  CREATE TABLE pgshift.cutover (
    id                 int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    source             text NOT NULL,
    source_database    text NOT NULL,
    capture            text NOT NULL,
    freeze_mode        text NOT NULL,
    -- The database-level default_transaction_read_only before the freeze, as pg_db_role_setting held it
    -- (NULL: none was set). Recorded before the ALTER DATABASE; never overwritten by a rerun.
    read_only_before   text,
    -- true from just before ALTER DATABASE … SET default_transaction_read_only = on until it is undone.
    source_frozen      boolean NOT NULL DEFAULT false,
    step               text NOT NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    frozen_at          timestamptz,
    unfrozen_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    report             jsonb
  );`,
};
