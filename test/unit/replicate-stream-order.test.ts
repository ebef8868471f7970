// The order in which a replication stream hands events over: Relation messages that open a transaction come
// BEFORE its begin (so the applier checks a changed definition with every earlier transaction committed), and
// nothing else ever passes a begin — above all not a keepalive, whose position would otherwise count the
// transaction as applied. Plain byte frames, as the walsender sends them.
import { describe, expect, it } from 'vitest';
import type { SourceEvent } from '../../src/replicate/change.js';
import { ReplicationStream } from '../../src/replicate/pgoutput/stream.js';

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

const xlog = (payload: Buffer) => Buffer.concat([tag('w'), u64(0x10n), u64(0x20n), u64(0n), payload]);
const keepalive = (walEnd: bigint) => Buffer.concat([tag('k'), u64(walEnd), u64(0n), u8(0)]);
const begin = (finalLsn: bigint) => xlog(Buffer.concat([tag('B'), u64(finalLsn), u64(0n), i32(7)]));
const commit = (end: bigint) => xlog(Buffer.concat([tag('C'), u8(0), u64(end - 8n), u64(end), u64(0n)]));
const relation = (oid: number, name: string) =>
  xlog(Buffer.concat([tag('R'), i32(oid), str('public'), str(name), tag('d'), i16(1), u8(1), str('id'), i32(23), i32(-1)]));
const insert = (oid: number, v: string) => xlog(Buffer.concat([tag('I'), i32(oid), tag('N'), i16(1), tag('t'), i32(v.length), Buffer.from(v)]));

function feed(frames: Buffer[]): string[] {
  const s = new ReplicationStream({ display: 'test' } as never, { slot: 's', publication: 'p', start: 0n });
  for (const f of frames) (s as unknown as { onCopyData(b: Buffer, start: number, end: number): void }).onCopyData(f, 0, f.length);
  const out: string[] = [];
  for (let ev: SourceEvent | undefined; (ev = s.take()) !== undefined;) {
    out.push(ev.type === 'relation' ? `relation ${ev.table.name}` : ev.type === 'change' ? 'change' : ev.type);
  }
  return out;
}

describe('replication stream order', () => {
  it('hands the Relation messages that open a transaction over before its begin', () => {
    expect(feed([begin(0x100n), relation(1, 'a'), relation(2, 'b'), insert(1, '1'), insert(2, '2'), commit(0x108n)])).toEqual([
      'relation a',
      'relation b',
      'begin',
      'change',
      'change',
      'commit',
    ]);
  });

  it('a Relation message inside a transaction (after a change) stays where it is', () => {
    expect(feed([begin(0x100n), relation(1, 'a'), insert(1, '1'), relation(2, 'b'), insert(2, '2'), commit(0x108n)])).toEqual([
      'relation a',
      'begin',
      'change',
      'relation b',
      'change',
      'commit',
    ]);
  });

  it('a keepalive never passes a begin; an empty transaction keeps its order', () => {
    expect(feed([begin(0x100n), keepalive(0x500n), relation(1, 'a'), insert(1, '1'), commit(0x108n), begin(0x200n), commit(0x208n)])).toEqual([
      'begin',
      'keepalive',
      'relation a',
      'change',
      'commit',
      'begin',
      'commit',
    ]);
  });

  it('a begin not followed by anything yet is not handed over', () => {
    expect(feed([begin(0x100n)])).toEqual([]);
  });
});
