// pgshift cutover --reverse and pgshift rollback (#25 item 2), both capture modes, on real servers: cleanup refuses
// while a cutover's freeze is undoable; cutover --reverse drops the forward capture, refuses --abort after, and the
// new side's writes arrive on the old one (read-only for everyone else); rollback ends with the old side writable
// and identical to the new one (independent comparison), the new side read-only; kill -9 inside the rollback's
// freeze, then --abort or a rerun, leaves one side writable; cleanup then leaves nothing on either side.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { expectSameDatabase } from '../support/compare.js';
import { isCaptureObject } from '../support/capture.js';
import { CUTOVER_SCHEMA } from '../support/cutover-schema.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

/** The database-level settings (pg_db_role_setting, any role): [] when none. */
async function dbSettings(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.admin(
    `SELECT coalesce(setconfig, '{}') AS c FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND setrole = 0`,
  );
  return rows[0]?.c ?? [];
}

/** A new session of the application can write (false: refused as read-only). */
async function writable(db: TestDatabase): Promise<boolean> {
  try {
    await db.owner(`BEGIN; INSERT INTO parent (id, name) VALUES (-1, 'probe'); ROLLBACK`);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '25006') return false;
    throw err;
  }
}

/** What pgshift may have left in a database: slots, publications, capture triggers, its schemas. */
async function leftovers(db: TestDatabase): Promise<{ slots: number; publications: number; triggers: number; schemas: number }> {
  const { rows } = await db.admin(`SELECT
      (SELECT count(*)::int FROM pg_replication_slots WHERE database = current_database()) AS slots,
      (SELECT count(*)::int FROM pg_publication) AS publications,
      (SELECT count(*)::int FROM pg_trigger WHERE tgname LIKE '\\_pgshift%') AS triggers,
      (SELECT count(*)::int FROM pg_namespace WHERE nspname IN ('pgshift', '_pgshift')) AS schemas`);
  return rows[0];
}

