// A foreign key set aside on the target is kept in state as the definition the catalog gave for it
// (pg_get_constraintdef), never as a statement. To put it back, that text is parsed strictly into its parts
// (columns, referenced table, actions, timing) and the statement is built from them here, every identifier quoted
// by quoteIdent and every keyword from a fixed list: a definition that does not parse is refused, never run.
import { qualify, quoteIdent } from '../db/ident.js';

export type FkAction = 'NO ACTION' | 'RESTRICT' | 'CASCADE' | 'SET NULL' | 'SET DEFAULT';

export interface ForeignKeyDef {
  columns: string[];
  /** Referenced table: schema (null when the catalog printed it unqualified) and name. */
  refSchema: string | null;
  refTable: string;
  refColumns: string[];
  match: 'SIMPLE' | 'FULL' | 'PARTIAL';
  onUpdate: FkAction;
  onDelete: FkAction;
  /** ON DELETE SET NULL (a, b) / SET DEFAULT (a): the columns set (PostgreSQL 15+). */
  onDeleteColumns: string[] | null;
  deferrable: boolean;
  initiallyDeferred: boolean;
  notValid: boolean;
}

type Token = { kind: 'ident'; value: string; quoted: boolean } | { kind: 'punct'; value: string };

const TOKEN = /\s*(?:"((?:[^"]|"")+)"|([A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)|([(),.]))/y;

function tokenize(def: string): Token[] {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < def.length) {
    if (/^\s*$/.test(def.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(def);
    if (!m) throw new Error(`unexpected text at character ${at + 1}`);
    if (m[1] !== undefined) out.push({ kind: 'ident', value: m[1].replace(/""/g, '"'), quoted: true });
    else if (m[2] !== undefined) out.push({ kind: 'ident', value: m[2], quoted: false });
    else out.push({ kind: 'punct', value: m[3]! });
    at = TOKEN.lastIndex;
  }
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly t: Token[]) {}
  private peekWord(): string | null {
    const x = this.t[this.i];
    return x && x.kind === 'ident' && !x.quoted ? x.value : null;
  }
  done(): boolean {
    return this.i >= this.t.length;
  }
  accept(...words: string[]): boolean {
    for (let k = 0; k < words.length; k++) {
      const x = this.t[this.i + k];
      if (!x || x.kind !== 'ident' || x.quoted || x.value !== words[k]) return false;
    }
    this.i += words.length;
    return true;
  }
  expect(...words: string[]): void {
    if (!this.accept(...words)) throw new Error(`expected ${words.join(' ')}`);
  }
  atPunct(p: string): boolean {
    const x = this.t[this.i];
    return Boolean(x && x.kind === 'punct' && x.value === p);
  }
  punct(p: string): boolean {
    const x = this.t[this.i];
    if (x && x.kind === 'punct' && x.value === p) {
      this.i++;
      return true;
    }
    return false;
  }
  name(): string {
    const x = this.t[this.i];
    if (!x || x.kind !== 'ident') throw new Error('expected a name');
    this.i++;
    return x.value;
  }
  names(): string[] {
    if (!this.punct('(')) throw new Error('expected (');
    const out = [this.name()];
    while (this.punct(',')) out.push(this.name());
    if (!this.punct(')')) throw new Error('expected )');
    return out;
  }
  action(): FkAction {
    for (const a of ['NO ACTION', 'RESTRICT', 'CASCADE', 'SET NULL', 'SET DEFAULT'] as const) if (this.accept(...a.split(' '))) return a;
    throw new Error(`unknown action ${this.peekWord() ?? ''}`);
  }
}

