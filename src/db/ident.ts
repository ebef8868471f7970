// The one place identifiers are quoted. Values never go through here: they are bind parameters.

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** schema.name, both quoted. */
export function qualify(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** Human form for messages: schema.name without quotes unless needed. */
export function displayName(schema: string, name: string): string {
  const part = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : quoteIdent(s));
  return `${part(schema)}.${part(name)}`;
}

export function quoteLiteral(value: string): string {
  // Only for places where the protocol forbids parameters (replication commands, pg_dump --snapshot).
  return `'${value.replace(/'/g, "''")}'`;
}
