// catchUp() on a source with synchronous_commit = off (the test clusters', and many production servers'):
// a COMMIT returns before its WAL is written, so pg_current_wal_lsn() (the WRITE position) can stand before a
// transaction the caller already saw committed. A catch-up marked there returned at once, with that transaction
// not applied (the flake of replicate-handle.test.ts). Many small transactions, each right before a catchUp.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startReplication, type ReplicateOptions } from '../../src/replicate/index.js';
import { runCli } from '../support/cli.js';
import { isCaptureObject } from '../support/capture.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('catchUp with asynchronous commits on the source (pgoutput)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  const opts = (): ReplicateOptions => ({
    capture: 'pgoutput',
    untilCaughtUp: false,
    jobs: 1,
    indexJobs: 1,
    splitBytes: 512 * 1024 ** 2,
    filter: {},
    logger: silentLogger,
    statusIntervalMs: 200,
    idleMs: 100,
    signal: new AbortController().signal,
  });

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([
      createDatabase(pg15, { label: 'catchup_async_src', replication: true }),
      createDatabase(pg17, { label: 'catchup_async_tgt' }),
    ]);
    await src.owner(`CREATE TABLE t (id int PRIMARY KEY, v text)`);
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('every transaction committed before the call is on the target when catchUp resolves, and after finish', async () => {
    const run = await startReplication(parseConnectionUrl(src.url, 'source'), parseConnectionUrl(tgt.url, 'target'), opts());
    const missed: number[] = [];
    try {
      await run.catchUp({ timeoutMs: 30_000 });
      for (let i = 1; i <= 25; i++) {
        // Committed asynchronously: the COMMIT returns before the WAL writer has written it.
        await src.owner(`SET synchronous_commit = off; INSERT INTO t VALUES (${i}, 'v${i}')`);
        await run.catchUp({ timeoutMs: 30_000 });
        const n = Number((await tgt.admin(`SELECT count(*) AS n FROM t`)).rows[0].n);
        if (n !== i) missed.push(i);
      }
      await src.owner(`SET synchronous_commit = off; INSERT INTO t VALUES (0, 'last')`);
      await run.catchUp({ timeoutMs: 30_000 });
      await run.finish();
    } catch (err) {
      await run.stop().catch(() => undefined);
      throw err;
    }
    expect(missed, 'catchUp resolved before these inserts were applied').toEqual([]);
    await expectSameDatabase(src, tgt, { ignore: isCaptureObject });
  }, 120_000);
});
