// estimate --source FILE --target URL (#26): the restore window of a pg_dump archive from its own sizes and the
// target's rates measured with the archive's schema and rows in a transaction rolled back; then the copy it
// predicts. Timings on a shared machine are too jumpy to assert: the structure is (copy's phases, the archive's
// tables and sizes, nothing left on the target), and the measured error is printed for the benchmark notes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { dumpToFile } from '../support/dump-restore.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const PHASES = ['preflight', 'pre-data', 'data', 'sequences', 'large objects', 'indexes', 'post-data', 'analyze'];

describe('estimate --source FILE: a pg_dump archive against the target it will be restored into', () => {
  let src: TestDatabase;
  const dbs: TestDatabase[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-archive-estimate-'));
  const file = (name: string) => join(dir, name);
  const target = async (label: string) => {
    const t = await createDatabase(inject('clusters').pg17, { label });
    dbs.push(t);
    return t;
  };
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'arest_src' });
    await src.owner(`
      CREATE TYPE mood AS ENUM ('ok', 'meh');
      CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL, m mood);
      INSERT INTO accounts SELECT g, 'account ' || g, 'ok' FROM generate_series(1, 20000) g;
      CREATE TABLE events (id bigserial PRIMARY KEY, account_id bigint REFERENCES accounts, at timestamptz, body text);
      INSERT INTO events (account_id, at, body) SELECT 1 + g % 20000, '2026-01-01'::timestamptz + g * interval '1 s', repeat(md5(g::text), 4) FROM generate_series(1, 150000) g;
      CREATE INDEX events_at ON events (at);
      CREATE TABLE notes (id int, txt text); INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 300) g;
      CREATE TABLE empty_one (x int);
      COMMENT ON TABLE accounts IS 'who pays';
      SELECT lo_from_bytea(0, 'hello');`);
    await Promise.all([
      dumpToFile(src, file('latest.dump'), ['-Fc', '--no-owner', '--no-acl']),
      dumpToFile(src, file('latest.dir'), ['-Fd', '--no-owner', '--no-acl']),
    ]);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([src?.drop(), ...dbs.map((d) => d.drop())]);
  });

  it("copy's phases from the archive's sizes and a probe that leaves nothing; then the copy it predicted", async () => {
    const tgt = await target('arest_tgt');
    const inv = parseJson(await runCli(['inventory', '--source', file('latest.dump'), '--json']));
    const r = await runCli(['estimate', '--source', file('latest.dump'), '--target', tgt.url, '--probe-seconds', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = parseJson(r);
    expect(e.kind).toBe('archive');
    expect(e.calibrated).toBe(true);
    expect(e.phases.map((p: { name: string }) => p.name)).toEqual(PHASES);
    for (const p of e.phases) expect(p.seconds).toBeGreaterThanOrEqual(0);
    expect(e.low).toBeLessThanOrEqual(e.totalSeconds);
    expect(e.high).toBeGreaterThanOrEqual(e.totalSeconds);
    // The tables and their sizes are the archive's; each inflates from its stored bytes (gzip level 6 by default).
    const byName = (xs: Array<{ schema?: string; name?: string; table?: string; bytes?: number; archiveBytes?: number }>) =>
      Object.fromEntries(xs.map((t) => [t.table ?? `${t.schema}.${t.name}`, t.archiveBytes ?? t.bytes]));
    expect(byName(e.tables)).toEqual(byName(inv.tables));
    const events = e.tables.find((t: { table: string }) => t.table === 'public.events');
    expect(events.sampled).toBe(true);
    expect(events.plainBytes).toBeGreaterThan(events.archiveBytes * 1.5);
    // 150,000 lines of about 150 bytes of COPY text: the inflated estimate within a fifth of it.
    expect(events.plainBytes).toBeGreaterThan(150000 * 150 * 0.8);
    expect(events.plainBytes).toBeLessThan(150000 * 150 * 1.2);
    expect(events.builds).toBe(2);
    expect(e.builds).toBe(3);
    expect(e.foreignKeys).toBe(1);
    expect(e.probe.samples.length).toBeGreaterThan(0);
    // Nothing outlives the probe: no table, type or pgshift schema on the target.
    const { rows } = await tgt.admin(
      `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast'))::int AS rels,
              (SELECT count(*) FROM pg_type WHERE typname = 'mood')::int AS types, (SELECT count(*) FROM pg_namespace WHERE nspname = 'pgshift')::int AS ns`,
    );
    expect(rows[0]).toEqual({ rels: 0, types: 0, ns: 0 });
    expect(r.stderr).not.toContain(tgt.password);

    const human = await runCli(['estimate', '--source', file('latest.dir'), '--target', tgt.url, '--probe-seconds', '2']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/Estimate for pgshift copy --source .*latest\.dir/);
    expect(human.stdout).toMatch(/public\.events/);

    const c = await runCli(['copy', '--source', file('latest.dump'), '--target', tgt.url, '--json']);
    expect(c.code, c.stderr).toBe(0);
    const s = parseJson(c);
    await expectSameDatabase(src, tgt);
    // For the benchmark notes: estimated against measured, per phase.
    const got = PHASES.map((p) => `${p} ${e.phases.find((x: { name: string }) => x.name === p).seconds.toFixed(2)}/${(s.phases[p] ?? 0).toFixed(2)}`);
    console.log(`estimate/actual: total ${e.totalSeconds.toFixed(2)} [${e.low.toFixed(2)}–${e.high.toFixed(2)}] / ${s.seconds.toFixed(2)}; ${got.join(', ')}`);
  });

  it('refused without --target, on a non-empty target, and with an --include that matches nothing', async () => {
    const none = await runCli(['estimate', '--source', file('latest.dump')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--target/);
    const busy = await target('arest_busy');
    await busy.owner('CREATE TABLE already (x int)');
    const r = await runCli(['estimate', '--source', file('latest.dump'), '--target', busy.url, '--probe-seconds', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not empty/);
    const typo = await runCli(['estimate', '--source', file('latest.dump'), '--target', busy.url, '--include', 'evnts']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/--include "evnts" matches no table/);
  });

  it('--include: only the selected tables are loaded in the estimate', async () => {
    const tgt = await target('arest_inc');
    const r = await runCli([
      'estimate',
      '--source',
      file('latest.dump'),
      '--target',
      tgt.url,
      '--include',
      'public.accounts',
      '--probe-seconds',
      '1',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r).tables.map((t: { table: string }) => t.table)).toEqual(['public.accounts']);
  });
});
