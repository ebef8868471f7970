// pgoutput protocol v1 decoding from plain byte fixtures (as pg-protocol tests its parser): values stay the
// exact text the server sent, unchanged TOAST columns are absent, identities are told apart.
import { describe, expect, it } from 'vitest';
import { PgoutputDecoder, ProtocolError } from '../../src/replicate/pgoutput/decoder.js';
import { formatLsn, parseLsn } from '../../src/replicate/pgoutput/lsn.js';

const u8 = (n: number) => Buffer.from([n]);
const i16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};
const str = (s: string) => Buffer.concat([Buffer.from(s, 'utf8'), u8(0)]);
const tag = (c: string) => Buffer.from(c, 'ascii');
type Col = null | 'u' | string;
const tuple = (cols: Col[]) =>
  Buffer.concat([
    i16(cols.length),
    ...cols.map((c) => (c === null ? tag('n') : c === 'u' ? tag('u') : Buffer.concat([tag('t'), i32(Buffer.byteLength(c)), Buffer.from(c, 'utf8')]))),
  ]);

function relation(oid: number, schema: string, name: string, ident: string, cols: [string, boolean, number][]): Buffer {
  return Buffer.concat([
    tag('R'),
    i32(oid),
    str(schema),
    str(name),
    tag(ident),
    i16(cols.length),
    ...cols.map(([n, key, type]) => Buffer.concat([u8(key ? 1 : 0), str(n), i32(type), i32(-1)])),
  ]);
}

