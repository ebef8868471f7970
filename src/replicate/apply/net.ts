// The net effect of consecutive changes to one table, per row key. When the only unique rule of a table is its
// replica-identity key and no change alters a key, the order between DIFFERENT rows cannot matter (triggers and
// foreign keys are off while applying), and the changes to ONE row fold into one operation:
//   INSERT then UPDATEs → one INSERT of the final values; UPDATEs → one UPDATE of the columns they carried;
//   INSERT then DELETE → nothing; DELETE then INSERT → DELETE + INSERT; UPDATE then DELETE → DELETE.
// The segment is then applied as: all DELETEs, then all INSERTs, then all UPDATEs — a few multi-row statements
// for what were thousands of single-row changes. A change that cannot fold (it contradicts what the segment
// holds, e.g. a second INSERT of a key) is refused, and the caller starts a new segment after this one, so the
// source's order between the two is kept. Pure: unit-tested without a server.
import type { Row, Value } from '../change.js';

interface Entry {
  /** Key values of a row that existed before the segment and is deleted (set when it is). */
  key: Value[] | null;
  /** The row existed before the segment and is deleted first. */
  deleteFirst: boolean;
  /** Final values of a row inserted in the segment. */
  insert: Row | null;
  /** Merged carried columns of UPDATEs to a row that existed before the segment. */
  update: Row | null;
}

export interface NetEffect {
  /** Key values of rows to delete (each must exist: one not found is a divergence). */
  deletes: Value[][];
  inserts: Row[];
  /** Carried columns (the key columns among them) of rows to update (each must exist). */
  updates: Row[];
}

export class NetSegment {
  private readonly entries = new Map<string, Entry>();
  changes = 0;

  constructor(readonly keyCols: readonly string[]) {}

  get size(): number {
    return this.entries.size;
  }

  /** The key of a row as a map key, or null when a key value is missing (key columns are NOT NULL). */
  keyOf(row: Row): string | null {
    const cols = this.keyCols;
    if (cols.length === 1) return row[cols[0]!] ?? null; // the common case: no array, no JSON
    const values: Value[] = [];
    for (const k of cols) {
      const v = row[k];
      if (v === undefined || v === null) return null;
      values.push(v);
    }
    return JSON.stringify(values);
  }

  private keyValues(row: Row): Value[] {
    return this.keyCols.map((k) => row[k]!);
  }

  /** false: cannot fold (the caller starts a new segment). Takes ownership of `row` (it may be changed). */
  insert(row: Row): boolean {
    const id = this.keyOf(row);
    if (id === null) return false;
    const e = this.entries.get(id);
    if (!e) this.entries.set(id, { key: null, deleteFirst: false, insert: row, update: null });
    else if (e.insert || e.update || !e.deleteFirst) return false;
    else e.insert = row;
    this.changes++;
    return true;
  }

  /**
   * `set`: the carried columns; the key must be unchanged (`set`'s key values equal `old`'s). Takes ownership
   * of `set` (the key columns are added to it).
   */
  update(old: Row, set: Row): boolean {
    const id = this.keyOf(old);
    if (id === null) return false;
    for (const c of this.keyCols) {
      const v = set[c];
      if (v !== undefined && v !== old[c]) return false;
    }
    const e = this.entries.get(id);
    if (!e) {
      for (const c of this.keyCols) set[c] = old[c]!;
      this.entries.set(id, { key: null, deleteFirst: false, insert: null, update: set });
    } else if (e.insert) Object.assign(e.insert, set);
    else if (e.update) Object.assign(e.update, set);
    else return false; // deleted in this segment: an UPDATE cannot find it
    this.changes++;
    return true;
  }

  delete(old: Row): boolean {
    const id = this.keyOf(old);
    if (id === null) return false;
    const e = this.entries.get(id);
    if (!e) this.entries.set(id, { key: this.keyValues(old), deleteFirst: true, insert: null, update: null });
    else if (e.insert && !e.deleteFirst)
      this.entries.delete(id); // born and gone inside the segment
    else if (e.insert) e.insert = null;
    else if (e.update) {
      e.key = this.keyValues(e.update);
      e.update = null;
      e.deleteFirst = true;
    } else return false; // deleted twice
    this.changes++;
    return true;
  }

  effect(): NetEffect {
    const out: NetEffect = { deletes: [], inserts: [], updates: [] };
    for (const e of this.entries.values()) {
      if (e.deleteFirst) out.deletes.push(e.key!);
      if (e.insert) out.inserts.push(e.insert);
      if (e.update) out.updates.push(e.update);
    }
    return out;
  }
}
