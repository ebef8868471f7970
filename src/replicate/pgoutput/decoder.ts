// A small decoder for pgoutput protocol versions 1 and 2 (https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html)
// into the source-agnostic change model. Version 2 adds the streaming of in-progress transactions: Stream
// Start/Stop/Commit/Abort, and inside a Stream Start … Stop block every Relation, Type, Insert, Update, Delete,
// Truncate and Message carries the xid of the (sub)transaction it belongs to after its tag. Written here rather than using pg-logical-replication's parser because
// that one runs every value through pg's global type parsers (timestamptz loses microseconds, numeric becomes a
// string only by accident of configuration); this one keeps every value as the text the server sent.
import type { Change, Row, SourceEvent, TableId } from '../change.js';
import { tableLabel } from '../change.js';

/** Milliseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch; pgoutput's timestamps are microseconds since it). */
const PG_EPOCH_MS = 946_684_800_000;

export interface RelationColumn {
  name: string;
  /** Part of the replica identity (flag bit 1). */
  key: boolean;
  typeOid: number;
  typeMod: number;
}

export interface Relation {
  oid: number;
  table: TableId;
  /** pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex). */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  columns: RelationColumn[];
  /** Names of the replica-identity columns, in column order (derived once per Relation message). */
  keyNames?: string[];
}

/** Buffer's own UTF-8 decoder, without toString()'s argument checks and encoding lookup (one call per value). */
type Utf8Slicing = Buffer & { utf8Slice(start: number, end: number): string };

export class ProtocolError extends Error {}

class Reader {
  private p = 0;
  private end = 0;
  private b: Buffer = Buffer.alloc(0);
  /** One reader per decoder, pointed at each message in turn (no object per message): bytes [at, end) of b. */
  reset(b: Buffer, at: number, end: number): this {
    this.b = b;
    this.p = at;
    this.end = end;
    return this;
  }
  // Plain byte arithmetic: readInt32BE() & co. check their arguments on every call (a few per value).
  u8(): number {
    this.need(1);
    return this.b[this.p++]!;
  }
  i16(): number {
    this.need(2);
    const b = this.b;
    const p = this.p;
    this.p = p + 2;
    return ((b[p]! << 24) | (b[p + 1]! << 16)) >> 16;
  }
  i32(): number {
    this.need(4);
    const b = this.b;
    const p = this.p;
    this.p = p + 4;
    return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
  }
  u32(): number {
    return this.i32() >>> 0;
  }
  u64(): bigint {
    this.need(8);
    const v = this.b.readBigUInt64BE(this.p);
    this.p += 8;
    return v;
  }
  /** A pgoutput timestamp (µs since 2000-01-01) in ms since 1970, read without a BigInt (exact below 2^53 µs). */
  timeMs(): number {
    this.need(8);
    const us = this.b.readInt32BE(this.p) * 4294967296 + this.b.readUInt32BE(this.p + 4);
    this.p += 8;
    return Math.floor(us / 1000) + PG_EPOCH_MS;
  }
  skip(n: number): void {
    this.need(n);
    this.p += n;
  }
  cstring(): string {
    const end = this.b.indexOf(0, this.p);
    if (end < 0 || end >= this.end) throw new ProtocolError('pgoutput: unterminated string');
    const s = this.b.toString('utf8', this.p, end);
    this.p = end + 1;
    return s;
  }
  text(len: number): string {
    if (len < 0) throw new ProtocolError('pgoutput: negative value length');
    this.need(len);
    const s = (this.b as Utf8Slicing).utf8Slice(this.p, this.p + len);
    this.p += len;
    return s;
  }
  private need(n: number): void {
    if (this.p + n > this.end) throw new ProtocolError('pgoutput: message ends early');
  }
}

/** What a Relation message announced that differs from the previous one for the same relation. */
export interface RelationChange {
  relation: Relation;
  previous: Relation | undefined;
}

/**
 * Stateful: Relation messages are remembered (one decoder per replication connection: the server re-sends
 * them on each new connection before first use).
 */
export class PgoutputDecoder {
  private readonly relations = new Map<number, Relation>();
  private readonly reader = new Reader();
  /** Inside a Stream Start … Stream Stop block (messages carry an xid). */
  private inStream = false;

