// Schemas pgshift never copies, compares or plans: the server's own, pgshift's state and capture schemas, and
// Heroku's internal plumbing (a customer role cannot recreate it; it is left out of the dump too). One list,
// so the dump, the data plan, verify and inventory always agree.
export const STATE_SCHEMA = 'pgshift';
export const CAPTURE_SCHEMA = '_pgshift';

const IGNORED = ['pg_catalog', 'information_schema', STATE_SCHEMA, CAPTURE_SCHEMA, '_heroku'] as const;

/** SQL predicate "this schema name is a user schema" for a column expression (e.g. n.nspname). */
export function userSchemaSql(column: string): string {
  return `(${column} NOT IN (${IGNORED.map((s) => `'${s}'`).join(', ')}) AND ${column} !~ '^pg_(toast|temp)')`;
}

/** Schemas pg_dump must leave out (`--exclude-schema`). */
export const DUMP_EXCLUDED_SCHEMAS: readonly string[] = [STATE_SCHEMA, CAPTURE_SCHEMA, '_heroku'];
