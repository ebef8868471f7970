// pgshift relies on parts of node-postgres that are not its public API (#27.5). Written against pg 8.23.1
// (pg-protocol 1.16.1); each case pins one of them on a real server and, if a pg upgrade changes it, fails with a
// message naming what changed and which pgshift code depends on it. Behaviour tests elsewhere would fail too,
// but far from the cause (a hang in a COPY relay, an untagged error, a password refused for the wrong reason).
import { Socket } from 'node:net';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { connect, connectReplication, type Client } from '../../src/db/connect.js';
import { runPipelined } from '../../src/db/pipelined.js';
import { errorSide } from '../../src/errors.js';
import { sleep } from '../../src/sleep.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const PG_VERSION = (await import('pg/package.json', { with: { type: 'json' } })).default.version as string;

/** A failed pin: what pg changed, and who in pgshift depends on it. */
function changed(what: string, usedBy: string): string {
  return `pg ${PG_VERSION} changed an internal pgshift relies on (written against pg 8.23.1): ${what}. Used by ${usedBy}; adapt it there.`;
}

/** pg's Connection, as pgshift reaches it (`client.connection`). */
type PgConnection = NodeJS.EventEmitter & Record<string, unknown> & { stream: Socket };
const connectionOf = (c: pg.Client) => (c as unknown as { connection: PgConnection }).connection;