describe('pgoutput decoder', () => {
  it('begin and commit carry positions and times (µs since 2000-01-01)', () => {
    const d = new PgoutputDecoder();
    const us = 1_000_000n * 86_400n; // 2000-01-02
    expect(d.decode(Buffer.concat([tag('B'), u64(0x100n), u64(us), i32(7)]))).toEqual({
      type: 'begin',
      position: 0x101n,
      commitTime: new Date('2000-01-02T00:00:00Z'),
    });
    expect(d.decode(Buffer.concat([tag('C'), u8(0), u64(0x100n), u64(0x180n), u64(us)]))).toEqual({
      type: 'commit',
      position: 0x180n,
      commitTime: new Date('2000-01-02T00:00:00Z'),
    });
  });

  it('keeps values as the text the server sent, NULL as null, unchanged TOAST absent', () => {
    const d = new PgoutputDecoder();
    const rel = d.decode(
      relation(42, 'public', 'T x', 'd', [
        ['id', true, 23],
        ['ts', false, 1184],
        ['n', false, 1700],
        ['body', false, 25],
      ]),
    );
    expect(rel).toMatchObject({
      type: 'relation',
      table: { schema: 'public', name: 'T x' },
      columns: [{ name: 'id', typeOid: 23 }, { name: 'ts' }, { name: 'n' }, { name: 'body' }],
    });
    const ins = d.decode(Buffer.concat([tag('I'), i32(42), tag('N'), tuple(['1', '2024-02-29 23:59:59.999999+00', '-0.000000000000000000001', null])]));
    expect(ins).toEqual({
      type: 'change',
      change: {
        kind: 'insert',
        table: { schema: 'public', name: 'T x' },
        row: { id: '1', ts: '2024-02-29 23:59:59.999999+00', n: '-0.000000000000000000001', body: null },
      },
    });
    const upd = d.decode(Buffer.concat([tag('U'), i32(42), tag('N'), tuple(['1', '2024-01-01 00:00:00+00', 'NaN', 'u'])]));
    expect(upd).toEqual({
      type: 'change',
      change: {
        kind: 'update',
        table: { schema: 'public', name: 'T x' },
        identity: 'key',
        old: { id: '1' },
        row: { id: '1', ts: '2024-01-01 00:00:00+00', n: 'NaN' },
      },
    });
    expect('body' in (upd as any).change.row).toBe(false);
  });

  it('an UPDATE that changes the key carries the old key (K); a FULL identity carries the old row (O)', () => {
    const d = new PgoutputDecoder();
    d.decode(
      relation(1, 'public', 'k', 'd', [
        ['id', true, 23],
        ['v', false, 25],
      ]),
    );
    const k = d.decode(Buffer.concat([tag('U'), i32(1), tag('K'), tuple(['5', null]), tag('N'), tuple(['6', 'é'])]));
    expect((k as any).change).toMatchObject({ identity: 'key', old: { id: '5' }, row: { id: '6', v: 'é' } });
    d.decode(
      relation(2, 'public', 'nokey', 'f', [
        ['a', true, 25],
        ['b', true, 25],
      ]),
    );
    const f = d.decode(Buffer.concat([tag('U'), i32(2), tag('O'), tuple(['x', null]), tag('N'), tuple(['y', null])]));
    expect((f as any).change).toMatchObject({ identity: 'full', old: { a: 'x', b: null }, row: { a: 'y', b: null } });
    const del = d.decode(Buffer.concat([tag('D'), i32(2), tag('O'), tuple(['y', null])]));
    expect((del as any).change).toEqual({ kind: 'delete', table: { schema: 'public', name: 'nokey' }, identity: 'full', old: { a: 'y', b: null } });
    const delKey = d.decode(Buffer.concat([tag('D'), i32(1), tag('K'), tuple(['6', null])]));
    expect((delKey as any).change).toEqual({ kind: 'delete', table: { schema: 'public', name: 'k' }, identity: 'key', old: { id: '6' } });
  });

  it('a key tuple of a relation without key columns is a full row (partitioned root without a key, FULL leaves)', () => {
    const d = new PgoutputDecoder();
    d.decode(
      relation(5, 'public', 'plog', 'd', [
        ['k', false, 23],
        ['v', false, 25],
      ]),
    );
    const u = d.decode(Buffer.concat([tag('U'), i32(5), tag('K'), tuple(['1', 'a']), tag('N'), tuple(['2', 'a'])]));
    expect((u as any).change).toMatchObject({ identity: 'full', old: { k: '1', v: 'a' }, row: { k: '2', v: 'a' } });
    const del = d.decode(Buffer.concat([tag('D'), i32(5), tag('K'), tuple(['2', null])]));
    expect((del as any).change).toMatchObject({ identity: 'full', old: { k: '2', v: null } });
  });

  it('TRUNCATE lists every relation with its options', () => {
    const d = new PgoutputDecoder();
    d.decode(relation(1, 'public', 'a', 'd', [['id', true, 23]]));
    d.decode(relation(2, 's', 'b', 'd', [['id', true, 23]]));
    expect(d.decode(Buffer.concat([tag('T'), i32(2), u8(3), i32(1), i32(2)]))).toEqual({
      type: 'change',
      change: {
        kind: 'truncate',
        tables: [
          { schema: 'public', name: 'a' },
          { schema: 's', name: 'b' },
        ],
        cascade: true,
        restartIdentity: true,
      },
    });
  });

  it('a re-sent Relation message reports the columns it replaced (DDL mid-stream)', () => {
    const d = new PgoutputDecoder();
    d.decode(relation(9, 'public', 't', 'd', [['id', true, 23]]));
    const again = d.decode(
      relation(9, 'public', 't', 'd', [
        ['id', true, 23],
        ['added', false, 25],
      ]),
    );
    expect(again).toMatchObject({ type: 'relation', previous: [{ name: 'id', typeOid: 23 }], columns: [{ name: 'id' }, { name: 'added' }] });
  });

  it('fails loudly on what it cannot decode', () => {
    const d = new PgoutputDecoder();
    expect(() => d.decode(Buffer.concat([tag('I'), i32(77), tag('N'), tuple(['1'])]))).toThrow(ProtocolError);
    expect(() => d.decode(tag('Z'))).toThrow(/protocol versions 1 and 2/);
    expect(() => d.decode(tag('S'))).toThrow(/ends early/);
    d.decode(relation(3, 'public', 'bin', 'd', [['id', true, 23]]));
    expect(() => d.decode(Buffer.concat([tag('I'), i32(3), tag('N'), i16(1), tag('b'), i32(1), u8(1)]))).toThrow(/binary/);
    expect(() => d.decode(Buffer.concat([tag('B'), u64(1n)]))).toThrow(/ends early/);
  });
});

