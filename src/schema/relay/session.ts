// One pg_dump session through the relay. pg_dump's startup packet goes to the source as is; the relay answers
// the server's authentication requests itself under pgshift's password rules (auth.ts) and hands pg_dump the
// AuthenticationOk and everything after it.
// Then, in the simple-query protocol, two interceptions; anything else passes through:
//  - `LOCK TABLE x IN ACCESS SHARE MODE` inside pg_dump's transaction: forwarded at once and answered at once
//    with the `CommandComplete "LOCK TABLE"` + `ReadyForQuery 'T'` the server sends, its real reply read later.
//    pg_dump (< 16) locks table after table; the locks now travel back to back (pipelined) instead of one round
//    trip each, the server runs exactly pg_dump's statements in pg_dump's order, and a query pg_dump sends next is
//    queued behind them on the same connection. A lock that fails is reported on pg_dump's next reply (the
//    server's own error for that lock) and the session passes through from then on.
//  - pg_dump's per-sequence `pg_sequence` read: answered from one read of every sequence (sequences.ts).
// A message the relay does not expect (the extended protocol, COPY, a reply of another shape) ends the
// interceptions: the rest of the session passes through untouched.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConnectionSpec } from '../../config.js';
import { ConnectionError, PermissionError, PgshiftError } from '../../errors.js';
import { countRoundTrip } from '../../db/roundtrips.js';
import { Authenticator } from './auth.js';
import { perSequenceQuery, SequenceCache } from './sequences.js';
import { authCode, commandComplete, errorFields, errorResponse, MessageReader, query, readyForQuery, statusOf, textOf, type Message } from './wire.js';

export interface RelayStats {
  /** Simple queries pg_dump sent. */
  queries: number;
  /** Of which LOCKs answered at once and pipelined. */
  locksPipelined: number;
  /** Of which per-sequence reads answered from the one batched read. */
  sequencesCached: number;
  /** Round trips to the source: queries whose reply pg_dump (or the relay) waits on, as roundtrips.ts counts them. */
  roundTrips: number;
  /** Why interceptions stopped early, if they did. */
  passThroughReason?: string;
}

type Reply =
  | { kind: 'pass' }
  | { kind: 'lock'; text: string; done?: boolean }
  | { kind: 'seq-first'; oid: string; got: Message[] }
  | { kind: 'seq-batch'; got: Message[] }
  | { kind: 'internal' }
  | { kind: 'rest' };

const LOCK = /^LOCK TABLE .+ IN ACCESS SHARE MODE$/s;
const SAVEPOINT = 'pgshift_relay';
const T = (c: string) => c.charCodeAt(0);

export class RelaySession {
  readonly stats: RelayStats = { queries: 0, locksPipelined: 0, sequencesCached: 0, roundTrips: 0 };
  private readonly fromClient = new MessageReader(false);
  private readonly fromServer = new MessageReader(false);
  private readonly replies: Reply[] = [];
  private ready = false;
  private status = 'I';
  private intercepting = true;
  /** The server's error for a pipelined LOCK, handed to pg_dump on its next reply. */
  private lockError?: Buffer;
  private lockErrorSent = false;
  private sequences?: SequenceCache;
  private sequencesTried = false;
  private firstSequence?: Extract<Reply, { kind: 'seq-first' }>;
  /** Client messages held while the batched sequence read is out (their answer may come from it). */
  private held?: Message[];
  private tail?: Message;
  private readonly auth: Authenticator;
  private startup: Promise<void> = Promise.resolve();
  private failed = false;

  constructor(
    private readonly spec: ConnectionSpec,
    private readonly client: Socket,
    private readonly server: Socket,
    tls: TLSSocket | undefined,
    private readonly onRefusal: (err: PgshiftError) => void,
  ) {
    this.auth = new Authenticator(spec, tls);
  }

