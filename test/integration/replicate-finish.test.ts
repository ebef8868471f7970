// Issue 21 item 4: a foreign key FROM a partitioned table. PostgreSQL before 18 refuses `ADD … NOT VALID` on a
// partitioned table, so replicate's finish failed on every rerun (exit 4), and cleanup dropped the slot and the
// publication before it failed to put the key back — the target kept no key. Now such a key comes back validated
// in one step, and cleanup puts the target back BEFORE it touches the source: when it cannot, nothing on the
// source is dropped. Source PG 15, targets PG 15 and PG 17 (both < 18), non-superuser owners over TLS.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { isCaptureObject } from '../support/capture.js';
import { expectSameDatabase } from '../support/compare.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';
import { recorded, slotsAndPublications } from '../support/replication.js';
import { spawnCli, waitWhileRunning } from '../support/spawn.js';

const SCHEMA = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 200) g;
CREATE TABLE orders (id int NOT NULL, at date NOT NULL, customer_id int NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE orders_2024 PARTITION OF orders FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE orders_2025 PARTITION OF orders FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO orders SELECT g, DATE '2024-01-01' + (g % 700), 1 + g % 200 FROM generate_series(1, 1000) g;
`;

const CHANGES = `
INSERT INTO customers VALUES (201, 'new');
INSERT INTO orders VALUES (5001, '2025-03-03', 201), (5002, '2024-02-02', 7);
UPDATE orders SET customer_id = 201 WHERE id = 10;
DELETE FROM customers WHERE id = 3;
`;

/** Every foreign key as the catalog states it, partitions' clones included (independent of pgshift). */
async function foreignKeys(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.admin(
    `SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' validated=' || convalidated AS k
       FROM pg_constraint WHERE contype = 'f' ORDER BY 1`,
  );
  return rows.map((r) => r.k);
}

describe.each(['pg15', 'pg17'] as const)('a foreign key from a partitioned table, PG 15 → %s', (major) => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  let src2: TestDatabase;
  let tgt2: TestDatabase;

  beforeAll(async () => {
    const clusters = inject('clusters');
    [src, tgt, src2, tgt2] = await Promise.all([
      createDatabase(clusters.pg15, { label: `fin_src_${major}`, replication: true }),
      createDatabase(clusters[major], { label: `fin_tgt_${major}` }),
      createDatabase(clusters.pg15, { label: `fin_src2_${major}`, replication: true }),
      createDatabase(clusters[major], { label: `fin_tgt2_${major}` }),
    ]);
    await Promise.all([src.owner(SCHEMA), src2.owner(SCHEMA)]);
    expect(await foreignKeys(src)).toHaveLength(3); // the parent's key and its clone on each partition
  });
  afterAll(async () => {
    await runCli(['cleanup', '--source', src.url, '--target', tgt.url, '--force']).catch(() => undefined);
    await runCli(['cleanup', '--source', src2.url, '--target', tgt2.url, '--force']).catch(() => undefined);
    await Promise.all([src?.drop(), tgt?.drop(), src2?.drop(), tgt2?.drop()]);
  });

  it('replicate --until-caught-up finishes (exit 0) with the key back, validated, first run and rerun', async () => {
    const first = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '60', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(await foreignKeys(tgt)).toEqual(await foreignKeys(src));
    await src.owner(CHANGES);
    const second = await runCli(['replicate', '--source', src.url, '--target', tgt.url, '--until-caught-up', '--timeout', '60', '--json']);
    expect(second.code, second.stderr).toBe(0);
    const s = parseJson(second);
    expect(s.caughtUp).toBe(true);
    expect(s.restored.foreignKeys).toBe(1);
    expect(await foreignKeys(tgt)).toEqual(await foreignKeys(src));
    await expectSameDatabase(src, tgt);
    const c = await runCli(['cleanup', '--source', src.url, '--target', tgt.url]);
    expect(c.code, c.stderr).toBe(0);
    expect(await slotsAndPublications(src)).toEqual({ slots: [], publications: [] });
  });

  it('cleanup after a stopped replicate puts the key back before it drops anything on the source; when it cannot, the source keeps slot and publication', async () => {
    const run = spawnCli(['replicate', '--source', src2.url, '--target', tgt2.url, '--status-interval', '1']);
    await waitWhileRunning(run, 'streaming with the key switched off', async () => {
      const r = await recorded(tgt2);
      if (!r?.copy_done) return false;
      const { rows } = await tgt2.admin(`SELECT count(*)::int AS n FROM pgshift.replication_switch WHERE kind = 'foreign-key'`);
      return rows[0].n === 1;
    });
    await src2.owner(CHANGES);
    run.child.kill('SIGTERM');
    expect((await run.exit).code, run.output()).toBe(143);
    expect(await foreignKeys(tgt2)).toEqual([]);
    const before = await slotsAndPublications(src2);
    expect(before.slots).toHaveLength(1);

    // A row the key refuses: cleanup cannot put the key back, so it must leave the source alone and say so.
    await tgt2.owner(`INSERT INTO orders VALUES (99999, '2024-06-01', 424242)`);
    const refused = await runCli(['cleanup', '--source', src2.url, '--target', tgt2.url]);
    expect(refused.code, refused.stderr).not.toBe(0);
    expect(refused.stderr).toContain('removed nothing');
    expect(refused.stderr).toContain(`replication slot ${before.slots[0]}`);
    expect(refused.stderr).toContain('orders');
    expect(await slotsAndPublications(src2)).toEqual(before);
    expect((await tgt2.admin(`SELECT to_regnamespace('pgshift') IS NOT NULL AS ok`)).rows[0].ok).toBe(true);

    // Fixed as told: cleanup puts the key back, then drops slot and publication.
    await tgt2.owner(`DELETE FROM orders WHERE id = 99999`);
    const done = await runCli(['cleanup', '--source', src2.url, '--target', tgt2.url, '--json']);
    expect(done.code, done.stderr).toBe(0);
    expect(parseJson(done).removed.join('\n')).toContain('1 foreign keys');
    expect(await slotsAndPublications(src2)).toEqual({ slots: [], publications: [] });
    expect(await foreignKeys(tgt2)).toEqual(await foreignKeys(src2));
  });

  it('the same with --capture triggers: the finish puts the key back (exit 0), first run and rerun', async () => {
    const [s4, t4] = await Promise.all([
      createDatabase(inject('clusters').pg15, { label: `fin_src4_${major}` }),
      createDatabase(inject('clusters')[major], { label: `fin_tgt4_${major}` }),
    ]);
    try {
      await s4.owner(SCHEMA);
      const args = ['replicate', '--capture', 'triggers', '--source', s4.url, '--target', t4.url, '--until-caught-up', '--timeout', '60'];
      const first = await runCli(args);
      expect(first.code, first.stderr).toBe(0);
      await s4.owner(CHANGES);
      const second = await runCli(args);
      expect(second.code, second.stderr).toBe(0);
      expect(await foreignKeys(t4)).toEqual(await foreignKeys(s4));
      await expectSameDatabase(s4, t4, { ignore: isCaptureObject });
      const c = await runCli(['cleanup', '--source', s4.url, '--target', t4.url]);
      expect(c.code, c.stderr).toBe(0);
    } finally {
      await Promise.all([s4.drop(), t4.drop()]);
    }
  });

  it('cleanup --force when the key cannot come back: source cleaned, the statement printed (exit 1); run as printed after the fix, the keys match', async () => {
    const [s3, t3] = await Promise.all([
      createDatabase(inject('clusters').pg15, { label: `fin_src3_${major}`, replication: true }),
      createDatabase(inject('clusters')[major], { label: `fin_tgt3_${major}` }),
    ]);
    try {
      await s3.owner(SCHEMA);
      const run = spawnCli(['replicate', '--source', s3.url, '--target', t3.url, '--status-interval', '1']);
      await waitWhileRunning(run, 'streaming with the key switched off', async () => {
        if (!(await recorded(t3))?.copy_done) return false;
        const { rows } = await t3.admin(`SELECT count(*)::int AS n FROM pgshift.replication_switch WHERE kind = 'foreign-key'`);
        return rows[0].n === 1;
      });
      run.child.kill('SIGTERM');
      await run.exit;
      await t3.owner(`INSERT INTO orders VALUES (99999, '2024-06-01', 424242)`);
      const r = await runCli(['cleanup', '--source', s3.url, '--target', t3.url, '--force']);
      expect(r.code, r.stderr).toBe(1);
      expect(await slotsAndPublications(s3)).toEqual({ slots: [], publications: [] });
      const statements = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('  ALTER TABLE'))
        .map((l) => l.trim());
      expect(statements).toEqual([
        'ALTER TABLE "public"."orders" ADD CONSTRAINT "orders_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "public"."customers" ("id") ON DELETE CASCADE;',
      ]);
      await t3.owner(`DELETE FROM orders WHERE id = 99999`);
      for (const sql of statements) await t3.owner(sql);
      expect(await foreignKeys(t3)).toEqual(await foreignKeys(s3));
    } finally {
      await Promise.all([s3.drop(), t3.drop()]);
    }
  });
});
