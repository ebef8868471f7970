// The applier stops exactly at a verify point that falls inside what would be one batch (#24 item 4): driven by a
// synthetic change source against a real target. Four source transactions arrive at once (one target batch
// without a point); the point lies between the second and the third: the target snapshot the applier exports
// holds the first two and nothing of the others, and the rest is applied right after. An idle stream reaches a
// later point with a keepalive, without a transaction.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { connect, type Client } from '../../src/db/connect.js';
import { silentLogger } from '../../src/log.js';
import { Applier } from '../../src/replicate/apply/applier.js';
import type { ChangeSource, Position, SourceEvent } from '../../src/replicate/change.js';
import { ensureReplicationState, markCopyDone, recordReplication } from '../../src/state/replication.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { waitFor } from '../support/replication.js';

/** Events handed over when the test says so; take() gives what is at hand (a backlog fills one batch). */
class ScriptedSource implements ChangeSource {
  private queue: SourceEvent[] = [];
  private waiter?: (r: IteratorResult<SourceEvent>) => void;
  confirmed: Position = 0n;

  push(...evs: SourceEvent[]): void {
    this.queue.push(...evs);
    const w = this.waiter;
    if (w && this.queue.length) {
      this.waiter = undefined;
      w({ value: this.queue.shift()!, done: false });
    }
  }

  events(): AsyncIterable<SourceEvent> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          const ev = this.queue.shift();
          if (ev) return Promise.resolve({ value: ev, done: false });
          return new Promise<IteratorResult<SourceEvent>>((resolve) => (this.waiter = resolve));
        },
        take: () => this.queue.shift(),
        return: async () => ({ value: undefined, done: true as const }),
      }),
    };
  }

  confirm(p: Position): void {
    if (p > this.confirmed) this.confirmed = p;
  }

  async currentPosition(): Promise<Position> {
    return 0n;
  }

  async close(): Promise<void> {}
}

/** One source transaction inserting ids, committed at `end` (its begin carries final_lsn + 1 = end - 9 here). */
function tx(end: number, ids: number[]): SourceEvent[] {
  const t = new Date('2026-01-01T00:00:00Z');
  return [
    { type: 'begin', position: BigInt(end - 9), commitTime: t },
    ...ids.map((id): SourceEvent => ({
      type: 'change',
      change: { kind: 'insert', table: { schema: 'public', name: 't' }, row: { id: String(id), v: `v${id}` } },
    })),
    { type: 'commit', position: BigInt(end), commitTime: t },
  ];
}

const lsn = (n: number) => `0/${n.toString(16).toUpperCase()}`;