  /** Start relaying: the startup packet (already read from the client) goes first. */
  start(startup: Buffer, rest: Buffer): void {
    this.server.write(startup);
    this.server.on('data', (d: Buffer) => {
      for (const m of this.fromServer.feed(d)) this.onServer(m);
    });
    this.client.on('data', (d: Buffer) => this.fromClientBytes(d));
    if (rest.length) this.fromClientBytes(rest);
  }

  private fromClientBytes(d: Buffer): void {
    for (const m of this.fromClient.feed(d)) {
      if (this.held) this.held.push(m);
      else this.onClient(m);
    }
  }

  private send(bytes: Buffer, reply: Reply | undefined): void {
    if (reply) {
      // A pipelined LOCK and the batched read riding with the first sequence query are waited on by nobody.
      if (reply.kind !== 'lock' && reply.kind !== 'seq-batch') {
        this.stats.roundTrips++;
        // Charged to the schema dump whatever phase runs beside it (copy starts the dump early: early-dump.ts).
        countRoundTrip('source', 'schema dump');
      }
      this.replies.push(reply);
    }
    this.server.write(bytes);
  }

  private stopIntercepting(reason: string): void {
    if (!this.intercepting) return;
    this.intercepting = false;
    this.stats.passThroughReason = reason;
  }

  private onClient(m: Message): void {
    if (!this.ready || this.tail) {
      // Passing through: each simple query and each Sync is one round trip.
      if (this.tail && (m.type === T('Q') || m.type === T('S'))) {
        this.stats.roundTrips++;
        countRoundTrip('source', 'schema dump');
      }
      return void this.server.write(m.bytes);
    }
    if (m.type !== T('Q')) {
      // Terminate passes as is; anything else (extended protocol, COPY data) is not what pg_dump sends here.
      if (m.type !== T('X')) {
        this.stopIntercepting(`client message '${String.fromCharCode(m.type)}'`);
        this.tail = m;
        this.replies.push({ kind: 'rest' });
      }
      return void this.server.write(m.bytes);
    }
    this.stats.queries++;
    const text = textOf(m.bytes);
    const usable = this.intercepting && this.status === 'T' && !this.lockError;
    if (usable && LOCK.test(text)) {
      this.stats.locksPipelined++;
      this.send(m.bytes, { kind: 'lock', text });
      this.client.write(Buffer.concat([commandComplete('LOCK TABLE'), readyForQuery('T')]));
      return;
    }
    const seq = usable ? perSequenceQuery(text) : undefined;
    if (seq && this.sequences) {
      const reply = this.sequences.reply(seq.oid);
      if (reply) {
        this.stats.sequencesCached++;
        return void this.client.write(reply);
      }
    }
    if (seq && !this.sequencesTried) {
      this.sequencesTried = true;
      this.held = [];
      const batch = `SAVEPOINT ${SAVEPOINT}; ${seq.batch}; RELEASE SAVEPOINT ${SAVEPOINT}`;
      this.firstSequence = { kind: 'seq-first', oid: seq.oid, got: [] };
      this.send(m.bytes, this.firstSequence);
      this.send(query(batch), { kind: 'seq-batch', got: [] });
      return;
    }
    this.send(m.bytes, { kind: 'pass' });
  }