/** Settles with what a promise or submittable error carried, or fails if it succeeded. */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('pg internals pgshift relies on (pg 8.23.1)', () => {
  let db: TestDatabase;
  const open: pg.Client[] = [];
  const target = () => parseConnectionUrl(db.url, 'target');
  const opened = async (side: 'source' | 'target' = 'target'): Promise<Client> => {
    const c = await connect(parseConnectionUrl(db.url, side), { applicationName: 'pgshift pg-internals test' });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await createDatabase(inject('clusters').pg15, { label: 'pginternals', replication: true });
    await db.owner(`CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pins FOR TABLE t`);
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    await db?.drop();
  });

  it('client.connection is the protocol Connection: its stream the (TLS) socket with exactly one data reader, and the writers pgshift calls', async () => {
    const c = await opened();
    const con = connectionOf(c);
    expect(
      con,
      changed('client.connection is gone', 'db/connect.ts, db/credentials.ts, db/pipelined.ts, copy/relay.ts, replicate/pgoutput/stream.ts'),
    ).toBeTruthy();
    expect(
      con.stream instanceof Socket,
      changed('client.connection.stream is not a net.Socket', 'copy/relay.ts (writes and pauses it), replicate/pgoutput/frames.ts'),
    ).toBe(true);
    expect(
      (con.stream as Socket & { encrypted?: boolean }).encrypted,
      changed('a TLS connection.stream no longer says encrypted === true', 'db/credentials.ts (recordTls, the cleartext-password guard)'),
    ).toBe(true);
    expect(
      con.stream.listeners('data'),
      changed(
        "connection.stream no longer has exactly one 'data' listener (pg's protocol parser)",
        'copy/relay.ts and replicate/pgoutput/frames.ts, which take that listener over and hand bytes back to it',
      ),
    ).toHaveLength(1);
    for (const m of ['query', 'parse', 'bind', 'execute', 'sync', 'sendCopyFromChunk', 'sendCopyFail']) {
      expect(
        typeof con[m],
        changed(
          `Connection.${m}() is gone`,
          'db/pipelined.ts (parse/bind/execute/sync), copy/relay-sink.ts (query, sendCopyFail), replicate/pgoutput/stream.ts (sendCopyFromChunk)',
        ),
      ).toBe('function');
    }
  });

  it("pg's reader takes bytes handed to it by whoever holds the socket, in any split (the relay and frames.ts hand reads back)", async () => {
    const c = await opened();
    const stream = connectionOf(c).stream;
    const [pgData] = stream.listeners('data') as ((b: Buffer) => void)[];
    const byteByByte = (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) pgData!(chunk.subarray(i, i + 1));
    };
    stream.removeListener('data', pgData!);
    stream.on('data', byteByByte);
    try {
      const { rows } = await Promise.race([
        c.query<{ s: string }>(`SELECT string_agg(g::text, ',') AS s FROM generate_series(1, 3) g`),
        sleep(10_000).then(() =>
          Promise.reject(
            new Error(changed("pg's 'data' listener no longer parses bytes handed to it in pieces", 'copy/relay.ts, replicate/pgoutput/frames.ts')),
          ),
        ),
      ]);
      expect(rows[0]!.s).toBe('1,2,3');
    } finally {
      stream.removeListener('data', byteByByte);
      stream.on('data', pgData!);
    }
  });

  it("the Connection emits 'connect', the authentication request before pg asks for the password, and 'end'", async () => {
    const spec = target();
    const seen: string[] = [];
    const client = new pg.Client({ host: spec.host, port: spec.port, database: spec.database, user: spec.user, ssl: { rejectUnauthorized: false } });
    const con = connectionOf(client);
    con.once('connect', () => seen.push('connect'));
    con.once('authenticationSASL', () => seen.push('authenticationSASL'));
    con.once('end', () => seen.push('end'));
    Object.defineProperty(client, 'password', { value: async () => (seen.push('password asked'), db.password), writable: true });
    await client.connect();
    await client.end();
    expect(
      seen,
      changed(
        "Connection events 'connect' / 'authentication…' (before the password function is called) / 'end'",
        'db/connect.ts (a server that hangs up before the session starts), db/credentials.ts (guardPassword)',
      ),
    ).toEqual(['connect', 'authenticationSASL', 'password asked', 'end']);
  });

  it('tagErrorsWithSide: a promise query and a submittable (pg-copy-streams COPY FROM) both fail through the wrapper, stamped with their side', async () => {
    const c = await opened('source');
    const bad = await failure(c.query('SELECT no_such_column FROM t'));
    expect(
      errorSide(bad),
      changed('client.query() no longer rejects its promise through the instance method pgshift wraps', 'db/connect.ts tagErrorsWithSide'),
    ).toEqual({ side: 'source', lost: false });
    const copy = c.query(copyFrom('COPY t FROM STDIN'));
    const copyError = new Promise<unknown>((resolve) => copy.on('error', resolve));
    copy.end('not-a-number\n');
    const err = await copyError;
    expect((err as { code?: string }).code).toBe('22P02');
    expect(
      errorSide(err),
      changed(
        "a submittable's handleError(err, connection) is no longer how pg reports its failure",
        'db/connect.ts tagErrorsWithSide (COPY streams, the relay, pipelined statements)',
      ),
    ).toEqual({ side: 'source', lost: false });
  });

  it('after the server ends the session, the next query fails (not hangs) and the socket reads as gone: the error says lost', async () => {
    const c = await opened();
    const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
    await db.admin('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await Promise.race([
      ended,
      sleep(10_000).then(() =>
        Promise.reject(new Error(changed("a client whose session the server ended emits no 'end'", 'replicate/pgoutput/stream.ts, apply/applier.ts'))),
      ),
    ]);
    const err = await Promise.race([failure(c.query('SELECT 1')), sleep(10_000).then(() => 'hung')]);
    expect(err, changed('a query on a client whose connection ended neither fails nor settles', 'db/connect.ts and the apply retry rule')).not.toBe('hung');
    expect(
      errorSide(err),
      changed('connection.stream of an ended client is not destroyed / ended / unwritable', 'db/connect.ts socketGone (a lost connection vs a failed query)'),
    ).toEqual({ side: 'target', lost: true });
  });

  it("a submittable is handed the Connection (submit) and the server's error (handleError), as pipelined statements need", async () => {
    const c = await opened();
    await runPipelined(c, [
      { text: 'INSERT INTO t VALUES ($1)', values: [1] },
      { text: 'INSERT INTO t VALUES ($1)', values: [2] },
    ]);
    const err = await failure(
      runPipelined(c, [
        { text: 'INSERT INTO t VALUES ($1)', values: [3] },
        { text: 'INSERT INTO t VALUES ($1)', values: [1] },
      ]),
    );
    expect((err as { code?: string }).code, changed('a submittable no longer receives submit(connection) / handleError', 'db/pipelined.ts')).toBe('23505');
    const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
    expect(rows[0]!.n, 'statements before one Sync are one implicit transaction: the duplicate rolled 3 back with it').toBe(2);
  });

  it("the relay's way in: a submittable's connection.query() starts COPY FROM STDIN and sendCopyFail() ends it with the server's error", async () => {
    const c = await opened();
    const settled = new Promise<unknown>((resolve) => {
      const sub = {
        callback() {},
        submit(con: PgConnection) {
          (con.query as (text: string) => void).call(con, 'COPY t FROM STDIN');
        },
        handleCopyInResponse(con: PgConnection) {
          (con.sendCopyFail as (m: string) => void).call(con, 'pinned by pg-internals.test');
        },
        handleError: (err: unknown) => resolve(err),
        handleReadyForQuery: () => resolve('ready without an error'),
      };
      void c.query(sub as never);
    });
    const err = await Promise.race([settled, sleep(10_000).then(() => 'hung')]);
    expect(
      String((err as Error).message ?? err),
      changed('COPY FROM STDIN through connection.query + handleCopyInResponse + sendCopyFail', 'copy/relay-sink.ts (CopyInSink)'),
    ).toContain('pinned by pg-internals.test');
    await c.query('SELECT 1'); // the connection is usable again
  });

  it("the replication stream: 'replicationStart', 'copyData', and a status update written with connection.sendCopyFromChunk()", async () => {
    const spec = parseConnectionUrl(db.url, 'source');
    const app = `pgshift pins ${process.pid}`;
    const c = await connectReplication(spec, app);
    open.push(c);
    await c.query(`CREATE_REPLICATION_SLOT pins_slot TEMPORARY LOGICAL pgoutput`);
    const con = connectionOf(c);
    const started = new Promise<void>((resolve) => con.once('replicationStart', () => resolve()));
    const keepalive = new Promise<void>((resolve) => con.on('copyData', (msg: { chunk: Buffer }) => msg.chunk[0] === 0x6b && resolve()));
    const stream = c.query(`START_REPLICATION SLOT pins_slot LOGICAL 0/0 (proto_version '1', publication_names 'pins')`).catch(() => undefined);
    const timeout = (what: string) => sleep(10_000).then(() => Promise.reject(new Error(changed(what, 'replicate/pgoutput/stream.ts'))));
    await Promise.race([started, timeout("no 'replicationStart' event after START_REPLICATION")]);
    // Standby status update ('r'), as stream.ts writes it; its send time (2001-01-01 UTC, in microseconds since
    // 2000-01-01) is what the server shows as reply_time once it has read the message. Reply requested.
    const status = Buffer.alloc(34);
    status[0] = 0x72;
    status.writeBigInt64BE(366n * 86_400n * 1_000_000n, 25);
    status[33] = 1;
    (con.sendCopyFromChunk as (b: Buffer) => void).call(con, status);
    await Promise.race([keepalive, timeout("no 'copyData' (a keepalive) while streaming")]);
    let replyTime: string | null = null;
    for (let i = 0; i < 100 && replyTime === null; i++) {
      const { rows } = await db.admin<{ t: string | null }>(
        `SELECT to_char(reply_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS t FROM pg_stat_replication WHERE application_name = $1`,
        [app],
      );
      replyTime = rows[0]?.t ?? null;
      if (replyTime === null) await sleep(100);
    }
    expect(
      replyTime,
      changed(
        'a status update written with connection.sendCopyFromChunk() does not reach the server as CopyData',
        'replicate/pgoutput/stream.ts (acknowledging the applied position)',
      ),
    ).toBe('2001-01-01 00:00:00');
    await c.end().catch(() => undefined);
    await stream;
  });
  it("pg's SCRAM and MD5 helpers the pg_dump relay authenticates with (pg/lib/crypto)", async () => {
    const sasl = (await import('pg/lib/crypto/sasl.js')).default;
    const utils = (await import('pg/lib/crypto/utils.js')).default;
    const where = 'schema/relay/auth.ts (the pg_dump relay authenticating to the source)';
    for (const f of ['startSession', 'continueSession', 'finalizeSession'] as const) {
      expect(typeof sasl[f], changed(`pg/lib/crypto/sasl.js no longer exports ${f}()`, where)).toBe('function');
    }
    expect(typeof utils.postgresMd5PasswordHash, changed('pg/lib/crypto/utils.js no longer exports postgresMd5PasswordHash()', where)).toBe('function');
    // Without a TLS stream: plain SCRAM-SHA-256 and the gs2 header 'n' (no channel binding), as the relay expects.
    const session = sasl.startSession(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
    expect(session.mechanism, changed('startSession() without a stream chose another mechanism', where)).toBe('SCRAM-SHA-256');
    expect(session.response, changed("startSession()'s client-first message changed shape", where)).toMatch(/^n,,n=\*,r=/);
    expect(await utils.postgresMd5PasswordHash('u', 'p', Buffer.from([1, 2, 3, 4])), changed('postgresMd5PasswordHash() changed', where)).toMatch(
      /^md5[0-9a-f]{32}$/,
    );
  });
});