for (const mode of ['pgoutput', 'triggers'] as const) {
  describe(`pgshift cutover --reverse and rollback (${mode})`, () => {
    let src: TestDatabase;
    let tgt: TestDatabase;
    const base = () => ['--source', src.url, '--target', tgt.url];
    const cli = (args: string[], env?: Record<string, string>) => runCli([...args, ...base()], { env, timeoutMs: 110_000 });
    const rollback = (more: string[] = [], env?: Record<string, string>) => cli(['rollback', '--grace', '1s', '--max-lag', '2s', ...more], env);
    // The finish refreshes the target's materialized views; the source's stays as stale as its last REFRESH.
    const ignore = (d: { kind: string; object: string }) => isCaptureObject(d) || (d.kind === 'rows' && d.object === 'public.child_count');
    /** The application on the new side: inserts, an update, a delete, a sequence. */
    const appWrites = async (from: number) => {
      await tgt.owner(`INSERT INTO parent SELECT g, 'new' || g FROM generate_series(${from}, ${from + 49}) g;
        INSERT INTO child (parent_id, v) SELECT g, 'on new' FROM generate_series(${from}, ${from + 49}) g;
        UPDATE parent SET name = name || '!' WHERE id BETWEEN 10 AND 20;
        DELETE FROM child WHERE id IN (SELECT id FROM child WHERE parent_id = 3);
        SELECT nextval('invoice_no'), nextval('invoice_no');`);
    };

    beforeAll(async () => {
      const { pg15, pg17 } = inject('clusters');
      [src, tgt] = await Promise.all([
        createDatabase(pg15, { label: `rb_${mode}_src`, replication: mode === 'pgoutput' }),
        // The reverse stream reads the new side: pgoutput when it allows logical replication, else trigger capture.
        createDatabase(pg17, { label: `rb_${mode}_tgt`, replication: mode === 'pgoutput' }),
      ]);
      await src.owner(CUTOVER_SCHEMA);
      const first = await runCli(['replicate', ...base(), '--until-caught-up', '--timeout', '90', ...(mode === 'triggers' ? ['--capture', 'triggers'] : [])]);
      expect(first.code, first.stderr).toBe(0);
    });
    afterAll(async () => {
      await cli(['rollback', '--abort']).catch(() => undefined);
      await cli(['cleanup', '--force']).catch(() => undefined);
      await Promise.all([src?.drop(), tgt?.drop()]);
    });

    it('cleanup refuses (exit 2) while a cutover that was not switched keeps the source frozen; after --abort it may go on', async () => {
      await tgt.admin(`UPDATE parent SET name = 'planted' WHERE id = 7`);
      const diff = await cli(['cutover', '--grace', '1s', '--max-lag', '2s', '--reverse']);
      expect(diff.code, diff.stderr + diff.stdout).toBe(1);
      expect(await writable(src)).toBe(false);
      const refused = await cli(['cleanup']);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(/frozen by a cutover.*nothing was removed/);
      expect(refused.stderr).toMatch(/pgshift cutover --abort/);
      expect(refused.stderr).toMatch(/--force/);
      // Nothing was removed: --abort still finds its record; no reverse stream was set up (the proof failed).
      const { rows } = await tgt.owner(`SELECT step, reverse_at FROM pgshift.cutover`);
      expect(rows).toEqual([{ step: 'different', reverse_at: null }]);
      const norev = await rollback();
      expect(norev.code, norev.stderr).toBe(2);
      expect(norev.stderr).toMatch(/no reverse stream is recorded/);
      const undo = await cli(['cutover', '--abort']);
      expect(undo.code, undo.stderr).toBe(0);
      expect(await writable(src)).toBe(true);
      await tgt.admin(`UPDATE parent SET name = 'p7' WHERE id = 7`);
    });

    it("cutover --reverse: the forward capture is gone from the source, --abort refused, the target's writes arrive on the read-only source", async () => {
      // A crash between the forward capture's drop and the reverse one's creation: the rerun finishes the set-up.
      const killed = await cli(['cutover', '--grace', '1s', '--max-lag', '2s', '--reverse'], { PGSHIFT_CUTOVER_KILL_AT: 'reverse-drop' });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      const { rows: at } = await tgt.owner(`SELECT step, reverse_at FROM pgshift.cutover`);
      expect(at).toEqual([{ step: 'reverse', reverse_at: null }]);
      expect(await writable(src)).toBe(false);
      const r = await cli(['cutover', '--grace', '1s', '--max-lag', '2s', '--reverse', '--json']);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const rep = parseJson(r);
      expect(rep.verdict).toBe('safe to switch');
      expect(rep.reverse.capture).toBe(mode);
      const command = rep.next.find((n: string) => n.includes('pgshift replicate'));
      expect(command).toMatch(mode === 'triggers' ? /--capture triggers$/ : /--target \S+$/);
      // Nothing of the forward stream on the source (no echo, no WAL kept), the source still read-only.
      const left = await leftovers(src);
      expect(left.slots + left.publications + left.triggers).toBe(0);
      expect(await writable(src)).toBe(false);
      await expectSameDatabase(src, tgt, { ignore });
      const abort = await cli(['cutover', '--abort']);
      expect(abort.code, abort.stdout).toBe(2);
      expect(abort.stderr).toMatch(/reverse stream .*nothing was changed/);
      expect(abort.stderr).toMatch(/pgshift rollback/);
      expect(await writable(src)).toBe(false);

      // The application writes to the new side; the reverse stream (the command printed) brings it to the old one.
      await appWrites(1000);
      const back = await runCli([
        'replicate',
        '--source',
        tgt.url,
        '--target',
        src.url,
        '--until-caught-up',
        ...(mode === 'triggers' ? ['--capture', 'triggers'] : []),
      ]);
      expect(back.code, back.stderr + back.stdout).toBe(0);
      const { rows } = await src.admin(`SELECT count(*)::int AS n FROM parent WHERE name LIKE 'new%'`);
      expect(rows[0].n).toBe(50);
      expect(await writable(src)).toBe(false);
      await expectSameDatabase(tgt, src, { ignore });
    });

    it('rollback: kill -9 inside its freeze then --abort (the target writable again), kill -9 then a rerun: the source writable and identical, the target read-only', async () => {
      await appWrites(2000);
      const killed = await rollback([], { PGSHIFT_ROLLBACK_KILL_AT: 'catch-up' });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      // Both frozen for a moment, but the record on the source unfreezes one: --abort gives the target back.
      expect(await writable(tgt)).toBe(false);
      const undo = await rollback(['--abort']);
      expect(undo.code, undo.stderr).toBe(0);
      expect(await writable(tgt)).toBe(true);
      expect(await writable(src)).toBe(false);
      expect(await dbSettings(tgt)).toEqual([]);

      await appWrites(3000);
      const again = await rollback([], { PGSHIFT_ROLLBACK_KILL_AT: 'verify' });
      expect(again.signal, again.stderr).toBe('SIGKILL');
      expect(await writable(tgt)).toBe(false);
      const rerun = await rollback(['--json']);
      expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
      const rep = parseJson(rerun);
      expect(rep.verdict).toBe('rolled back');
      expect(rep.resumed).toBe(true);
      expect(rep.verify.ok).toBe(true);
      // The source takes writes again exactly as before the cutover (nothing was set), the target stays frozen.
      expect(await dbSettings(src)).toEqual([]);
      expect(await writable(src)).toBe(true);
      expect(await writable(tgt)).toBe(false);
      const { rows } = await src.admin(`SELECT count(*)::int AS n FROM parent WHERE name LIKE 'new%'`);
      expect(rows[0].n).toBe(150);
      await expectSameDatabase(tgt, src, { ignore });
      // The sequence came back from the new side: the next value on the old one continues after it.
      const seq = await Promise.all([tgt.admin(`SELECT last_value FROM invoice_no`), src.admin(`SELECT last_value FROM invoice_no`)]);
      expect(seq[1].rows[0].last_value).toBe(seq[0].rows[0].last_value);
      const text = await rollback();
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/already done/);
      expect(text.stdout).toMatch(/Rollback timeline/);
      const late = await rollback(['--abort']);
      expect(late.code).toBe(2);
      expect(late.stderr).toMatch(/rollback is done/);
    });

    it('cleanup after the rollback ends the reverse stream and leaves nothing on either side, the target still read-only', async () => {
      const r = await cli(['cleanup']);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toMatch(/reverse stream/);
      const undo = /Still read-only: the target .*on the target: (BEGIN READ WRITE; ALTER DATABASE .* RESET default_transaction_read_only; COMMIT;)/.exec(
        r.stdout,
      );
      expect(undo, r.stdout).not.toBeNull();
      expect(await leftovers(src)).toEqual({ slots: 0, publications: 0, triggers: 0, schemas: 0 });
      expect(await leftovers(tgt)).toEqual({ slots: 0, publications: 0, triggers: 0, schemas: 0 });
      expect(await writable(tgt)).toBe(false);
      expect(await writable(src)).toBe(true);
      // The statement cleanup printed makes the target writable again, run as the application's role.
      await tgt.owner(undo![1]!);
      expect(await writable(tgt)).toBe(true);
      await expectSameDatabase(tgt, src, { ignore });
    });
  });
}
