// cutover --freeze wait --reverse, then rollback (#25): the team stopped the writes, so pgshift froze nothing on the
// source. The reverse stream still brings the new side's writes back, and rollback ends with the source equal to the
// target (independent comparison), saying the team resumes its writes. It never leaves a database setting behind
// on the source that the team did not have. The forward stream, run again by mistake, is refused naming the reverse one.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { isCaptureObject } from '../support/capture.js';
import { expectSameDatabase } from '../support/compare.js';
import { CUTOVER_SCHEMA } from '../support/cutover-schema.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

/** The database-level settings (pg_db_role_setting, any role): [] when none. */
async function dbSettings(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.admin(
    `SELECT coalesce(setconfig, '{}') AS c FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND setrole = 0`,
  );
  return rows[0]?.c ?? [];
}

describe('cutover --freeze wait --reverse, then rollback (pgoutput)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  const base = () => ['--source', src.url, '--target', tgt.url];
  const ignore = (d: { kind: string; object: string }) => isCaptureObject(d) || (d.kind === 'rows' && d.object === 'public.child_count');

  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([
      createDatabase(pg15, { label: 'rbw_src', replication: true }),
      createDatabase(pg17, { label: 'rbw_tgt', replication: true }),
    ]);
    await src.owner(CUTOVER_SCHEMA);
    const first = await runCli(['replicate', ...base(), '--until-caught-up', '--timeout', '90']);
    expect(first.code, first.stderr).toBe(0);
  });
  afterAll(async () => {
    await runCli(['cleanup', ...base(), '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop()]);
  });

  it('nothing frozen on the source; the new side’s writes come back; rollback leaves the two equal', async () => {
    await src.owner(`INSERT INTO parent SELECT g, 'before' || g FROM generate_series(500, 520) g`);
    const cut = await runCli(['cutover', ...base(), '--freeze', 'wait', '--grace', '5s', '--max-lag', '2s', '--reverse', '--json'], { timeoutMs: 110_000 });
    expect(cut.code, cut.stderr + cut.stdout).toBe(0);
    const rep = parseJson(cut);
    expect(rep.verdict).toBe('safe to switch');
    expect(rep.reverse.capture).toBe('pgoutput');
    expect(rep.next.join('\n')).toMatch(/keep writes to the source stopped/);
    // pgshift froze nothing: no database setting on the source, before or after.
    expect(await dbSettings(src)).toEqual([]);
    await expectSameDatabase(src, tgt, { ignore });

    // The forward stream is over: run again by mistake, it is refused before touching anything, naming the reverse one.
    const forward = await runCli(['replicate', ...base(), '--until-caught-up']);
    expect(forward.code, forward.stderr).toBe(2);
    expect(forward.stderr).toMatch(/ended with its cutover --reverse at .*nothing was changed/);
    expect(forward.stderr).toContain('pgshift replicate --source');

    // The application now writes to the new side; the printed reverse stream brings it back.
    await tgt.owner(`INSERT INTO parent SELECT g, 'new' || g FROM generate_series(2000, 2029) g;
      UPDATE parent SET name = name || '?' WHERE id BETWEEN 500 AND 505; DELETE FROM child WHERE parent_id = 4`);
    const back = await runCli(['replicate', '--source', tgt.url, '--target', src.url, '--until-caught-up']);
    expect(back.code, back.stderr + back.stdout).toBe(0);
    const { rows } = await src.admin(`SELECT count(*)::int AS n FROM parent WHERE name LIKE 'new%'`);
    expect(rows[0].n).toBe(30);

    const rb = await runCli(['rollback', ...base(), '--grace', '1s', '--max-lag', '2s', '--json'], { timeoutMs: 110_000 });
    expect(rb.code, rb.stderr + rb.stdout).toBe(0);
    const r = parseJson(rb);
    expect(r.verdict).toBe('rolled back');
    expect(r.verify.ok).toBe(true);
    expect(JSON.stringify(r.timeline)).toMatch(/not frozen by pgshift \(--freeze wait\)/);
    expect(await dbSettings(src)).toEqual([]);
    await expectSameDatabase(tgt, src, { ignore });
    const after = await runCli(['replicate', ...base(), '--until-caught-up']);
    expect(after.code, after.stderr).toBe(2);
    expect(after.stderr).toMatch(/then pgshift rollback went back to the source; nothing was changed/);
    expect(after.stderr).toMatch(/to migrate again: pgshift cleanup/);
  });
});
