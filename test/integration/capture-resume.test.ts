// Trigger capture (issue 21 item 8): an initial copy killed after some chunks of a table with a UNIQUE column, a
// unique value then moved from a copied chunk to one not yet copied. The rerun reads a new snapshot: the old
// chunks (as of the first snapshot) and the new ones would hold the value twice and the unique index could
// never be built. The rerun must finish and converge; judged by the independent comparison.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compareDatabases, formatDifference } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { doneChunks, waitWhileRunning } from '../support/spawn.js';
import { captureState, captureUntilCaughtUp, isCaptureObject, killHard, spawnCapture } from '../support/capture.js';

const SPLIT = 1024 * 1024;

describe('replicate --capture triggers: a unique value moved between chunks of an interrupted initial copy', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'capr_src' }), createDatabase(pg17, { label: 'capr_tgt' })]);
    await src.owner(`
      CREATE TABLE people (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, pad text);
      INSERT INTO people SELECT g, 'p' || g || '@example.com', repeat(md5(g::text), 3) FROM generate_series(1, 150000) g;
      CREATE TABLE parent (id int PRIMARY KEY);
      CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id));
      INSERT INTO parent SELECT generate_series(1, 100); INSERT INTO child SELECT g, g FROM generate_series(1, 100) g;`);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop()]));

  it('kill -9 after a few chunks, move a unique value (and add a referenced row), rerun: finishes and converges', async () => {
    const first = spawnCapture(src.url, tgt.url, { splitBytes: SPLIT });
    try {
      await waitWhileRunning(first, 'two chunks of the initial copy are done', async () => (await doneChunks(tgt)) >= 2, 180_000);
    } finally {
      await killHard(first);
    }
    expect((await captureState(tgt))!.copyDone).toBe(false);
    const { rows: chunks } = await tgt.admin(
      `SELECT COALESCE(lo, '1')::int8 AS lo, done_at IS NOT NULL AS done FROM pgshift.copy_chunk WHERE table_name = 'people' ORDER BY chunk`,
    );
    const done = chunks.find((c: any) => c.done);
    const todo = chunks.filter((c: any) => !c.done).pop();
    expect(done, 'a chunk of people is copied').toBeDefined();
    expect(todo, 'a chunk of people is not copied yet').toBeDefined();
    const from = Number(done.lo) + 1;
    const to = Number(todo.lo) + 1;
    // The value moves from a copied row to a row of a chunk still to copy; a new parent and its child.
    await src.owner(`
      UPDATE people SET email = 'moved-away@example.com' WHERE id = ${from};
      UPDATE people SET email = 'p${from}@example.com' WHERE id = ${to};
      INSERT INTO parent VALUES (1000); INSERT INTO child VALUES (1000, 1000);`);
    // A rerun that fails inside the copy points to replicate itself, never to a `--resume` it does not have.
    await tgt.owner(`ALTER TABLE people DROP COLUMN pad`);
    const failed = spawnCapture(src.url, tgt.url, { untilCaughtUp: true });
    expect((await failed.exit).code).not.toBe(0);
    expect(failed.output()).toMatch(/hint: fix the cause, then run the same pgshift replicate --capture triggers command again/);
    expect(failed.output()).not.toMatch(/--resume/);
    await tgt.owner(`ALTER TABLE people ADD COLUMN pad text`);
    const summary = await captureUntilCaughtUp(src.url, tgt.url);
    expect(summary.caughtUp).toBe(true);
    const diffs = await compareDatabases(src, tgt, { ignore: isCaptureObject });
    expect(diffs.map(formatDifference)).toEqual([]);
  }, 300_000);
});
