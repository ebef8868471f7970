// The engine's handle (src/replicate/index.ts), as `pgshift cutover` drives it: startReplication → status →
// catchUp (every change committed before the call is on the target, while the apply loop still runs) → finish;
// and stop() leaves a resumable state and frees the target. Both change sources, real servers, compared
// independently of pgshift.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startReplication, type ReplicateOptions } from '../../src/replicate/index.js';
import { runCli } from '../support/cli.js';
import { isCaptureObject } from '../support/capture.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SEED = `
  CREATE TABLE parent (id int PRIMARY KEY, v text);
  CREATE TABLE child (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id), note text);
  INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 500) g;
  INSERT INTO child (parent_id, note) SELECT 1 + g % 500, 'c' || g FROM generate_series(1, 2000) g;`;

const WRITES = (n: number) => `
  INSERT INTO parent SELECT g, 'new' FROM generate_series(${1000 * n + 1}, ${1000 * n + 50}) g;
  UPDATE parent SET v = v || '+' WHERE id % 7 = ${n % 7};
  INSERT INTO child (parent_id, note) SELECT ${1000 * n} + 1 + g % 50, 'w' || g FROM generate_series(1, 100) g;
  DELETE FROM child WHERE id % 11 = ${n % 11} AND id < 2000;`;

for (const capture of ['pgoutput', 'triggers'] as const) {
  describe(`replication handle (${capture})`, () => {
    let src: TestDatabase;
    let tgt: TestDatabase;
    const opts = (): ReplicateOptions => ({
      capture,
      untilCaughtUp: false,
      jobs: 2,
      indexJobs: 1,
      splitBytes: 512 * 1024 ** 2,
      filter: {},
      logger: silentLogger,
      statusIntervalMs: 200,
      idleMs: 100,
      signal: new AbortController().signal,
    });
    const count = async (db: TestDatabase, sql: string) => Number((await db.admin(sql)).rows[0].n);

    beforeAll(async () => {
      const { pg15, pg17 } = inject('clusters');
      [src, tgt] = await Promise.all([
        createDatabase(pg15, { label: `handle_${capture}_src`, replication: capture === 'pgoutput' }),
        createDatabase(pg17, { label: `handle_${capture}_tgt` }),
      ]);
      await src.owner(SEED);
    });
    afterAll(async () => {
      await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
      await Promise.all([src?.drop(), tgt?.drop()]);
    });

    it('startReplication → catchUp (applied while the loop runs) → finish; then stop() leaves it resumable', async () => {
      const source = parseConnectionUrl(src.url, 'source');
      const target = parseConnectionUrl(tgt.url, 'target');
      const run = await startReplication(source, target, opts());
      let s: Awaited<ReturnType<typeof run.finish>>;
      try {
        const st = run.status();
        expect(st.at).toBeInstanceOf(Date);
        expect(typeof st.position).toBe('string');
        expect(capture === 'pgoutput' ? st.lagBytes : st.pending).not.toBeNull();
        // The target's foreign key is switched off while applying.
        expect(await count(tgt, `SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f'`)).toBe(0);

        await src.owner(WRITES(1));
        const before = await count(src, `SELECT count(*) + sum(length(v)) AS n FROM parent`);
        const childBefore = await count(src, `SELECT count(*) + sum(id) AS n FROM child`);
        const caught = await run.catchUp({ timeoutMs: 60_000 });
        expect(caught.at).toBeInstanceOf(Date);
        expect(caught.position.length).toBeGreaterThan(0);
        // Every change committed before the call is on the target now, the apply loop still running.
        expect(await count(tgt, `SELECT count(*) + sum(length(v)) AS n FROM parent`)).toBe(before);
        expect(await count(tgt, `SELECT count(*) + sum(id) AS n FROM child`)).toBe(childBefore);

        await src.owner(WRITES(2));
        await run.catchUp({ timeoutMs: 60_000 });
        s = await run.finish();
      } catch (err) {
        await run.stop().catch(() => undefined);
        throw err;
      }
      expect(s).toMatchObject({ ok: true, capture, caughtUp: true, timedOut: false, start: 'fresh' });
      expect(s.changes).toBeGreaterThan(0);
      // The finish put the foreign key back.
      expect(await count(tgt, `SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f' AND convalidated`)).toBe(1);
      await expectSameDatabase(src, tgt, { ignore: isCaptureObject });

      // Resumed from the target's state, stopped without a finish: the lock is free again for the next run.
      await src.owner(WRITES(3));
      const again = await startReplication(source, target, opts());
      const stopped = await again.stop();
      expect(stopped).toMatchObject({ capture, caughtUp: false, start: 'none' });
      const last = await startReplication(source, target, opts());
      await last.catchUp({ timeoutMs: 60_000 });
      expect((await last.finish()).caughtUp).toBe(true);
      await expectSameDatabase(src, tgt, { ignore: isCaptureObject });

      // Options read back from the state are validated, not cast: a filter changed by hand stops the next run.
      const table = capture === 'pgoutput' ? 'pgshift.replication' : 'pgshift.capture';
      await tgt.admin(`UPDATE ${table} SET options = jsonb_set(options, '{filter}', '{"include": 42}')`);
      await expect(startReplication(source, target, opts())).rejects.toThrow(/state on the target is not readable \((replication|capture): options\.filter\)/);
      await tgt.admin(`UPDATE ${table} SET options = jsonb_set(options, '{filter}', '{}')`);
    }, 120_000);
  });
}
