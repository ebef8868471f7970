// One identity for a table everywhere (plan, state, filters, progress, verify, replicate). Keys are built only
// here: "a.b"."c" and "a"."b.c" join to the same dotted string, so a dotted key silently merges two tables.
import { displayName } from '../db/ident.js';

export interface TableId {
  schema: string;
  name: string;
}

/** Collision-free map key for a table (any two distinct identities give distinct keys). */
export function tableKey(t: TableId): string {
  return JSON.stringify([t.schema, t.name]);
}

/** schema.name for people: quoted only where needed. */
export function displayTable(t: TableId): string {
  return displayName(t.schema, t.name);
}
