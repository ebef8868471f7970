// COPY … TO STDOUT piped into a sink that fails must not leave the source connection wedged (pg-copy-streams keeps
// its socket paused and the server goes on sending): the trigger capture's apply loop hung forever, printing its
// lag, when the target restarted in the middle of a batch's COPY (CI, replicate fault suite).
import { Writable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { connect, type Client } from '../../src/db/connect.js';
import { copyOut } from '../../src/db/copy-out.js';
import { errorSide } from '../../src/errors.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { waitFor } from '../support/replication.js';

/** Settles within `ms` (resolved or rejected), or says it hung. */
async function settles(p: Promise<unknown>, ms: number): Promise<'settled' | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), ms)));
  const out = await Promise.race([
    p.then(
      () => 'settled' as const,
      () => 'settled' as const,
    ),
    hung,
  ]);
  clearTimeout(timer);
  return out;
}

describe('copyOut: a failed COPY pipe never wedges the connection it reads from', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  const open: Client[] = [];
  const opened = async (db: TestDatabase, side: 'source' | 'target') => {
    const c = await connect(parseConnectionUrl(db.url, side), { applicationName: `pgshift copy-out test ${side}` });
    c.on('error', () => undefined);
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'copyout_src' }), createDatabase(pg17, { label: 'copyout_tgt' })]);
    // ~40 MB: far more than the sockets and stream buffers hold, so the COPY is still streaming when the target dies.
    await src.owner(`CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 150000) g`);
    await tgt.owner(`CREATE TABLE big (id int, pad text)`);
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('the target terminated mid-copy: a target-side error, and the source connection answers (fails fast) instead of hanging', async () => {
    const s = await opened(src, 'source');
    const t = await opened(tgt, 'target');
    const { rows } = await t.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await s.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await t.query('BEGIN');
    const sink = t.query(copyFrom('COPY big FROM STDIN'));
    // Its outcome taken at once (a rejection seen only later is an unhandled one meanwhile).
    const outcome = copyOut(s, 'COPY big TO STDOUT', [sink]).then(
      () => null,
      (e: unknown) => e,
    );
    // Terminated once the target has received some of it (its COPY running and rows arriving).
    await waitFor(
      'the target inside its COPY',
      async () => (await tgt.admin(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${rows[0]!.pid} AND query LIKE 'COPY%'`)).rows[0].n === 1,
      20_000,
      5,
    );
    await tgt.admin(`SELECT pg_terminate_backend(${rows[0]!.pid})`);
    const err = await outcome;
    expect(err, 'the pipe must fail').not.toBeNull();
    expect(errorSide(err)?.side).toBe('target');
    // Before the fix this ROLLBACK waited forever behind the abandoned COPY.
    expect(await settles(s.query('ROLLBACK'), 5000)).toBe('settled');
    // And the source has no session of this test left in a transaction.
    await waitFor(
      'the source transaction gone',
      async () =>
        (await src.admin(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgshift copy-out test source' AND xact_start IS NOT NULL`))
          .rows[0].n === 0,
      10_000,
      50,
    );
  });

  it('a sink that throws ends the source connection too, without a hang', async () => {
    const s = await opened(src, 'source');
    let seen = 0;
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        seen += chunk.length;
        done(seen > 1_000_000 ? new Error('digest failed') : null);
      },
    });
    await expect(copyOut(s, 'COPY big TO STDOUT', [sink])).rejects.toThrow(/digest failed/);
    expect(await settles(s.query('SELECT 1'), 5000)).toBe('settled');
  });

  it("the COPY's own failure (an error from the source) leaves the source connection usable", async () => {
    const s = await opened(src, 'source');
    const sink = new Writable({ write: (_c, _e, done) => done() });
    await expect(copyOut(s, 'COPY (SELECT 1 / (id - 50000) FROM big) TO STDOUT', [sink])).rejects.toThrow(/division by zero/);
    expect((await s.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1);
  });
});
