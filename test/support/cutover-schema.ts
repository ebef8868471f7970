// The application schema cutover.test.ts and rollback.test.ts migrate: a foreign key, an identity column, a user
// trigger, a sequence and a materialized view (what the finish puts back), with rows.
export const CUTOVER_SCHEMA = `
  CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL);
  CREATE TABLE child (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, parent_id int NOT NULL REFERENCES parent, v text);
  CREATE TABLE audit (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), what text);
  CREATE FUNCTION audit_child() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit (what) VALUES (TG_OP); RETURN NEW; END $$;
  CREATE TRIGGER child_audit AFTER INSERT ON child FOR EACH ROW EXECUTE FUNCTION audit_child();
  CREATE SEQUENCE invoice_no START 500;
  INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 200) g;
  INSERT INTO child (parent_id, v) SELECT 1 + g % 200, 'v' || g FROM generate_series(1, 2000) g;
  SELECT nextval('invoice_no');
  CREATE MATERIALIZED VIEW child_count AS SELECT parent_id, count(*) AS n FROM child GROUP BY parent_id;`;
