// State migration 10. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
// `pgshift cutover --reverse` and `pgshift rollback`. On the NEW side (the cutover's target), pgshift.cutover says
// when a reverse stream was set up (from then on `cutover --abort` refuses: the application may write there).
// On the OLD side (the reverse stream's target), pgshift.reverse records the reverse stream and the rollback:
// every step of the rollback's freeze of the new side is written here before it runs, with the new database's
// own default_transaction_read_only before it, and the old database's before the cutover's freeze, so a rerun
// or `rollback --abort` after a crash never leaves both sides frozen with nobody to unfreeze them.
import type { Migration } from './types.js';

export const migration: Migration = {
  id: 10,
  name: 'reverse stream and rollback: each step recorded on the old side before it runs',
  sql: `
  ALTER TABLE pgshift.cutover ADD COLUMN reverse_capture text, ADD COLUMN reverse_at timestamptz;
  CREATE TABLE pgshift.reverse (
    id                    int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    -- the new side (the cutover's --target, the reverse stream's source), as pgshift displays its URL
    new_side              text NOT NULL,
    new_database          text NOT NULL,
    old_database          text NOT NULL,
    capture               text NOT NULL CHECK (capture IN ('pgoutput', 'triggers')),
    -- the old database's default_transaction_read_only before the cutover froze it (NULL: none was set)
    old_read_only_before  text,
    -- true while the old side is read-only by the cutover's freeze (false: --freeze wait, or unfrozen by rollback)
    old_frozen            boolean NOT NULL,
    set_up_at             timestamptz,
    -- the rollback: its step, the new database's setting before its freeze (NULL: none was set)
    step                  text NOT NULL DEFAULT 'streaming',
    new_read_only_before  text,
    new_frozen            boolean NOT NULL DEFAULT false,
    frozen_at             timestamptz,
    unfrozen_at           timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    report                jsonb
  );`,
};
