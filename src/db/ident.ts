// The one place identifiers are quoted. Values never go through here: they are bind parameters.

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** schema.name, both quoted. */
export function qualify(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

// PostgreSQL's reserved keywords and those that cannot be a schema name either (pg_get_keywords() catcode R and T,
// 15–17): a name spelled like one is quoted so that a printed statement runs as printed.
const KEYWORDS = new Set(
  `all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate collation column
  concurrently constraint create cross current_catalog current_date current_role current_schema current_time
  current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign freeze from
  full grant group having ilike in initially inner intersect into is isnull join lateral leading left like limit localtime
  localtimestamp natural not notnull null offset on only or order outer overlaps placing primary references returning
  right select session_user similar some symmetric system_user table tablesample then to trailing true union unique user
  using variadic verbose when where window with`.split(/\s+/),
);

/** Human form for messages and printed SQL: schema.name without quotes unless needed (case, characters, keywords). */
export function displayName(schema: string, name: string): string {
  const part = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) && !KEYWORDS.has(s) ? s : quoteIdent(s));
  return `${part(schema)}.${part(name)}`;
}

export function quoteLiteral(value: string): string {
  // Only for places where the protocol forbids parameters (replication commands, pg_dump --snapshot).
  return `'${value.replace(/'/g, "''")}'`;
}
