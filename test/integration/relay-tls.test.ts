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
// The target stalls every STALL_EVERY rows (a CHECK that sleeps): the relay must pause the source, let the
// socket's own buffering take over, and resume, many times.
const STALL_EVERY = 10_000;
const STALL_DDL = `
  CREATE FUNCTION stall(i bigint) RETURNS boolean LANGUAGE sql AS
    $$ SELECT CASE WHEN i % ${STALL_EVERY} = 0 THEN pg_sleep(0.05) IS NOT NULL OR true ELSE true END $$;
  CREATE TABLE t_stall (id bigint PRIMARY KEY CHECK (stall(id)), n int, body text)`;

function socketOf(client: Client): { emit: (event: string | symbol, ...a: unknown[]) => boolean } {
  return (client as unknown as { connection: { stream: { emit: (event: string | symbol, ...a: unknown[]) => boolean } } }).connection.stream;
}

/** Count the 'data' events the source connection's socket emits (each one read through Node's Readable). */
function countDataEvents(client: Client): { events: number } {
  const stream = socketOf(client);
  const counts = { events: 0 };
  const emit = stream.emit.bind(stream);
  stream.emit = (event, ...a) => {
    if (event === 'data') counts.events++;
    return emit(event, ...a);
  };
  return counts;
}

type Chunk = { chunk: Buffer };
interface WritableSide {
  _write: (chunk: Buffer, encoding: string, cb: () => void) => void;
  _writev: (chunks: Chunk[], cb: () => void) => void;
}

/**
 * Count the writes that reach the target connection's socket handle (one system call each, or one TLS write):
 * Writable calls _write for a single chunk and _writev for all the chunks a cork gathered.
 */
function countWrites(client: Client): { writes: number; bytes: number } {
  const stream = (client as unknown as { connection: { stream: WritableSide } }).connection.stream;
  const counts = { writes: 0, bytes: 0 };
  const write = stream._write.bind(stream);
  const writev = stream._writev.bind(stream);
  stream._write = (chunk, encoding, cb) => {
    counts.writes++;
    counts.bytes += chunk.length;
    write(chunk, encoding, cb);
  };
  stream._writev = (chunks, cb) => {
    counts.writes++;
    for (const c of chunks) counts.bytes += c.chunk.length;
    writev(chunks, cb);
  };
  return counts;
}

describe('COPY relay from a TLS source', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let stallTgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    src = await createDatabase(pg15, { label: 'relaytls_src' });
    tgt = await createDatabase(pg17, { label: 'relaytls_tgt' });
    expect(src.url).toContain('sslmode=require');
    expect(tgt.url).toContain('sslmode=require');
    await src.owner(SEED_SQL);
    await tgt.owner(TARGET_DDL);
    stallTgt = await createDatabase(pg17, { label: 'relaytls_stall' });
    await stallTgt.owner(STALL_DDL);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop(), stallTgt?.drop()]));

  /** The source over TLS; the target over TLS too, or as its superuser without TLS (the Heroku-like footing). */
  async function clients(target = tgt, targetUrl = target.url): Promise<[Client, Client]> {
    const s = await connect(parseConnectionUrl(src.url, 'source'), { pooledReads: true });
    const t = await connect(parseConnectionUrl(targetUrl, 'target'));
    return [s, t];
  }

  it('writes a plaintext target in large pieces, not one per TLS record, and the data arrives byte for byte', async () => {
    expect(tgt.adminUrl).toContain('sslmode=disable');
    const [s, t] = await clients(tgt, tgt.adminUrl);
    try {
      const counts = countWrites(t);
      const reads = countDataEvents(s);
      const r = await relayCopy(s, t, 'COPY t TO STDOUT', 'COPY t FROM STDIN');
      expect(r.rows).toBe(100_000);
      expect(counts.bytes).toBeGreaterThan(8_000_000);
      // One write per TLS record was about 1,400 here (11 MB); gathered up to 256 kB, about 60 (a turn of the
      // event loop ends some early).
      console.log(`relay-tls: ${counts.writes} target writes for ${counts.bytes} bytes`);
      expect(counts.writes, `${counts.writes} writes for ${counts.bytes} bytes`).toBeLessThan(counts.bytes / 65_536);
      // The TLS records go to the relay directly (direct-reads.ts), not each through a 'data' event: about 1,400
      // events before; now only the few read while the relay was paused (the target pushing back).
      console.log(`relay-tls: ${reads.events} 'data' events on the source socket`);
      expect(reads.events).toBeLessThan(counts.bytes / 65_536);
    } finally {
      await Promise.all([s.end(), t.end()]);
    }
    await expectSameDatabase(src, tgt);
  });

  it('a target that keeps stalling: the relay pauses and resumes the TLS source many times, byte for byte', async () => {
    const [s, t] = await clients(stallTgt);
    try {
      const reads = countDataEvents(s);
      const r = await relayCopy(s, t, 'COPY t TO STDOUT', 'COPY t_stall FROM STDIN');
      expect(r.rows).toBe(100_000);
      // Reads that came while the relay was paused went through Node's Readable (buffered, then 'data' events).
      console.log(`relay-tls stall: ${reads.events} 'data' events`);
      expect(reads.events).toBeGreaterThan(0);
      // The source connection is pg's again, and answers.
      const { rows } = await s.query<{ one: number }>('SELECT 1 AS one');
      expect(rows[0]!.one).toBe(1);
    } finally {
      await Promise.all([s.end(), t.end()]);
    }
    const digest = `SELECT count(*) AS n, md5(string_agg(id || ':' || n || ':' || body, ',' ORDER BY id)) AS h FROM `;
    const [a, b] = await Promise.all([src.admin(digest + 't'), stallTgt.admin(digest + 't_stall')]);
    expect(b.rows[0]).toEqual(a.rows[0]);
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
