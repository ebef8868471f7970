// `npm run test:faults`: break `pgshift copy` (the CLI in dist/) at seeded random points — kill -9, SIGINT, SIGTERM,
// backends terminated on either side, the target server restarted, TCP connections dropped — then follow the
// documented recovery until it succeeds and compare source and target independently (test/support/compare.ts).
// PGSHIFT_FAULT_SEED=N replays the same choices; PGSHIFT_FAULT_ROUNDS=N runs the table N times (default 1).
// Own servers (not the shared ones of `npm test`): the target is restarted mid-run.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { startLocalCluster, type LocalCluster } from '../support/cluster.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { startProxy } from '../support/tcp-proxy.js';
import { faultSeed, prng, startCli, within } from './harness.js';
import { COMMANDS, SCENARIOS, type Endpoint, type Scenario } from './scenarios.js';

const SEED = faultSeed();
const ROUNDS = Number(process.env.PGSHIFT_FAULT_ROUNDS ?? 1);
/** A signalled run must be gone within this: Ctrl-C that does not stop a migration is a hang. */
const SIGNAL_EXIT_MS = 10_000;
/** Recovery attempts after the fault before the target counts as stuck. */
const MAX_RECOVERIES = 4;

const rand = prng(SEED);
const tally = { faults: 0, interrupted: 0, identical: 0, recoveries: 0 };

function expectClean(r: CliResult, secrets: string[], what: string) {
  expect.soft(r.stderr, `${what}: a Node warning reached the user`).not.toMatch(/DeprecationWarning|\(node:\d+\)/);
  for (const s of secrets) expect.soft(r.stdout + r.stderr, `${what}: a password was printed`).not.toContain(s);
}

const tail = (r: CliResult) =>
  r.stderr
    .split('\n')
    .filter((l) => !l.startsWith('{'))
    .slice(-4)
    .join('\n    ');

