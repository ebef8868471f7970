// A fixed set of verify connections for one side (--jobs of them), all inside the side's exported snapshot.
import type { ConnectionSpec } from '../config.js';
import { closeSession, importSnapshot, openSession, type VerifySession } from './session.js';

/** Tables a session reads under one reading transaction: each keeps its table's lock until it ends. */
const REIMPORT_EVERY = 100;

export class SessionPool {
  private readonly free: VerifySession[] = [];
  private readonly waiters: ((s: VerifySession) => void)[] = [];
  private readonly uses = new Map<VerifySession, number>();
  private constructor(
    readonly sessions: VerifySession[],
    private readonly snapshot: string,
  ) {
    this.free.push(...sessions);
  }

  /** Open n connections and import the snapshot on each (closing all of them if any fails). */
  static async open(spec: ConnectionSpec, n: number, snapshot: string, major?: number): Promise<SessionPool> {
    const opened = await Promise.allSettled(
      Array.from({ length: n }, async (_, i) => {
        const s = await openSession(spec, `${spec.side} worker ${i + 1}`, undefined, major);
        try {
          await importSnapshot(s, snapshot);
          return s;
        } catch (err) {
          await closeSession(s);
          throw err;
        }
      }),
    );
    const ok = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(ok.map((s) => closeSession(s)));
      throw failed.reason;
    }
    return new SessionPool(ok, snapshot);
  }

  /** Run `fn` on a free session; `tables`: how many tables it reads (a batch of small tables reads several). */
  async use<T>(fn: (s: VerifySession) => Promise<T>, tables = 1): Promise<T> {
    const s = this.free.pop() ?? (await new Promise<VerifySession>((resolve) => this.waiters.push(resolve)));
    try {
      // Thousands of tables must not fill the server's lock table: start a new transaction on the same snapshot
      // (one round trip) once this one would hold more than REIMPORT_EVERY tables' locks.
      const held = this.uses.get(s) ?? 0;
      const restart = held > 0 && held + tables > REIMPORT_EVERY;
      if (restart) await importSnapshot(s, this.snapshot, true);
      this.uses.set(s, (restart ? 0 : held) + tables);
      return await fn(s);
    } finally {
      const next = this.waiters.shift();
      if (next) next(s);
      else this.free.push(s);
    }
  }

  /** After a failed statement on `s` (inside use()): a new transaction on the same snapshot (COMMIT of an aborted one rolls it back). */
  async renew(s: VerifySession): Promise<void> {
    await importSnapshot(s, this.snapshot, true);
    this.uses.set(s, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.sessions.map((s) => closeSession(s)));
  }
}

let cursorSeq = 0;

/**
 * Rows of a query through a server-side cursor, a batch at a time, the next batch fetched while the current one
 * is consumed: client memory is two batches whatever the table size.
 */
export class CursorReader<R> {
  private batch: R[] = [];
  private pos = 0;
  private pending?: Promise<R[]>;
  private done = false;
  private readonly name = `pgshift_verify_${++cursorSeq}`;
  private constructor(
    private readonly s: VerifySession,
    private readonly batchSize: number,
  ) {}

  static async open<R>(s: VerifySession, sql: string, params: unknown[], batchSize = 2000): Promise<CursorReader<R>> {
    const r = new CursorReader<R>(s, batchSize);
    const declare = `DECLARE ${r.name} NO SCROLL CURSOR FOR ${sql}`;
    if (params.length === 0) {
      // No bind parameters: the DECLARE and the first FETCH go as one simple query, one round trip.
      const results = (await s.client.query(`${declare}; ${r.fetchSql()}`)) as unknown as { rows: R[] }[];
      r.pending = Promise.resolve(results[1]!.rows);
      return r;
    }
    await s.client.query(declare, params);
    r.pending = r.fetch();
    return r;
  }

  private fetchSql(): string {
    return `FETCH FORWARD ${this.batchSize} FROM ${this.name}`;
  }

  private async fetch(): Promise<R[]> {
    const { rows } = await this.s.client.query(this.fetchSql());
    return rows as R[];
  }

  /** Next row, or undefined at the end. */
  async next(): Promise<R | undefined> {
    if (this.pos < this.batch.length) return this.batch[this.pos++];
    if (this.done || !this.pending) return undefined;
    this.batch = await this.pending;
    this.pos = 0;
    if (this.batch.length < this.batchSize) {
      this.done = true;
      this.pending = undefined;
    } else {
      this.pending = this.fetch();
    }
    return this.pos < this.batch.length ? this.batch[this.pos++] : undefined;
  }

  async close(): Promise<void> {
    // Let an in-flight FETCH finish first: one connection runs one statement at a time.
    await this.pending?.catch(() => undefined);
    // Read to its end, the cursor holds nothing worth a round trip: the transaction's end closes it.
    if (this.done) return;
    await this.s.client.query(`CLOSE ${this.name}`).catch(() => undefined);
  }
}
