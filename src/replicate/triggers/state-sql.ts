// State migration 6 (src/state/migrations.ts): trigger capture on the target. Never edit once shipped; append.
export const CAPTURE_STATE_SQL = `
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
`;