describe('applier: a verify point inside a batch', () => {
  let tgt: TestDatabase;
  let own: Client;
  let verifier: pg.Client;

  beforeAll(async () => {
    tgt = await createDatabase(inject('clusters').pg17, { label: 'vpoint_tgt' });
    await tgt.owner(`CREATE TABLE t (id int PRIMARY KEY, v text)`);
    own = await connect(parseConnectionUrl(tgt.url, 'target'), { applicationName: 'test setup' });
    await ensureReplicationState(own);
    await recordReplication(own, { source: 'synthetic', slot: 's', publication: 'p', options: {} });
    await markCopyDone(own, 0n);
    // Plays the verify: its session stays connected (a request of a gone session is ignored).
    verifier = new pg.Client({ connectionString: tgt.url.replace(/[?&]sslmode=[^&]*/, ''), ssl: { rejectUnauthorized: false } });
    await verifier.connect();
  });
  afterAll(async () => {
    await own?.end();
    await verifier?.end();
    await tgt?.drop();
  });

  it('applies every transaction committed before the point and none after, exports the target there, goes on', async () => {
    const source = new ScriptedSource();
    const applier = new Applier(parseConnectionUrl(tgt.url, 'target'), source, {
      logger: silentLogger,
      maxBatchChanges: 1000,
      maxBatchMs: 5000,
      verifyPollMs: 20,
    });
    const ac = new AbortController();
    const running = applier.run(ac.signal);
    try {
      const { rows } = await verifier.query(
        `INSERT INTO pgshift.verify_point (capture, expires_at) VALUES ('pgoutput', now() + interval '1 min') RETURNING id`,
      );
      const id = rows[0].id;
      await waitFor(
        'the applier held',
        async () => (await verifier.query(`SELECT held_at FROM pgshift.verify_point WHERE id = $1`, [id])).rows[0].held_at,
        10_000,
        10,
      );
      // The point: after the transaction ending at 200, before the one whose commit starts at 291.
      await verifier.query(`UPDATE pgshift.verify_point SET position = $2 WHERE id = $1`, [id, lsn(250)]);
      source.push(...tx(100, [1, 2]), ...tx(200, [3]), ...tx(300, [4, 5]), ...tx(400, [6]));
      const answer = await waitFor(
        'the point reached',
        async () => (await verifier.query(`SELECT * FROM pgshift.verify_point WHERE id = $1 AND reached_at IS NOT NULL`, [id])).rows[0],
        10_000,
        10,
      );
      expect(answer.position).toBe(lsn(250));
      expect(answer.applied_position).toBe(lsn(200));
      expect(Number(answer.pause_ms)).toBeGreaterThanOrEqual(0);
      // The exported target snapshot: exactly the transactions before the point.
      const reader = new pg.Client({ connectionString: tgt.adminUrl.replace(/[?&]sslmode=[^&]*/, '') });
      await reader.connect();
      try {
        await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        await reader.query(`SET TRANSACTION SNAPSHOT '${answer.target_snapshot}'`);
        const seen = await reader.query(`SELECT array_agg(id ORDER BY id) AS ids FROM t`);
        expect(seen.rows[0].ids).toEqual([1, 2, 3]);
        const st = await reader.query(`SELECT applied_position::text AS p FROM pgshift.replication`);
        expect(st.rows[0].p).toBe('200');
        await reader.query('COMMIT');
      } finally {
        await reader.end();
      }
      await verifier.query(`UPDATE pgshift.verify_point SET imported_at = now() WHERE id = $1`, [id]);
      // …and the applier went on at once: the rest is applied, in later batches.
      await waitFor('the rest applied', async () => (await tgt.admin(`SELECT count(*)::int AS n FROM t`)).rows[0].n === 6, 10_000, 10);
      expect(applier.stats.verifyPoints).toBe(1);
      expect(applier.stats.batches).toBeGreaterThanOrEqual(2);
      // Changes after the point are counted under it, per table (one statement per commit).
      const counted = await tgt.admin(`SELECT table_name, changes::int AS n FROM pgshift.verify_changed WHERE point = $1`, [id]);
      expect(counted.rows).toEqual([{ table_name: 't', n: 3 }]);

      // An idle stream: a later point is reached by a keepalive at or past it, without a transaction.
      const second = (await verifier.query(`INSERT INTO pgshift.verify_point (capture, expires_at) VALUES ('pgoutput', now() + interval '1 min') RETURNING id`))
        .rows[0].id;
      await waitFor(
        'held again',
        async () => (await verifier.query(`SELECT held_at FROM pgshift.verify_point WHERE id = $1`, [second])).rows[0].held_at,
        10_000,
        10,
      );
      await verifier.query(`UPDATE pgshift.verify_point SET position = $2 WHERE id = $1`, [second, lsn(450)]);
      source.push({ type: 'keepalive', position: 440n });
      await new Promise((r) => setTimeout(r, 200));
      expect((await verifier.query(`SELECT reached_at FROM pgshift.verify_point WHERE id = $1`, [second])).rows[0].reached_at).toBeNull();
      source.push({ type: 'keepalive', position: 460n });
      const idle = await waitFor(
        'the idle point reached',
        async () => (await verifier.query(`SELECT * FROM pgshift.verify_point WHERE id = $1 AND reached_at IS NOT NULL`, [second])).rows[0],
        10_000,
        10,
      );
      expect(idle.applied_position).toBe(lsn(400));
      await verifier.query(`UPDATE pgshift.verify_point SET imported_at = now() WHERE id = $1`, [second]);
    } finally {
      applier.stop();
      ac.abort();
      await running;
    }
  });
});
