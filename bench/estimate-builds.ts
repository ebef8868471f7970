// What the dominant shape's index builds and foreign key cost on the target, measured directly (not through
// copy): the facts the estimate's build model rests on. On a table loaded as copy loads split tables (COPY
// without FREEZE, so no hint bits yet): first build vs a second build of the same index (first touch), builds
// with the target's parallel maintenance workers vs none, alone and beside a COPY, and the foreign key's
// validation vs the probe-style self-join on a sample. Run under the bench lock (after npm run build):
//   flock /tmp/pgshift-bench.lock node dist/bench/estimate-builds.js [--scale 0.5] [--parallel | --fk]
// default: one pass of everything; --parallel: first touch ×3 and worker speedups (medians of 3) on the whole
// table and on a 250k-row sample; --fk: the real check (×3) vs serial and parallel self-joins of 40k/290k rows.
import { Client } from 'pg';
import { startBenchServers, withDatabase } from './servers.js';

const scale = Number(process.argv[process.argv.indexOf('--scale') + 1] ?? 0.5) || 0.5;
const log = (l: string) => console.log(l);

async function timed(c: Client, sql: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await c.query(sql);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const INDEXES = [
  ['orders_pkey', 'CREATE UNIQUE INDEX orders_pkey ON orders (id)'],
  ['orders_email_key', 'CREATE UNIQUE INDEX orders_email_key ON orders (email)'],
  ['orders_account_created_idx', 'CREATE INDEX orders_account_created_idx ON orders (account_id, created_at)'],
  ['orders_status_idx', 'CREATE INDEX orders_status_idx ON orders (status)'],
] as const;

async function main() {
  const servers = await startBenchServers({ log, label: 'pgshift-estimate-builds' });
  const admin = new Client({ connectionString: servers.targetAdmin });
  try {
    await admin.connect();
    await admin.query('CREATE DATABASE exp');
    const url = withDatabase(servers.targetAdmin, 'exp');
    const c = new Client({ connectionString: url });
    const d = new Client({ connectionString: url });
    await c.connect();
    await d.connect();
    const rows = Math.round(2_400_000 * scale);
    const load = async (table: string) => {
      await c.query(`DROP TABLE IF EXISTS ${table} CASCADE`);
      await c.query(`CREATE TABLE ${table} (id bigint NOT NULL, account_id int NOT NULL, status smallint NOT NULL, email text NOT NULL,
                           created_at timestamptz NOT NULL, amount numeric(12,2) NOT NULL, note text)`);
      // Plain INSERT, like copy's split chunks (COPY without FREEZE): tuples carry no hint bits yet.
      return timed(
        c,
        `INSERT INTO ${table} SELECT g, (g::bigint * 7919) % 50000, (g % 5)::smallint, 'user' || g || '@example.com',
             timestamptz '2020-01-01' + g * interval '13 seconds', ((g * 31) % 100000) / 100.0,
             CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || substr(md5(g::text), 1, 20) END
        FROM generate_series(1, ${rows}) g`,
      );
    };
    await c.query(`SET maintenance_work_mem = '256MB'`);
    await d.query(`SET maintenance_work_mem = '256MB'`);
    const out: Record<string, unknown> = { scale, rows };
    if (process.argv.includes('--parallel') || process.argv.includes('--fk')) {
      if (process.argv.includes('--parallel')) await parallelAndTouch(c, load, out, rows);
      else await foreignKey(c, load, out, rows);
      console.log(JSON.stringify(out, null, 1));
      await c.end();
      await d.end();
      return;
    }
    for (const workers of [2, 0]) {
      await c.query(`SET max_parallel_maintenance_workers = ${workers}`);
      out[`load_w${workers}`] = await load('orders');
      const heap = (await c.query(`SELECT pg_relation_size('orders') AS b`)).rows[0].b;
      out.heapBytes = Number(heap);
      // First touch: the first build sets hint bits on every page (and dirties them).
      const first = await timed(c, INDEXES[1][1]);
      await c.query(`DROP INDEX ${INDEXES[1][0]}`);
      const second = await timed(c, INDEXES[1][1]);
      await c.query(`DROP INDEX ${INDEXES[1][0]}`);
      out[`email_first_w${workers}`] = first;
      out[`email_second_w${workers}`] = second;
      for (const [name, sql] of INDEXES) {
        out[`${name}_w${workers}`] = await timed(c, sql);
        await c.query(`DROP INDEX ${name}`);
      }
      // Beside a concurrent load of another table (a COPY chunk's work): the same index.
      await d.query(`DROP TABLE IF EXISTS other`);
      await d.query(`CREATE TABLE other (LIKE orders)`);
      const bg = d.query(`INSERT INTO other SELECT * FROM orders`);
      const t0 = process.hrtime.bigint();
      await c.query(INDEXES[2][1]);
      out[`account_beside_insert_w${workers}`] = Number(process.hrtime.bigint() - t0) / 1e9;
      await bg;
      await c.query(`DROP INDEX ${INDEXES[2][0]}`);
      // Two builds at once (--index-jobs 2).
      const t1 = process.hrtime.bigint();
      await Promise.all([c.query(INDEXES[2][1]), d.query(INDEXES[1][1])]);
      out[`two_builds_w${workers}`] = Number(process.hrtime.bigint() - t1) / 1e9;
      await c.query(`DROP INDEX ${INDEXES[2][0]}; DROP INDEX ${INDEXES[1][0]}`);
    }
    // Foreign key: order_lines (rows / 6) against orders(id), vs a probe-style self-join of a 40k-row sample.
    await c.query(`SET max_parallel_maintenance_workers = 2`);
    await c.query(INDEXES[0][1]);
    await c.query(`ALTER TABLE orders ADD CONSTRAINT orders_pk PRIMARY KEY USING INDEX orders_pkey`);
    await c.query(`CREATE TABLE order_lines (id bigint PRIMARY KEY, order_id bigint NOT NULL, sku text NOT NULL, qty int NOT NULL)`);
    await c.query(
      `INSERT INTO order_lines SELECT g, 1 + (g * 13) % ${rows}, 'SKU-' || (g % 5000), 1 + g % 9 FROM generate_series(1, ${Math.round(rows / 6)}) g`,
    );
    await c.query(`SELECT count(*) FROM order_lines`);
    out.fk = await timed(c, `ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id)`);
    out.fkRows = rows + Math.round(rows / 6);
    out.workMem = (await c.query(`SHOW work_mem`)).rows[0].work_mem;
    out.fkPlan = (
      await c.query(
        `EXPLAIN SELECT fk.order_id FROM ONLY order_lines fk LEFT OUTER JOIN ONLY orders pk ON pk.id = fk.order_id WHERE pk.id IS NULL AND fk.order_id IS NOT NULL`,
      )
    ).rows.map((r) => r['QUERY PLAN']);
    for (const n of [40_000, 200_000]) {
      await c.query(`DROP TABLE IF EXISTS s; CREATE TABLE s AS SELECT id AS c1 FROM orders LIMIT ${n}`);
      await c.query(`SELECT count(*) FROM s`);
      const s = await timed(c, `SELECT fk.c1 FROM ONLY s fk LEFT OUTER JOIN ONLY s pk ON pk.c1 = fk.c1 WHERE pk.c1 IS NULL AND fk.c1 IS NOT NULL`);
      out[`selfjoin_${n}_rowsPerSec`] = (2 * n) / s;
    }
    out.fk_rowsPerSec = (out.fkRows as number) / (out.fk as number);
    console.log(JSON.stringify(out, null, 1));
    await c.end();
    await d.end();
  } finally {
    await admin.end().catch(() => undefined);
    await servers.stop();
  }
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** First touch (hint bits) measured three times, and the parallel speedup on the whole table vs on a sample. */
async function parallelAndTouch(c: Client, load: (t: string) => Promise<number>, out: Record<string, unknown>, rows: number) {
  const touch: Record<string, number[]> = { scanFirst: [], scanSecond: [], buildFirst: [], buildSecond: [] };
  await c.query(`SET max_parallel_maintenance_workers = 2`);
  for (let k = 0; k < 3; k++) {
    await load('orders');
    touch.scanFirst!.push(await timed(c, `SELECT count(*) FROM orders`));
    touch.scanSecond!.push(await timed(c, `SELECT count(*) FROM orders`));
    await load('orders');
    touch.buildFirst!.push(await timed(c, INDEXES[2][1]));
    await c.query(`DROP INDEX ${INDEXES[2][0]}`);
    touch.buildSecond!.push(await timed(c, INDEXES[2][1]));
    await c.query(`DROP INDEX ${INDEXES[2][0]}`);
  }
  out.touch = touch;
  // Parallel speedup: the whole table (hinted now), and a sample with its worker count forced by reloption.
  await c.query(`SET max_parallel_workers_per_gather = 0`);
  for (const [label, table] of [
    ['full', 'orders'],
    ['sample', 's'],
  ] as const) {
    if (table === 's') {
      await c.query(`DROP TABLE IF EXISTS s; CREATE TABLE s AS SELECT * FROM orders TABLESAMPLE SYSTEM (25) LIMIT 250000`);
      await c.query(`SELECT count(*) FROM s`);
    }
    for (const [name, sql] of INDEXES) {
      const sqlOn = sql.replace(' ON orders ', ` ON ${table} `).replace(name, `${name}_${table}`);
      const t: Record<number, number[]> = { 0: [], 2: [] };
      for (let k = 0; k < 3; k++) {
        for (const w of [0, 2]) {
          await c.query(`ALTER TABLE ${table} SET (parallel_workers = ${w})`);
          t[w]!.push(await timed(c, sqlOn));
          await c.query(`DROP INDEX ${name}_${table}`);
        }
      }
      out[`${label}_${name}`] = { w0: med(t[0]!), w2: med(t[2]!), speedup: med(t[0]!) / med(t[2]!) };
    }
  }
  out.rows = rows;
}

/** The foreign key's check (ALTER TABLE, as copy runs it) vs the probe's self-join on samples, parallel or not. */
async function foreignKey(c: Client, load: (t: string) => Promise<number>, out: Record<string, unknown>, rows: number) {
  await load('orders');
  await c.query(INDEXES[0][1]);
  await c.query(`ALTER TABLE orders ADD CONSTRAINT orders_pk PRIMARY KEY USING INDEX orders_pkey`);
  await c.query(`CREATE TABLE order_lines (id bigint PRIMARY KEY, order_id bigint NOT NULL, sku text NOT NULL, qty int NOT NULL)`);
  await c.query(`INSERT INTO order_lines SELECT g, 1 + (g * 13) % ${rows}, 'SKU-' || (g % 5000), 1 + g % 9 FROM generate_series(1, ${Math.round(rows / 6)}) g`);
  await c.query(`SELECT count(*) FROM order_lines`);
  const fk: number[] = [];
  for (let k = 0; k < 3; k++) {
    fk.push(await timed(c, `ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id)`));
    await c.query(`ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_id_fkey`);
  }
  out.fk_rowsPerSec = (rows + Math.round(rows / 6)) / med(fk);
  for (const n of [40_000, 290_000]) {
    await c.query(`DROP TABLE IF EXISTS s; CREATE TABLE s AS SELECT * FROM orders TABLESAMPLE SYSTEM (30) LIMIT ${n}`);
    await c.query(`SELECT count(*) FROM s`);
    for (const [label, setup] of [
      ['parallel', `RESET max_parallel_workers_per_gather; RESET work_mem; RESET hash_mem_multiplier`],
      ['serial', `SET max_parallel_workers_per_gather = 0; SET work_mem = '256MB'; SET hash_mem_multiplier = 1`],
    ] as const) {
      await c.query(setup);
      const t: number[] = [];
      for (let k = 0; k < 3; k++)
        t.push(await timed(c, `SELECT fk.id FROM ONLY s fk LEFT OUTER JOIN ONLY s pk ON pk.id = fk.id WHERE pk.id IS NULL AND fk.id IS NOT NULL `));
      out[`selfjoin_${n}_${label}_rowsPerSec`] = (2 * n) / med(t);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
