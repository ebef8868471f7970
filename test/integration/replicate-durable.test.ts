// The applier commits its batches asynchronously on the target (src/replicate/apply/durable.ts) and tells the
// source it may forget a batch only once the target's WAL flush covers it. Checked on a target server of this
// test's own (its WAL counters and a crash concern nobody else): (1) batches no longer write and flush the WAL at
// every COMMIT; (2) a target that crashes (immediate stop) while batches are applied asynchronously loses them
// with their applied position, and the next run applies everything exactly once — an independent comparison of
// source and target ends each case.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, runCli } from '../support/cli.js';
import { startLocalCluster, type LocalCluster } from '../support/cluster.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { waitFor } from '../support/replication.js';

const SCHEMA = `
CREATE TABLE hot (id integer PRIMARY KEY, n integer NOT NULL, v text);
INSERT INTO hot SELECT g, 0, md5(g::text) FROM generate_series(1, 100) g;
CREATE TABLE events (id bigserial PRIMARY KEY, hot_id integer NOT NULL, at timestamptz NOT NULL DEFAULT now(), pad text);
`;

function streamReplicate(args: string[]) {
  const env = { ...process.env, PGSHIFT_SOURCE_URL: undefined, PGSHIFT_TARGET_URL: undefined } as NodeJS.ProcessEnv;
  const child = spawn(process.execPath, [BIN, 'replicate', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.resume();
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, done, stderr: () => stderr };
}

/** One source transaction: a hot row updated, an event inserted. */
const write = (src: TestDatabase, i: number) =>
  src.owner(
    `BEGIN; UPDATE hot SET n = n + 1, v = md5(random()::text) WHERE id = ${(i % 7) + 1}; INSERT INTO events (hot_id, pad) VALUES (${i}, repeat('x', ${i % 50})); COMMIT`,
  );

describe('replicate: asynchronous batch commits on the target, the source confirmed once durable', () => {
  let target: LocalCluster;
  let src: TestDatabase;
  let tgt: TestDatabase;

  beforeAll(async () => {
    const { pg15 } = inject('clusters');
    target = await startLocalCluster({ major: 17, settings: { wal_writer_delay: "'200ms'" } });
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'rdur_src', replication: true }), createDatabase(target, { label: 'rdur_tgt' })]);
    await src.owner(SCHEMA);
    const first = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(first.code, first.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await src?.drop();
    await target?.stop();
  });

  const applied = async () => Number((await tgt.admin(`SELECT count(*)::int AS n FROM events`)).rows[0].n);
  const walWrites = async () => Number((await tgt.admin(`SELECT wal_write FROM pg_stat_wal`)).rows[0].wal_write);
  const commits = async () => Number((await tgt.admin(`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`)).rows[0].xact_commit);

  it('a batch per source transaction (a trickle): the target does not write its WAL at every batch COMMIT', { timeout: 120_000 }, async () => {
    const run = streamReplicate(['--source', src.url, '--target', tgt.url]);
    try {
      await write(src, 0);
      await waitFor('the stream to apply a first transaction', async () => (await applied()) >= 1, 60_000, 20);
      const before = { wal: await walWrites(), commits: await commits() };
      const n = 40;
      // Spaced so that each arrives alone: the applier commits each as its own batch.
      for (let i = 1; i <= n; i++) {
        await write(src, i);
        await new Promise((r) => setTimeout(r, 40));
      }
      await waitFor('every transaction applied', async () => (await applied()) >= n + 1, 60_000, 20);
      await new Promise((r) => setTimeout(r, 1100)); // cumulative statistics flush about once a second
      const batches = (await commits()) - before.commits;
      const writes = (await walWrites()) - before.wal;
      // A synchronous COMMIT writes (and flushes) the WAL itself every time: at least one write per batch. Committed
      // asynchronously, the WAL writer writes them a few at a time (every wal_writer_delay).
      expect(batches, 'the trickle should arrive as many batches').toBeGreaterThanOrEqual(n / 2);
      expect(writes, `${writes} WAL writes for ${batches} batches`).toBeLessThan(batches / 2);
    } finally {
      // SIGTERM: the run stops after committing what it holds (exit 143, "interrupted").
      run.child.kill('SIGTERM');
      expect([0, 143], run.stderr()).toContain(await run.done);
    }
    // The finish (sequences, switches) belongs to --until-caught-up.
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(r.code, r.stderr).toBe(0);
    await expectSameDatabase(src.adminUrl, tgt.adminUrl);
  });

  it('the target crashes while batches are applied: the next run applies everything exactly once', { timeout: 180_000 }, async () => {
    const run = streamReplicate(['--source', src.url, '--target', tgt.url]);
    let i = 1000;
    let writing = true;
    const writer = (async () => {
      while (writing) await write(src, i++).catch(() => undefined);
    })();
    try {
      await waitFor('the stream to apply under writes', async () => (await applied()) >= 60, 60_000, 20);
      await target.restart('immediate');
    } finally {
      writing = false;
      await writer;
      // The run lost its target: it retries, or gives up; either way it is stopped here.
      run.child.kill('SIGTERM');
      await run.done;
    }
    const r = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up']);
    expect(r.code, r.stderr).toBe(0);
    await expectSameDatabase(src.adminUrl, tgt.adminUrl);
  });
});
