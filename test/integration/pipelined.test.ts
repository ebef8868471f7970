// runPipelined (src/db/pipelined.ts): several statements in one round trip must behave exactly like the same
// statements sent one by one — in order, values bound, the first error stops the rest and leaves the transaction
// to the caller's ROLLBACK, and the connection stays usable. Copy's done marks depend on it (exactly once).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { connect, type Client } from '../../src/db/connect.js';
import { runPipelined } from '../../src/db/pipelined.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('runPipelined', () => {
  let db: TestDatabase;
  let c: Client;

  beforeAll(async () => {
    const { pg17 } = inject('clusters');
    db = await createDatabase(pg17, { label: 'pipelined' });
    await db.owner(`CREATE TABLE marks (k text PRIMARY KEY, n int8, at timestamptz)`);
    c = await connect(parseConnectionUrl(db.url, 'target'));
  });
  afterAll(async () => {
    await c?.end();
    await db?.drop();
  });

  it('runs the statements in order in one transaction, with their values bound', async () => {
    await runPipelined(c, [
      { text: 'BEGIN' },
      { text: `INSERT INTO marks VALUES ($1, $2, now())`, values: [`it's "odd"; DROP TABLE marks`, 7] },
      { text: `UPDATE marks SET n = n + $1 WHERE k = $2`, values: [5, `it's "odd"; DROP TABLE marks`] },
      { text: `INSERT INTO marks VALUES ($1, $2, NULL)`, values: ['null', null] },
      { text: 'COMMIT' },
    ]);
    const { rows } = await db.admin(`SELECT k, n::text AS n FROM marks ORDER BY k`);
    expect(rows).toEqual([
      { k: `it's "odd"; DROP TABLE marks`, n: '12' },
      { k: 'null', n: null },
    ]);
  });

  it('stops at the first error: later statements (COMMIT too) do not run; ROLLBACK undoes the earlier ones', async () => {
    const err = await runPipelined(c, [
      { text: 'BEGIN' },
      { text: `INSERT INTO marks VALUES ($1, 1, NULL)`, values: ['before the error'] },
      { text: `INSERT INTO marks VALUES ($1, 1, NULL)`, values: ['null'] }, // duplicate key
      { text: `INSERT INTO marks VALUES ($1, 1, NULL)`, values: ['after the error'] },
      { text: 'COMMIT' },
    ]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { code?: string } | undefined)?.code).toBe('23505');
    // The transaction is still open and aborted, as after separate queries: the caller rolls it back.
    await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await c.query('ROLLBACK');
    const { rows } = await c.query<{ k: string }>(`SELECT k FROM marks ORDER BY k`);
    expect(rows.map((r) => r.k)).toEqual([`it's "odd"; DROP TABLE marks`, 'null']);
  });

  it('a failing COMMIT (deferred constraint) rejects, and the connection carries on', async () => {
    await db.owner(`CREATE TABLE deferred (k int, CONSTRAINT u UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)`);
    await expect(runPipelined(c, [{ text: 'BEGIN' }, { text: 'INSERT INTO deferred VALUES (1), (1)' }, { text: 'COMMIT' }])).rejects.toMatchObject({
      code: '23505',
    });
    await c.query('ROLLBACK').catch(() => undefined);
    expect((await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM deferred`)).rows[0]!.n).toBe(0);
  });
});
