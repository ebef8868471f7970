// How close a copy over a slow link comes to the link's limit (issue #30): copy --json reports the data phase's
// bytes on the wire and the seconds it spent streaming them, so link use = wire bytes / (bandwidth × seconds).
// Checked against a capped proxy in front of the source: the proxy counts the bytes it carried (every CopyData
// message the relay read crossed it), and no stream can beat the cap, so the streaming seconds are not short.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLatencyProxy, throughProxy, type LatencyProxy } from '../../bench/latency-proxy.js';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const CAP = 20e6; // bytes per second, each way
const BIG_ROWS = 150_000;
const SMALL = 12;

describe('copy --json: the data phase streaming seconds and bytes on the wire', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let tgtText: TestDatabase;
  let binaryWire = 0;
  let link: LatencyProxy;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt, tgtText] = await Promise.all([
      createDatabase(pg15, { label: 'stream_src' }),
      createDatabase(pg17, { label: 'stream_tgt' }),
      createDatabase(pg17, { label: 'stream_tgt_text' }),
    ]);
    const ddl = [
      // ~20 MB in one table with an integer key: split into key-range chunks below.
      `CREATE TABLE public.big (id bigint PRIMARY KEY, n int, note text)`,
      `INSERT INTO public.big SELECT g, g % 97, repeat(md5(g::text), 3) FROM generate_series(1, ${BIG_ROWS}) g`,
    ];
    for (let i = 0; i < SMALL; i++) {
      ddl.push(`CREATE TABLE public.small_${i} (id serial PRIMARY KEY, v text)`);
      ddl.push(`INSERT INTO public.small_${i} (v) SELECT 'v' || g FROM generate_series(1, ${10 + i * 5}) g`);
    }
    await src.owner(ddl.join(';\n'));
    await src.admin('VACUUM ANALYZE');
    link = await startLatencyProxy({ upstreamHost: src.cluster.host, upstreamPort: src.cluster.port, oneWayDelayMs: 1, bytesPerSecond: CAP });
  });
  afterAll(async () => {
    await link?.close();
    await Promise.all([src?.drop(), tgt?.drop(), tgtText?.drop()]);
  });

  it('reports wire bytes the proxy carried and streaming seconds no stream could beat at the cap', async () => {
    // The superuser's plaintext URL: the proxy reads the protocol (the owner's TLS would add its own bytes).
    const source = throughProxy(src.adminUrl, link.port);
    link.reset();
    const r = await runCli(['copy', '--source', source, '--target', tgt.url, '--jobs', '2', '--split-larger-than', '4MB', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = parseJson(r);
    const carried = link.counts();
    const st = s.stream;
    expect(st, JSON.stringify(s)).toBeDefined();
    const dump = JSON.stringify(st);
    // Payload as the summary counts it; the wire adds a 5-byte header per CopyData message: binary COPY sends
    // one per row, plus its header and trailer messages per COPY.
    expect(st.payloadBytes).toBe(s.bytes);
    const messages = (st.wireBytes - st.payloadBytes) / 5;
    expect(Number.isInteger(messages), dump).toBe(true);
    expect(messages).toBeGreaterThanOrEqual(s.rows);
    expect(messages).toBeLessThanOrEqual(s.rows + 2 * s.chunks);
    // Every byte the relay read came through the proxy; the rest of what it carried down is the schema dump and
    // catalog reads (small here).
    expect(carried.down).toBeGreaterThanOrEqual(st.wireBytes);
    expect(carried.down - st.wireBytes).toBeLessThan(2 * 1024 ** 2);
    // The cap bounds the streams: the reported seconds can't be shorter than the bytes at the cap (minus the
    // proxy's 10 ms burst), and streaming happens inside the data phase.
    expect(st.seconds, dump).toBeGreaterThanOrEqual(st.wireBytes / CAP - 0.05);
    expect(st.seconds).toBeLessThanOrEqual(st.spanSeconds + 0.001);
    const concurrency = Object.values(st.concurrency as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(Math.abs(concurrency - st.seconds), dump).toBeLessThan(0.01);
    expect(
      Object.keys(st.concurrency).every((k) => Number(k) >= 1 && Number(k) <= 2),
      dump,
    ).toBe(true);
    // The large chunks are listed one by one, the small tables summed; together they are the total.
    const listed = st.chunks as Array<{ table: string; chunk: number; chunks: number; wireBytes: number; seconds: number; startedAt: number }>;
    expect(listed.length, dump).toBeGreaterThanOrEqual(2);
    expect(
      listed.every((c) => c.table === 'public.big' && c.chunks >= 2 && c.seconds > 0),
      dump,
    ).toBe(true);
    expect(listed.reduce((a, c) => a + c.wireBytes, 0) + st.small.wireBytes).toBe(st.wireBytes);
    expect(st.small.chunks).toBeGreaterThanOrEqual(SMALL);
    expect(r.stderr + r.stdout).not.toContain(src.password);
    binaryWire = st.wireBytes;

    await expectSameDatabase(src.adminUrl, tgt.adminUrl);
  });

  it('--copy-format text: every table as text COPY, fewer bytes on the wire for these narrow rows, the same rows', async () => {
    const source = throughProxy(src.adminUrl, link.port);
    link.reset();
    const r = await runCli([
      'copy',
      '--source',
      source,
      '--target',
      tgtText.url,
      '--jobs',
      '2',
      '--split-larger-than',
      '4MB',
      '--copy-format',
      'text',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const s = parseJson(r);
    const st = s.stream;
    // Text COPY sends one CopyData message per row, no header or trailer.
    expect((st.wireBytes - st.payloadBytes) / 5, JSON.stringify(st)).toBe(s.rows);
    // bigint + int + 96 characters: text is shorter than binary's lengths and fixed-width integers.
    expect(binaryWire).toBeGreaterThan(0);
    expect(st.wireBytes).toBeLessThan(binaryWire * 0.95);
    expect(link.counts().down).toBeGreaterThanOrEqual(st.wireBytes);

    await expectSameDatabase(src.adminUrl, tgtText.adminUrl);
  });
});