  private onServer(m: Message): void {
    if (!this.ready) {
      // Authentication awaits (SCRAM): startup messages are handled one after the other.
      this.startup = this.startup.then(() => (this.ready ? this.onServer(m) : this.duringStartup(m)));
      return;
    }
    const r = this.replies[0];
    if (!r || r.kind === 'rest') return void this.client.write(m.bytes);
    const async = m.type === T('N') || m.type === T('S') || m.type === T('A');
    switch (r.kind) {
      case 'pass':
        if (m.type === T('E') && this.lockError && !this.lockErrorSent) {
          this.client.write(this.lockError);
          this.lockErrorSent = true;
        } else this.client.write(m.bytes);
        break;
      case 'lock': {
        // pg_dump was told `CommandComplete "LOCK TABLE"` + `ReadyForQuery 'T'`: any other reply fails the dump.
        const expected = (m.type === T('C') && textOf(m.bytes) === 'LOCK TABLE' && !r.done) || (m.type === T('Z') && statusOf(m.bytes) === 'T') || async;
        if (m.type === T('C')) r.done = true;
        if (!expected && !this.lockError) {
          this.lockFailed(
            r.text,
            m.type === T('E') ? m.bytes : errorResponse('ERROR', 'XX000', `pgshift's pg_dump relay: unexpected reply to a pipelined ${r.text}`),
          );
        }
        if (async) this.client.write(m.bytes);
        break;
      }
      case 'seq-first':
        r.got.push(m);
        this.client.write(m.bytes);
        break;
      case 'seq-batch':
        r.got.push(m);
        if (async) this.client.write(m.bytes);
        break;
      case 'internal':
        if (async) this.client.write(m.bytes);
        break;
    }
    if (m.type !== T('Z')) return;
    this.replies.shift();
    if (r.kind === 'pass' || r.kind === 'seq-first') this.status = statusOf(m.bytes);
    if (r.kind === 'seq-batch') this.afterBatch(r.got, statusOf(m.bytes));
    if (r.kind === 'internal') this.release(statusOf(m.bytes) === 'T' ? undefined : 'the relay could not roll back its sequence read');
  }

  /** A pipelined LOCK failed: pg_dump gets the server's error on its next reply; pgshift names the lock. */
  private lockFailed(text: string, error: Buffer): void {
    this.lockError = error;
    this.stopIntercepting('a pipelined LOCK failed');
    const f = errorFields(error);
    const Err = f.C === '42501' ? PermissionError : PgshiftError;
    this.onRefusal(
      new Err(`schema dump (pg_dump): pg_dump's ${text} failed on the ${this.spec.side}: ${f.M ?? 'an error'}${f.C ? ` (SQLSTATE ${f.C})` : ''}`, {
        phase: 'schema dump',
        hint:
          f.C === '42501'
            ? 'grant the migration role SELECT on that table, or leave it out with --exclude; then re-run with --resume'
            : 'fix the cause above, then re-run with --resume',
      }),
    );
  }

  private afterBatch(got: Message[], status: string): void {
    const first = this.firstSequence;
    if (status !== 'T') {
      // The batched read failed (its savepoint keeps pg_dump's transaction usable): undo it, then pass through.
      this.stopIntercepting('the batched sequence read failed');
      this.send(query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}; RELEASE SAVEPOINT ${SAVEPOINT}`), { kind: 'internal' });
      return;
    }
    this.sequences = first ? SequenceCache.build(first.oid, first.got, got) : undefined;
    this.release(this.sequences ? undefined : 'the batched sequence read did not match the server reply');
  }

  /** Go on with the client messages held during the batched read. */
  private release(reason: string | undefined): void {
    if (reason) this.stopIntercepting(reason);
    const held = this.held ?? [];
    this.held = undefined;
    // Nothing held can start another batched read (there is only one per session).
    for (const m of held) this.onClient(m);
  }

  /** Startup: authentication answered here (auth.ts); the rest (AuthenticationOk, parameters, keys) to pg_dump. */
  private async duringStartup(m: Message): Promise<void> {
    if (this.failed) return;
    if (m.type === T('R')) {
      try {
        const answer = await this.auth.answer(m.bytes);
        if (answer) this.server.write(answer);
        if (authCode(m.bytes) !== 0) return;
      } catch (err) {
        const refusal =
          err instanceof ConnectionError
            ? err
            : new ConnectionError(`schema dump (pg_dump): ${this.spec.side} ${this.spec.display}: authentication failed (${(err as Error).message})`, {
                phase: 'schema dump',
                hint: 'check the password and the server certificate; PGSHIFT_PGDUMP_RELAY=off lets pg_dump connect by itself',
                cause: err,
              });
        this.failed = true;
        this.onRefusal(refusal);
        this.client.end(errorResponse('FATAL', '28000', refusal.message));
        this.server.destroy();
        return;
      }
    }
    this.client.write(m.bytes);
    if (m.type === T('Z')) {
      this.ready = true;
      this.status = statusOf(m.bytes);
    }
  }
}
