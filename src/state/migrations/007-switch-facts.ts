// State migration 7. Shipped: never edit (targets in the field hold its SQL); append a new file instead.
// What was switched off is kept as facts, never as SQL to run later (DESIGN §2.11). A foreign key
// keeps pg_get_constraintdef (parsed and rebuilt when restored), a trigger its enabled mode (O, A, R), an identity
// column 'a'. Rows written by migration 5's pgshift are converted when they are exactly what it wrote; any other
// row keeps its text in `restore`, which is never run: restoring stops and names it.
import type { Migration } from './types.js';

export const migration: Migration = {
  id: 7,
  name: 'target switches kept as facts (kind, table, name, catalog definition), never as SQL',
  sql: `
ALTER TABLE pgshift.replication_switch
  ADD COLUMN definition text,
  ADD COLUMN validate_owed boolean NOT NULL DEFAULT false,
  ALTER COLUMN restore DROP NOT NULL;
WITH q AS (SELECT kind, tbl, name, restore, 'ALTER TABLE ' || tbl || ' ' AS head, '"' || replace(name, '"', '""') || '"' AS qn
             FROM pgshift.replication_switch WHERE cardinality(restore) = 1)
UPDATE pgshift.replication_switch s
   SET definition = CASE
         WHEN q.kind = 'trigger' AND q.restore[1] = q.head || 'ENABLE TRIGGER ' || q.qn THEN 'O'
         WHEN q.kind = 'trigger' AND q.restore[1] = q.head || 'ENABLE ALWAYS TRIGGER ' || q.qn THEN 'A'
         WHEN q.kind = 'trigger' AND q.restore[1] = q.head || 'ENABLE REPLICA TRIGGER ' || q.qn THEN 'R'
         WHEN q.kind = 'identity' AND q.restore[1] = q.head || 'ALTER COLUMN ' || q.qn || ' SET GENERATED ALWAYS' THEN 'a'
         WHEN q.kind = 'foreign-key' AND left(q.restore[1], length(q.head || 'ADD CONSTRAINT ' || q.qn || ' FOREIGN KEY ')) = q.head || 'ADD CONSTRAINT ' || q.qn || ' FOREIGN KEY '
           THEN substr(q.restore[1], length(q.head || 'ADD CONSTRAINT ' || q.qn || ' ') + 1)
       END,
       validate_owed = (q.kind = 'foreign-key' AND q.restore[1] = q.head || 'VALIDATE CONSTRAINT ' || q.qn)
  FROM q WHERE s.kind = q.kind AND s.tbl = q.tbl AND s.name = q.name;
UPDATE pgshift.replication_switch SET restore = NULL WHERE definition IS NOT NULL OR validate_owed;`,
};