describe('pgoutput protocol 2: streamed in-progress transactions', () => {
  const us = 1_000_000n * 86_400n; // 2000-01-02
  const xidd = (x: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(x);
    return b;
  };

  it('decodes Stream Start/Stop/Commit/Abort and the xid that data messages carry inside a block', () => {
    const d = new PgoutputDecoder();
    expect(d.decode(Buffer.concat([tag('S'), xidd(740), u8(1)]))).toEqual({ type: 'stream-start', xid: 740, first: true });
    // Inside the block: Relation, Type and changes carry the xid of their (sub)transaction after the tag.
    const rel = Buffer.concat([
      tag('R'),
      xidd(740),
      relation(42, 'public', 't', 'd', [
        ['id', true, 23],
        ['v', false, 25],
      ]).subarray(1),
    ]);
    expect(d.decode(rel)).toMatchObject({ type: 'relation', xid: 740, table: { schema: 'public', name: 't' }, columns: [{ name: 'id' }, { name: 'v' }] });
    expect(d.decode(Buffer.concat([tag('Y'), xidd(740), i32(16400), str('public'), str('mood')]))).toBeNull();
    expect(d.decode(Buffer.concat([tag('I'), xidd(741), i32(42), tag('N'), tuple(['1', 'a'])]))).toEqual({
      type: 'change',
      xid: 741,
      change: { kind: 'insert', table: { schema: 'public', name: 't' }, row: { id: '1', v: 'a' } },
    });
    expect(d.decode(Buffer.concat([tag('U'), xidd(740), i32(42), tag('N'), tuple(['1', 'u'])]))).toMatchObject({
      type: 'change',
      xid: 740,
      change: { kind: 'update', identity: 'key', old: { id: '1' }, row: { id: '1' } },
    });
    expect(d.decode(Buffer.concat([tag('D'), xidd(742), i32(42), tag('K'), tuple(['1', null])]))).toMatchObject({
      type: 'change',
      xid: 742,
      change: { kind: 'delete', old: { id: '1' } },
    });
    expect(d.decode(Buffer.concat([tag('T'), xidd(740), i32(1), u8(0), i32(42)]))).toMatchObject({
      type: 'change',
      xid: 740,
      change: { kind: 'truncate', tables: [{ name: 't' }] },
    });
    expect(d.decode(Buffer.concat([tag('M'), xidd(740), u8(1), u64(5n), str('p'), i32(1), tag('x')]))).toBeNull();
    expect(d.decode(tag('E'))).toEqual({ type: 'stream-stop' });
    // Outside a block the same messages carry no xid (a whole transaction in between).
    expect(d.decode(Buffer.concat([tag('I'), i32(42), tag('N'), tuple(['2', 'b'])]))).toEqual({
      type: 'change',
      change: { kind: 'insert', table: { schema: 'public', name: 't' }, row: { id: '2', v: 'b' } },
    });
    expect(d.decode(Buffer.concat([tag('S'), xidd(740), u8(0)]))).toEqual({ type: 'stream-start', xid: 740, first: false });
    expect(d.decode(tag('E'))).toEqual({ type: 'stream-stop' });
    expect(d.decode(Buffer.concat([tag('A'), xidd(740), xidd(741)]))).toEqual({ type: 'stream-abort', xid: 740, subxid: 741 });
    expect(d.decode(Buffer.concat([tag('c'), xidd(740), u8(0), u64(0x200n), u64(0x280n), u64(us)]))).toEqual({
      type: 'stream-commit',
      xid: 740,
      position: 0x280n,
      commitTime: new Date('2000-01-02T00:00:00Z'),
    });
    // xids above 2^31 stay positive.
    expect(d.decode(Buffer.concat([tag('A'), xidd(0xfffffff0), xidd(0xfffffff0)]))).toEqual({ type: 'stream-abort', xid: 0xfffffff0, subxid: 0xfffffff0 });
  });

  it('refuses a block inside a block and a stop outside one', () => {
    const d = new PgoutputDecoder();
    expect(() => d.decode(tag('E'))).toThrow(ProtocolError);
    d.decode(Buffer.concat([tag('S'), xidd(1), u8(1)]));
    expect(() => d.decode(Buffer.concat([tag('S'), xidd(2), u8(1)]))).toThrow(/inside a streamed block/);
  });
});

describe('LSN', () => {
  it('parses padded and unpadded forms to the same number and prints the server form', () => {
    expect(parseLsn('0/16B3748')).toBe(0x16b3748n);
    expect(parseLsn('00000000/016B3748')).toBe(0x16b3748n);
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(formatLsn(0x1_0000_00a0n)).toBe('1/A0');
    expect(() => parseLsn('nope')).toThrow();
  });
});