describe(`fault suite (seed ${SEED})`, () => {
  let pg15: LocalCluster;
  let pg17: LocalCluster;
  let src: TestDatabase;
  let baselineMs = 0;
  const base = join(tmpdir(), `pgshift-faults-${process.pid}`);

  beforeAll(async () => {
    console.log(`fault seed ${SEED}: PGSHIFT_FAULT_SEED=${SEED} npm run test:faults repeats these choices (${ROUNDS} round(s))`);
    [pg15, pg17] = await Promise.all([startLocalCluster({ major: 15, dir: join(base, 'pg15') }), startLocalCluster({ major: 17, dir: join(base, 'pg17') })]);
    src = await createDatabase(pg15, { label: 'faults_src' });
    // Key-range chunks (accounts), page-range chunks (events: no key; docs: uuid key), foreign keys, a sequence.
    await src.owner(`
      CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(12,2), payload text);
      INSERT INTO accounts SELECT g, 'acct ' || g, (g % 100000) / 100.0, repeat(md5(g::text), 3) FROM generate_series(1, 60000) g;
      CREATE INDEX accounts_name ON accounts (name);
      CREATE TABLE events (at timestamptz, account_id bigint, kind text, body text);
      INSERT INTO events SELECT timestamptz '2024-01-01' + g * interval '1 second', 1 + g % 60000, (ARRAY['open','buy','close'])[1 + g % 3],
        md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 60000) g;
      CREATE INDEX events_account ON events (account_id);
      CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), account_id bigint REFERENCES accounts, doc jsonb);
      INSERT INTO docs (account_id, doc) SELECT 1 + g % 60000, jsonb_build_object('n', g, 'tags', jsonb_build_array('x', g % 7)) FROM generate_series(1, 15000) g;
      CREATE TABLE notes (id serial PRIMARY KEY, account_id bigint REFERENCES accounts, body text);
      INSERT INTO notes (account_id, body) SELECT 1 + g % 60000, 'note ' || g FROM generate_series(1, 10000) g;
      ANALYZE;
    `);
    // An undisturbed run: proves the fixture copies, and sets the window in which faults are placed.
    const tgt = await createDatabase(pg17, { label: 'faults_baseline' });
    try {
      const r = await runCli(COMMANDS.copy!.args(src.url, tgt.url));
      expect(r.code, r.stderr).toBe(0);
      await expectSameDatabase(src, tgt);
      baselineMs = r.ms;
      console.log(`baseline copy: ${r.ms} ms`);
    } finally {
      await tgt.drop();
    }
  });

  afterAll(async () => {
    console.log(
      `${tally.faults} faults, ${tally.identical} recovered identical (seed ${SEED}; ${tally.interrupted} interrupted the run, ` +
        `the others found nothing left to break; ${tally.recoveries} recovery run(s))`,
    );
    await src?.drop().catch(() => undefined);
    await Promise.all([pg15?.stop(), pg17?.stop()]);
    rmSync(base, { recursive: true, force: true });
  });

  const cases: Array<{ command: string; scenario: Scenario; round: number }> = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const command of Object.keys(COMMANDS)) for (const scenario of SCENARIOS) cases.push({ command, scenario, round });
  }

  it.each(cases)('$command: $scenario.name (round $round)', async ({ command, scenario, round }) => {
    const cmd = COMMANDS[command]!;
    tally.faults++;
    const tgt = await createDatabase(pg17, { label: `faults_r${round}` });
    const source: Endpoint = { cluster: pg15, db: src };
    const target: Endpoint = { cluster: pg17, db: tgt };
    const proxied = scenario.proxy === 'either' ? (rand() < 0.5 ? 'source' : 'target') : scenario.proxy;
    const ep = proxied === 'source' ? source : proxied === 'target' ? target : undefined;
    if (ep) ep.proxy = await startProxy(ep.cluster.host, ep.cluster.port);
    const url = (e: Endpoint) => (e.proxy ? e.db.url.replace(`:${e.cluster.port}/`, `:${e.proxy.port}/`) : e.db.url);
    const [s, t] = [url(source), url(target)];
    const secrets = [src.password, tgt.password];
    try {
      // Anywhere from just after start to near the end of an undisturbed run, unless the scenario narrows it.
      const [lo, hi] = scenario.window ?? [0.05, 0.95];
      const at = Math.round(baselineMs * (lo + (hi - lo) * rand()));
      const run = startCli(cmd.args(s, t));
      const early = await within(run, at);
      let first: CliResult;
      let what = 'none: the run had already ended';
      if (early) {
        first = early;
      } else {
        what = await scenario.inject({ run, rand, source, target });
        if (scenario.signal) {
          const ended = await within(run, SIGNAL_EXIT_MS);
          expect.soft(ended, `${scenario.signal.name} at ${at} ms: pgshift still running ${SIGNAL_EXIT_MS / 1000} s later`).toBeDefined();
          if (!ended) run.child.kill('SIGKILL');
          first = ended ?? (await run.done);
          // Killed by the signal itself (it came before pgshift had installed its handler: nothing written yet) is
          // what a shell reports as 128+n too; otherwise pgshift must exit with that code and say how to go on.
          if (ended && ended.signal !== scenario.signal.name) {
            expect.soft(first.code, `${scenario.signal.name}: exit code\n    ${tail(first)}`).toBe(scenario.signal.exitCode);
            expect.soft(first.stderr, `${scenario.signal.name}: says how to go on`).toMatch(/next: .*(--resume|run the same command)/);
          }
        } else {
          first = await run.done;
        }
      }
      if (first.code !== 0) tally.interrupted++;
      console.log(`${command} / ${scenario.name}: fault at ${at} ms (${what}) → exit ${first.code ?? first.signal}`);
      expectClean(first, secrets, 'faulted run');

      // The documented recovery, as often as it takes (within reason).
      ep?.proxy?.dropAfter(undefined);
      let last = first;
      const attempts: string[] = [];
      for (let i = 0; last.code !== 0 && i < MAX_RECOVERIES; i++) {
        const args = cmd.recover(s, t, last);
        last = await runCli(args);
        tally.recoveries++;
        attempts.push(`${args.includes('--resume') ? '--resume' : 'fresh run'} → exit ${last.code}: ${tail(last)}`);
        expectClean(last, secrets, 'recovery run');
      }
      expect(last.code, `no recovery after ${what}:\n  first: ${tail(first)}\n  ${attempts.join('\n  ')}`).toBe(0);
      await expectSameDatabase(src, tgt);
      tally.identical++;
    } finally {
      await ep?.proxy?.close();
      await tgt.drop().catch(() => undefined);
    }
  });
});