/** Parse pg_get_constraintdef() of a foreign key; throws on anything else. */
export function parseForeignKeyDef(def: string): ForeignKeyDef {
  const p = new Parser(tokenize(def));
  p.expect('FOREIGN', 'KEY');
  const columns = p.names();
  p.expect('REFERENCES');
  let refSchema: string | null = null;
  let refTable = p.name();
  if (p.punct('.')) {
    refSchema = refTable;
    refTable = p.name();
  }
  const refColumns = p.names();
  if (refColumns.length !== columns.length) throw new Error('the referenced columns do not match the columns');
  const fk: ForeignKeyDef = {
    columns,
    refSchema,
    refTable,
    refColumns,
    match: 'SIMPLE',
    onUpdate: 'NO ACTION',
    onDelete: 'NO ACTION',
    onDeleteColumns: null,
    deferrable: false,
    initiallyDeferred: false,
    notValid: false,
  };
  if (p.accept('MATCH')) {
    if (p.accept('FULL')) fk.match = 'FULL';
    else if (p.accept('PARTIAL')) fk.match = 'PARTIAL';
    else p.expect('SIMPLE');
  }
  if (p.accept('ON', 'UPDATE')) fk.onUpdate = p.action();
  if (p.accept('ON', 'DELETE')) {
    fk.onDelete = p.action();
    if ((fk.onDelete === 'SET NULL' || fk.onDelete === 'SET DEFAULT') && p.atPunct('(')) fk.onDeleteColumns = p.names();
  }
  if (p.accept('NOT', 'DEFERRABLE')) fk.deferrable = false;
  else if (p.accept('DEFERRABLE')) fk.deferrable = true;
  if (p.accept('INITIALLY', 'DEFERRED')) fk.initiallyDeferred = true;
  else p.accept('INITIALLY', 'IMMEDIATE');
  if (p.accept('NOT', 'VALID')) fk.notValid = true;
  if (!p.done()) throw new Error('unexpected words after the definition');
  return fk;
}

/** The definition as SQL, every identifier quoted here; `notValid` overrides the recorded one. */
export function foreignKeySql(fk: ForeignKeyDef, opts: { notValid?: boolean } = {}): string {
  const list = (xs: string[]) => `(${xs.map(quoteIdent).join(', ')})`;
  const ref = fk.refSchema === null ? quoteIdent(fk.refTable) : qualify(fk.refSchema, fk.refTable);
  const parts = [`FOREIGN KEY ${list(fk.columns)} REFERENCES ${ref} ${list(fk.refColumns)}`];
  if (fk.match !== 'SIMPLE') parts.push(`MATCH ${fk.match}`);
  if (fk.onUpdate !== 'NO ACTION') parts.push(`ON UPDATE ${fk.onUpdate}`);
  if (fk.onDelete !== 'NO ACTION') parts.push(`ON DELETE ${fk.onDelete}${fk.onDeleteColumns ? ` ${list(fk.onDeleteColumns)}` : ''}`);
  if (fk.deferrable) parts.push('DEFERRABLE');
  if (fk.initiallyDeferred) parts.push('INITIALLY DEFERRED');
  if (opts.notValid ?? fk.notValid) parts.push('NOT VALID');
  return parts.join(' ');
}

/** `ALTER TABLE schema.table ADD CONSTRAINT name <definition>`, built from parts. */
export function addForeignKeySql(table: { schema: string; name: string }, constraint: string, fk: ForeignKeyDef, opts: { notValid?: boolean } = {}): string {
  return `ALTER TABLE ${qualify(table.schema, table.name)} ADD CONSTRAINT ${quoteIdent(constraint)} ${foreignKeySql(fk, opts)}`;
}

/** A table named by regclass text kept in state, as the catalog knows it now (null: no such table). */
export async function resolveTable(
  c: { query: (sql: string, values: unknown[]) => Promise<{ rows: unknown[] }> },
  regclassText: string,
): Promise<{ schema: string; name: string; kind: string } | null> {
  const { rows } = await c.query(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = pg_catalog.to_regclass($1)`,
    [regclassText],
  );
  return (rows[0] as { schema: string; name: string; kind: string } | undefined) ?? null;
}
