// State migration 8. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
// the verify-point protocol between `pgshift verify` and a running
// replicate on the same target, and the baseline the cutover checks against. Never edit once shipped; append.
//
// verify_point: one row per online verify. The verify inserts it; the applier answers in it:
//   pgoutput: the applier commits what it holds and stops applying (held_at); the verify creates a temporary
//             slot, whose consistent point it writes (position); the applier applies every transaction committed
//             before it and none after, commits, exports a target snapshot and answers (reached_at,
//             target_snapshot), then goes on at once;
//   triggers: the applier's next batch exports its source snapshot (source_snapshot) and, after its commit, a
//             target snapshot (target_snapshot); position is the batch's pg_snapshot of the source.
// The verify says when it has imported both (imported_at): only then does the applier end the transactions
// that keep them. A request past expires_at, or whose verify session is gone, is ignored by the applier.
// verify_changed: changes applied after a reached point, per table, added by the applier in the same target
// transaction as the changes (one statement per commit). A baseline is a point whose verify passed (passed_at):
// what changed since it is the sum over that point and every later one.
import type { Migration } from './types.js';

export const migration: Migration = {
  id: 8,
  name: 'online verify: verify points answered by the running applier, changes applied since each point',
  sql: `
CREATE TABLE pgshift.verify_point (
  id               int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  capture          text NOT NULL CHECK (capture IN ('pgoutput', 'triggers')),
  requested_at     timestamptz NOT NULL DEFAULT now(),
  -- the verify's session: a request whose verify is gone is ignored at once (killed verifies never block)
  requester_pid    int NOT NULL DEFAULT pg_backend_pid(),
  expires_at       timestamptz NOT NULL,
  held_at          timestamptz,
  position         text,
  reached_at       timestamptz,
  source_snapshot  text,
  target_snapshot  text,
  applied_position text,
  pause_ms         int8,
  held_ms          int8,
  imported_at      timestamptz,
  failed           text,
  passed_at        timestamptz
);
CREATE TABLE pgshift.verify_changed (
  point        int8 NOT NULL, -- pgshift.verify_point.id (no foreign key: the state holds none of its own)
  table_schema text NOT NULL,
  table_name   text NOT NULL,
  changes      int8 NOT NULL,
  PRIMARY KEY (point, table_schema, table_name)
);`,
};