  /**
   * Decode one pgoutput message (the payload of an XLogData: bytes [at, end) of `buf`). Returns null for messages
   * with no event. Commit times have ms precision: they only feed lag.
   */
  decode(buf: Buffer, at = 0, end = buf.length): SourceEvent | null {
    const r = this.reader.reset(buf, at, end);
    const tag = String.fromCharCode(r.u8());
    // Inside a streamed block the data messages carry the xid of their (sub)transaction first.
    const xid = this.inStream && XID_TAGGED.has(tag) ? r.u32() : undefined;
    switch (tag) {
      case 'B': {
        const finalLsn = r.u64();
        const time = new Date(r.timeMs());
        r.skip(4); // xid
        // +1: a transaction whose commit ends at or before the applied position starts before it (see change.ts).
        return { type: 'begin', position: finalLsn + 1n, commitTime: time };
      }
      case 'C': {
        r.skip(9); // flags, commit LSN
        const end = r.u64();
        const time = new Date(r.timeMs());
        return { type: 'commit', position: end, commitTime: time };
      }
      case 'R': {
        const { relation, previous } = this.relation(r);
        const cols = (x: Relation) => x.columns.map((c) => ({ name: c.name, typeOid: c.typeOid }));
        return {
          type: 'relation',
          table: relation.table,
          columns: cols(relation),
          ...(previous ? { previous: cols(previous) } : {}),
          ...(xid !== undefined ? { xid } : {}),
        };
      }
      case 'S': {
        if (this.inStream) throw new ProtocolError('pgoutput: Stream Start inside a streamed block');
        const x = r.u32();
        const first = r.u8() === 1;
        this.inStream = true;
        return { type: 'stream-start', xid: x, first };
      }
      case 'E':
        if (!this.inStream) throw new ProtocolError('pgoutput: Stream Stop outside a streamed block');
        this.inStream = false;
        return { type: 'stream-stop' };
      case 'c': {
        const x = r.u32();
        r.skip(9); // flags, commit LSN
        const end = r.u64();
        return { type: 'stream-commit', xid: x, position: end, commitTime: new Date(r.timeMs()) };
      }
      case 'A': {
        const x = r.u32();
        return { type: 'stream-abort', xid: x, subxid: r.u32() };
      }
      case 'Y': // type: names of non-built-in types; values are text, the target casts to its own column types
      case 'O': // origin
      case 'M': // logical decoding message (only sent when asked for)
        return null;
      case 'I': {
        const rel = this.rel(r.u32());
        const n = r.u8();
        if (n !== 0x4e) throw new ProtocolError(`pgoutput: INSERT without new tuple on ${tableLabel(rel.table)}`);
        return change({ kind: 'insert', table: rel.table, row: this.tuple(r, rel) }, xid);
      }
      case 'U': {
        const rel = this.rel(r.u32());
        let sub = r.u8();
        let old: Row | null = null;
        let full = false;
        if (sub === 0x4b /* K */ || sub === 0x4f /* O */) {
          full = sub === 0x4f || !hasKey(rel);
          old = this.tuple(r, rel);
          sub = r.u8();
        }
        if (sub !== 0x4e) throw new ProtocolError(`pgoutput: UPDATE without new tuple on ${tableLabel(rel.table)}`);
        const row = this.tuple(r, rel);
        if (full) return change({ kind: 'update', table: rel.table, identity: 'full', old: old!, row }, xid);
        // Key unchanged: the key values are those of the new row.
        return change({ kind: 'update', table: rel.table, identity: 'key', old: keyOf(rel, old ?? row), row }, xid);
      }
      case 'D': {
        const rel = this.rel(r.u32());
        const sub = r.u8();
        if (sub !== 0x4b && sub !== 0x4f) throw new ProtocolError(`pgoutput: DELETE without old tuple on ${tableLabel(rel.table)}`);
        const old = this.tuple(r, rel);
        return sub === 0x4f || !hasKey(rel)
          ? change({ kind: 'delete', table: rel.table, identity: 'full', old }, xid)
          : change({ kind: 'delete', table: rel.table, identity: 'key', old: keyOf(rel, old) }, xid);
      }
      case 'T': {
        const n = r.i32();
        const flags = r.u8();
        const tables: TableId[] = [];
        for (let i = 0; i < n; i++) tables.push(this.rel(r.u32()).table);
        return change({ kind: 'truncate', tables, cascade: (flags & 1) !== 0, restartIdentity: (flags & 2) !== 0 }, xid);
      }
      default:
        throw new ProtocolError(`pgoutput: unknown message type ${JSON.stringify(tag)} (protocol versions 1 and 2 are supported)`);
    }
  }

