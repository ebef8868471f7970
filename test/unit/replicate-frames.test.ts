// FrameReader (src/replicate/pgoutput/frames.ts) reads the replication socket itself. Whatever way the server's
// bytes are cut into socket reads, every CopyData payload must come out whole and in order, and the bytes from
// the first non-streaming message on (an ErrorResponse, CopyDone) must reach pg's parser exactly.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameReader } from '../../src/replicate/pgoutput/frames.js';

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function run(stream: Buffer, cuts: number[]) {
  const socket = new EventEmitter();
  const toPg: Buffer[] = [];
  socket.on('data', (b: Buffer) => toPg.push(Buffer.from(b)));
  const payloads: string[] = [];
  let started = 0;
  const reader = new FrameReader(socket as unknown as Socket, {
    started: () => started++,
    copyData: (b, s, e) => payloads.push(b.subarray(s, e).toString('latin1')),
  });
  expect(reader.attach()).toBe(true);
  let at = 0;
  for (const c of [...cuts, stream.length]) {
    if (c <= at) continue;
    // A fresh buffer per read, as sockets deliver them.
    socket.emit('data', Buffer.from(stream.subarray(at, c)));
    at = c;
  }
  return { payloads, started, toPg: Buffer.concat(toPg) };
}

describe('replication frame reader', () => {
  const big = Buffer.alloc(200_000, 'x');
  big.write('big-start', 0);
  const datas = ['w-first', 'k-keepalive', '', 'w-after-notice', big.toString('latin1'), 'w-last'];
  const tail = Buffer.concat([message('E', Buffer.from('SFATAL\0Mterminating connection\0\0')), message('Z', Buffer.from('I'))]);
  const stream = Buffer.concat([
    message('W', Buffer.from([0, 0, 0])),
    message('d', Buffer.from(datas[0]!, 'latin1')),
    message('d', Buffer.from(datas[1]!, 'latin1')),
    message('d', Buffer.from(datas[2]!, 'latin1')),
    message('N', Buffer.from('SNOTICE\0Mhello\0\0')),
    message('S', Buffer.from('TimeZone\0UTC\0')),
    message('d', Buffer.from(datas[3]!, 'latin1')),
    message('d', big),
    message('d', Buffer.from(datas[5]!, 'latin1')),
    tail,
  ]);

  it('delivers every payload whole and hands the rest to pg, for any cut of the bytes into reads', () => {
    const cutsList: number[][] = [[]];
    for (const size of [1, 2, 3, 4, 5, 6, 7, 13, 64, 4096, 65536]) {
      const cuts: number[] = [];
      for (let i = size; i < stream.length; i += size) cuts.push(i);
      cutsList.push(cuts);
    }
    let seed = 7;
    for (let k = 0; k < 20; k++) {
      const cuts: number[] = [];
      for (let i = 0; i < stream.length;) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        i += 1 + (seed % 3000);
        cuts.push(i);
      }
      cutsList.push(cuts);
    }
    for (const cuts of cutsList) {
      const r = run(stream, cuts);
      expect(r.started).toBe(1);
      expect(r.payloads.length).toBe(datas.length);
      expect(r.payloads).toEqual(datas);
      expect(r.toPg.equals(tail)).toBe(true);
    }
  });

  it('leaves pg reading when the socket is not as expected', () => {
    const socket = new EventEmitter();
    socket.on('data', () => undefined);
    socket.on('data', () => undefined);
    expect(new FrameReader(socket as unknown as Socket, { started: () => undefined, copyData: () => undefined }).attach()).toBe(false);
    expect(socket.listenerCount('data')).toBe(2);
  });
});
