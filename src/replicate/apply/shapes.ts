// Per target table, what the writer derives once and then finds by identity for every change: which columns of a
// row may be written, the statement for each (kind, column lists), UPDATE plans, and whether changes fold by key.
// writable() and matchColumns() return one array per column list, so later caches can key on the array itself
// instead of building a signature string per change.
import { createHash } from 'node:crypto';
import { PgshiftError, StoppedError } from '../../errors.js';
import type { Row, Value } from '../change.js';
import type { TargetTable } from './catalog.js';
import { insertSql, updateByKeysSql, type Statement } from './sql.js';

/** The source's definition of a table no longer fits the target: exit 1 with the statement to run. */
export class SchemaChangedError extends StoppedError {}

export type NamedStatement = Statement & { name: string };

export interface Shapes {
  statements: Map<string, NamedStatement>;
  writable: Map<string, string[]>;
  /** The key changes fold by (net.ts), or null when the table has another unique rule or no key. */
  foldKey: string[] | null;
  /** Columns the source announced for the table (its Relation message): a row with that many holds them all. */
  sourceColumns: number;
  /** Columns the source sends that were dropped on both sides since (their values are not written). */
  ignored: Set<string> | null;
  /** writable() of a row holding all the source's columns (the common case, found without a signature). */
  full: string[] | null;
  /** Per (SET columns, key columns) of an UPDATE by key: what it writes besides the key, and how. */
  updates: Map<string[], Map<string[], UpdatePlan>>;
  /** INSERT statement per column list (writable() returns one array per list, so identity is the key). */
  inserts: Map<string[], NamedStatement>;
  /** The columns of the last key-only old row (the replica-identity key as the source sends it). */
  lastKey: string[] | null;
}

export interface UpdatePlan {
  others: string[];
  /** Set-based UPDATE when no other column is under a unique/exclusion rule; else null (applied in order). */
  byKeys: NamedStatement | null;
}

export class ShapeCache {
  private readonly byTable = new WeakMap<TargetTable, Shapes>();

  /** An UPDATE by key that leaves the key alone: the columns it writes besides the key, and its statement. */
  updatePlan(t: TargetTable, set: string[], keys: string[]): UpdatePlan {
    const shapes = this.of(t);
    let bySet = shapes.updates.get(set);
    if (!bySet) shapes.updates.set(set, (bySet = new Map()));
    let plan = bySet.get(keys);
    if (!plan) {
      const others = set.filter((k) => !keys.includes(k));
      const setBased = others.length > 0 && t.constrained !== 'all' && !others.some((k) => (t.constrained as Set<string>).has(k));
      plan = { others, byKeys: setBased ? this.statement(t, 'uk', [others, keys], () => updateByKeysSql(t, others, keys)) : null };
      bySet.set(keys, plan);
    }
    return plan;
  }

  /** Columns of a row the target may be written with: present, not generated. Unknown columns mean DDL. */
  writable(t: TargetTable, row: Row): string[] {
    const shapes = this.of(t);
    if (shapes.sourceColumns > 0) {
      let n = 0;
      for (const _ in row) n++;
      if (n === shapes.sourceColumns && shapes.full) return shapes.full;
      if (n === shapes.sourceColumns) return (shapes.full = this.writableOf(t, row));
    }
    return this.writableOf(t, row);
  }

  private writableOf(t: TargetTable, row: Row): string[] {
    const names = Object.keys(row);
    const cache = this.of(t).writable;
    const sig = names.join('\u0001');
    let out = cache.get(sig);
    if (!out) {
      out = [];
      for (const name of names) {
        const col = t.columns.get(name);
        if (!col && this.of(t).ignored?.has(name)) continue;
        if (!col) throw this.missingColumn(t, name);
        if (!col.generated) out.push(name);
      }
      cache.set(sig, out);
    }
    return out;
  }

  matchColumns(t: TargetTable, old: Row, identity: 'key' | 'full'): string[] {
    const shapes = this.of(t);
    // Key-only old rows carry the same columns every time: checked without building a signature.
    if (identity === 'key' && shapes.lastKey && sameColumns(old, shapes.lastKey)) return shapes.lastKey;
    const cols = this.writable(t, old);
    if (identity === 'key') shapes.lastKey = cols;
    if (cols.length === 0 && identity === 'key') {
      throw new PgshiftError(`streaming: a change to ${t.label} came without its replica-identity values`, { phase: 'streaming', object: t.label });
    }
    return cols;
  }

  private missingColumn(t: TargetTable, name: string): SchemaChangedError {
    return new SchemaChangedError(`streaming: column ${name} of ${t.label} exists on the source but not on the target; DDL is not replicated`, {
      phase: 'streaming',
      object: t.label,
      hint: `apply the same ALTER TABLE ${t.label} ADD COLUMN … on the target, then run the same pgshift replicate command again`,
    });
  }

  /** The source announced the table's columns (a Relation message): a row with that many holds them all. */
  announced(t: TargetTable, columns: number, ignored: Set<string> | null = null): void {
    const s = this.of(t);
    s.sourceColumns = columns;
    s.ignored = ignored;
    s.full = null;
  }

  /** The multi-row INSERT for a column list (found by the list's identity). */
  insert(t: TargetTable, cols: string[]): NamedStatement {
    const inserts = this.of(t).inserts;
    let stmt = inserts.get(cols);
    if (!stmt) inserts.set(cols, (stmt = this.statement(t, 'i', [cols], () => insertSql(t, cols))));
    return stmt;
  }

  of(t: TargetTable): Shapes {
    let s = this.byTable.get(t);
    if (!s) {
      const key = t.identityKey;
      const foldable = key !== null && t.constrained !== 'all' && [...t.constrained].every((c) => key.includes(c));
      this.byTable.set(
        t,
        (s = {
          statements: new Map(),
          writable: new Map(),
          foldKey: foldable ? key : null,
          sourceColumns: 0,
          ignored: null,
          full: null,
          updates: new Map(),
          inserts: new Map(),
          lastKey: null,
        }),
      );
    }
    return s;
  }

  statement(t: TargetTable, kind: string, colLists: string[][], build: () => Statement): NamedStatement {
    const statements = this.of(t).statements;
    const k = `${kind}\u0000${colLists.map((l) => l.join('\u0001')).join('\u0000')}`;
    let s = statements.get(k);
    if (!s) {
      const built = build();
      s = { ...built, name: `pgshift-${createHash('sha1').update(built.text).digest('hex').slice(0, 20)}` };
      statements.set(k, s);
    }
    return s;
  }
}

/** The values of `cols` in `row`, in that order. */
export function valuesOf(row: Row, cols: readonly string[]): Value[] {
  const out = new Array<Value>(cols.length);
  for (let i = 0; i < cols.length; i++) out[i] = row[cols[i]!]!;
  return out;
}

/** `row` holds exactly the columns `cols`. */
export function sameColumns(row: Row, cols: string[]): boolean {
  let n = 0;
  for (const _ in row) n++;
  return n === cols.length && cols.every((c) => c in row);
}