  private relation(r: Reader): RelationChange {
    const oid = r.u32();
    const schema = r.cstring() || 'pg_catalog';
    const name = r.cstring();
    const replicaIdentity = String.fromCharCode(r.u8()) as Relation['replicaIdentity'];
    const n = r.i16();
    const columns: RelationColumn[] = [];
    for (let i = 0; i < n; i++) {
      const flags = r.u8();
      columns.push({ key: (flags & 1) !== 0, name: r.cstring(), typeOid: r.u32(), typeMod: r.i32() });
    }
    const relation: Relation = { oid, table: { schema, name }, replicaIdentity, columns, keyNames: columns.filter((c) => c.key).map((c) => c.name) };
    const previous = this.relations.get(oid);
    this.relations.set(oid, relation);
    return { relation, previous };
  }

  private rel(oid: number): Relation {
    const rel = this.relations.get(oid);
    if (!rel) throw new ProtocolError(`pgoutput: change for relation ${oid} before its Relation message`);
    return rel;
  }

  private tuple(r: Reader, rel: Relation): Row {
    const n = r.i16();
    const row: Row = new RowObject();
    for (let i = 0; i < n; i++) {
      const col = rel.columns[i];
      if (!col) throw new ProtocolError(`pgoutput: tuple of ${tableLabel(rel.table)} has more columns than its Relation message`);
      const kind = r.u8();
      if (kind === 0x6e /* n */) row[col.name] = null;
      else if (kind === 0x74 /* t */) row[col.name] = r.text(r.i32());
      else if (kind === 0x75 /* u */)
        continue; // unchanged TOAST value: absent, the target keeps its value
      else
        throw new ProtocolError(
          `pgoutput: unexpected column kind ${JSON.stringify(String.fromCharCode(kind))} in ${tableLabel(rel.table)} (binary mode is never requested)`,
        );
    }
    return row;
  }
}

/**
 * Rows keyed by column name with no inherited properties (a column may be called `constructor` or
 * `__proto__`), yet in V8's fast mode: Object.create(null) objects are dictionaries, slow to fill and read.
 */
const RowObject = function RowObject(this: Row) {} as unknown as new () => Row;
RowObject.prototype = Object.create(null);

/**
 * A partitioned root without a key published via the root: the leaf's FULL old row arrives flagged as a key
 * tuple (pgoutput looks at the root's replica identity), with every column's real value — it is a full row.
 */
function hasKey(rel: Relation): boolean {
  return keyNames(rel).length > 0;
}

function keyNames(rel: Relation): string[] {
  return (rel.keyNames ??= rel.columns.filter((c) => c.key).map((c) => c.name));
}

/** Messages that carry their (sub)transaction's xid inside a streamed block (protocol 2). */
const XID_TAGGED = new Set(['R', 'Y', 'I', 'U', 'D', 'T', 'M']);

function change(c: Change, xid: number | undefined): SourceEvent {
  return xid === undefined ? { type: 'change', change: c } : { type: 'change', change: c, xid };
}

/** The replica-identity columns of a row (a key tuple carries nulls in its other columns). */
function keyOf(rel: Relation, row: Row): Row {
  const names = keyNames(rel);
  if (names.length === 0) throw new ProtocolError(`pgoutput: ${tableLabel(rel.table)} has no replica-identity columns`);
  const key: Row = new RowObject();
  for (const name of names) {
    const v = row[name];
    // A key value left unchanged and TOASTed is not sent: without it the row cannot be found safely.
    if (v === undefined)
      throw new ProtocolError(`pgoutput: the replica-identity column ${name} of ${tableLabel(rel.table)} was not sent (unchanged TOAST key value)`);
    key[name] = v;
  }
  return key;
}
