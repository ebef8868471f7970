// The COPY relay with a TLS source (src/copy/relay.ts, relay-sink.ts): Node's TLS socket hands over one TLS
// record per read (PostgreSQL sends records of at most 8 kB, its send buffer), and each used to become its own write to the target (a socket write each, and over a TLS target
// its own record and writev) — twice the client CPU of the plaintext path. The target must now get those pieces
// gathered into large writes; counted on the target socket's write() (pg is not mocked: both ends are real
// servers over TLS). Also: a COPY stopped while pieces wait to be written still rolls back cleanly (the pad that
// completes a half-written message goes after them), and the data arrives byte for byte.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { relayCopy } from '../../src/copy/relay.js';
import { connect, type Client } from '../../src/db/connect.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SEED_SQL = `
  CREATE TABLE t (id bigint PRIMARY KEY, n int, body text);
  INSERT INTO t SELECT g, g % 1000, repeat(md5(g::text), 1 + g % 5) FROM generate_series(1, 100000) g;
  ANALYZE t;
`;
const TARGET_DDL = 'CREATE TABLE t (id bigint PRIMARY KEY, n int, body text)';

/** Count the writes and bytes that go into the target connection's socket. */
function countWrites(client: Client): { writes: number; bytes: number } {
  const stream = (client as unknown as { connection: { stream: { write: (...a: unknown[]) => boolean } } }).connection.stream;
  const counts = { writes: 0, bytes: 0 };
  const write = stream.write.bind(stream);
  stream.write = (...a: unknown[]) => {
    counts.writes++;
    counts.bytes += (a[0] as Buffer).length;
    return write(...a);
  };
  return counts;
}

describe('COPY relay from a TLS source', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    src = await createDatabase(pg15, { label: 'relaytls_src' });
    tgt = await createDatabase(pg17, { label: 'relaytls_tgt' });
    expect(src.url).toContain('sslmode=require');
    expect(tgt.url).toContain('sslmode=require');
    await src.owner(SEED_SQL);
    await tgt.owner(TARGET_DDL);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop()]));

  async function clients(): Promise<[Client, Client]> {
    const s = await connect(parseConnectionUrl(src.url, 'source'), { pooledReads: true });
    const t = await connect(parseConnectionUrl(tgt.url, 'target'));
    return [s, t];
  }

  it('writes the target in large pieces, not one per TLS record, and the data arrives byte for byte', async () => {
    const [s, t] = await clients();
    try {
      const counts = countWrites(t);
      const r = await relayCopy(s, t, 'COPY t TO STDOUT', 'COPY t FROM STDIN');
      expect(r.rows).toBe(100_000);
      expect(counts.bytes).toBeGreaterThan(8_000_000);
      // One write per TLS record was about 1,400 here (11 MB); gathered up to 256 kB, about 60 (a turn of the
      // event loop ends some early).
      console.log(`relay-tls: ${counts.writes} target writes for ${counts.bytes} bytes`);
      expect(counts.writes, `${counts.writes} writes for ${counts.bytes} bytes`).toBeLessThan(counts.bytes / 65_536);
    } finally {
      await Promise.all([s.end(), t.end()]);
    }
    await expectSameDatabase(src, tgt);
  });

  it('a COPY stopped while pieces wait to be written rolls back, and the target connection stays usable', async () => {
    await tgt.owner('TRUNCATE t');
    const [s, t] = await clients();
    try {
      const ac = new AbortController();
      let seen = 0;
      const run = relayCopy(s, t, 'COPY t TO STDOUT', 'BEGIN; COPY t FROM STDIN', {
        signal: ac.signal,
        onBytes: (n) => {
          seen += n;
          if (seen > 3_000_000 && !ac.signal.aborted) ac.abort(new Error('stop here'));
        },
      });
      await expect(run).rejects.toThrow('stop here');
      await t.query('ROLLBACK');
      const { rows } = await t.query<{ n: string }>('SELECT count(*) AS n FROM t');
      expect(rows[0]!.n).toBe('0');
    } finally {
      await Promise.all([s.end().catch(() => undefined), t.end()]);
    }
  });
});
