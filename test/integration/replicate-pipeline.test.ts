// The applier's Pipeline (src/replicate/apply/pipeline.ts) sends statements without waiting for their answers.
// Exactly-once rests on two of its properties, checked here on a real server: a COMMIT that follows a failed
// statement (the server answers it with ROLLBACK) never reaches the code that acknowledges the source, and the
// error reported is the first one, not "current transaction is aborted" of the statements queued behind it.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { connect, type Client } from '../../src/db/connect.js';
import { textArrayColumn } from '../../src/replicate/apply/binary-array.js';
import { Pipeline } from '../../src/replicate/apply/pipeline.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('apply pipeline', () => {
  let db: TestDatabase;
  let c: Client;

  beforeAll(async () => {
    const { pg17 } = inject('clusters');
    db = await createDatabase(pg17, { label: 'apply_pipeline' });
    await db.owner(`CREATE TABLE t (id int PRIMARY KEY, v text)`);
    c = await connect(parseConnectionUrl(db.url, 'target'));
  });
  afterAll(async () => {
    await c?.end();
    await db?.drop();
  });

  it('runs statements in the order sent and confirms a commit only once it is answered COMMIT', async () => {
    const pipe = new Pipeline(c);
    const seen: string[] = [];
    pipe.send('BEGIN');
    for (let i = 1; i <= 50; i++) pipe.send({ text: 'INSERT INTO t VALUES ($1, $2)', values: [i, `v${i}`] });
    pipe.send({ text: 'UPDATE t SET v = $1 WHERE id = 7', values: ['last'] }, (r) => seen.push(`update ${r.rowCount}`));
    pipe.send('COMMIT', (r) => seen.push(r.command));
    let after = false;
    pipe.afterSent(() => (after = true));
    expect(seen).toEqual([]); // nothing waited for yet
    await pipe.barrier();
    expect(seen).toEqual(['update 1', 'COMMIT']);
    expect(after).toBe(true);
    const { rows } = await db.admin(`SELECT count(*)::int AS n, max(v) FILTER (WHERE id = 7) AS v FROM t`);
    expect(rows[0]).toEqual({ n: 50, v: 'last' });
  });

  it('after a failed statement: no confirmation, no afterSent, the first error thrown, the rows rolled back', async () => {
    const pipe = new Pipeline(c);
    let confirmed = false;
    let after = false;
    pipe.send('BEGIN');
    pipe.send({ text: 'INSERT INTO t VALUES ($1, $2)', values: [1000, 'a'] });
    pipe.send(
      { text: 'INSERT INTO t VALUES ($1, $2)', values: [1, 'duplicate'] },
      undefined,
      (err) => new Error(`INSERT on public.t: ${(err as Error).message}`),
    );
    pipe.send({ text: 'INSERT INTO t VALUES ($1, $2)', values: [1001, 'b'] });
    pipe.send('COMMIT', (r) => {
      if (r.command !== 'COMMIT') throw new Error(`answered ${r.command}`);
      confirmed = true;
    });
    pipe.afterSent(() => (after = true));
    await expect(pipe.barrier()).rejects.toThrow(/INSERT on public\.t: duplicate key value/);
    expect(confirmed).toBe(false);
    expect(after).toBe(false);
    const { rows } = await db.admin(`SELECT count(*)::int AS n FROM t WHERE id >= 1000`);
    expect(rows[0].n).toBe(0);
    // Nothing after the failure was issued (no 25P02 noise); the caller's ROLLBACK leaves the connection usable.
    await c.query('ROLLBACK');
    pipe.reset(c);
    const r = await c.query(`SELECT count(*)::int AS n FROM t`);
    expect(r.rows[0].n).toBe(50);
  });

  it('a COMMIT answered ROLLBACK (transaction already aborted) is a failure even when its own callback decides', async () => {
    const pipe = new Pipeline(c);
    let confirmed = false;
    pipe.send('BEGIN');
    await pipe.barrier(); // as the writer does before reading outside the pipeline
    // Fails on the server outside the pipeline (a catalog read, say): the COMMIT's answer must decide.
    await c.query(`DO $$ BEGIN RAISE EXCEPTION 'boom'; END $$`).catch(() => undefined);
    pipe.send('COMMIT', (r) => {
      if (r.command !== 'COMMIT') throw new Error(`the target answered ${r.command}`);
      confirmed = true;
    });
    await expect(pipe.barrier()).rejects.toBeDefined();
    expect(confirmed).toBe(false);
  });

  it('binary text[] parameters reach the server as exactly the text given (quotes, braces, NULL, empty, non-ASCII)', async () => {
    const values = ['plain', '', null, 'a "quoted" {brace}, comma', 'back\\slash\\', 'NULL', 'ünïcødé ✓ 😀', ' spaced ', 'x'.repeat(100_000)];
    const rows = values.map((v) => ['k', v]);
    const { rows: out } = await c.query({
      text: `SELECT v, v IS NULL AS isnull FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n) ORDER BY n`,
      values: [textArrayColumn(rows, 1)],
    });
    expect(out.map((r) => r.v)).toEqual(values);
    expect(out.map((r) => r.isnull)).toEqual(values.map((v) => v === null));
    const empty = await c.query({ text: `SELECT cardinality($1::text[]) AS n`, values: [textArrayColumn([], 0)] });
    expect(empty.rows[0].n).toBe(0);
  });
  it('after abort() gave up waiting and reset() moved on: what was queued on the old connection never runs, counts or fails', async () => {
    const old = await connect(parseConnectionUrl(db.url, 'target'));
    const pipe = new Pipeline(old);
    let acknowledged = false;
    let thenRan = false;
    pipe.send('SELECT pg_sleep(0.6)');
    pipe.send({ text: 'INSERT INTO t VALUES ($1, $2)', values: [2000, 'stale'] }, () => (thenRan = true));
    pipe.afterSent(() => (acknowledged = true));
    await new Promise((r) => setTimeout(r, 100));
    await pipe.abort(50); // the sleep is on the wire and stays there past the wait
    pipe.reset(c);
    expect(pipe.inFlight).toBe(0);
    await new Promise((r) => setTimeout(r, 1000)); // the old sleep has been answered by now
    await old.end();
    // Nothing of the old connection's queue acknowledged the source, ran, failed this pipeline or skewed its count.
    expect(acknowledged).toBe(false);
    expect(thenRan).toBe(false);
    expect(pipe.failed).toBe(false);
    expect(pipe.inFlight).toBe(0);
    const { rows: stale } = await db.admin(`SELECT count(*)::int AS n FROM t WHERE id = 2000`);
    expect(stale[0].n).toBe(0);
    let fresh = false;
    pipe.send('SELECT 1', () => (fresh = true));
    expect(pipe.inFlight).toBe(1);
    await pipe.barrier();
    expect(fresh).toBe(true);
    expect(pipe.inFlight).toBe(0);
  });
});
