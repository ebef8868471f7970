// What the estimate's probe does not see when a table is split (issue #28: the estimate under-predicted the
// dominant shape on a PG15 target): the probe times each sample as COPY FREEZE into a scratch table of its own,
// created in the same transaction, and its --jobs pipes into different tables; copy's split chunks COPY without
// FREEZE, side by side, into the one table they share, and that table's builds then scan rows nobody has frozen.
// Measured on each target major, through copy's own relay, from the PG15 source:
//   freeze     one COPY FREEZE of all rows into a table created in its transaction (the probe's solo sample)
//   plain      one COPY (no FREEZE) of all rows into a committed empty table (a split chunk, alone)
//   2 freeze   two COPY FREEZE of half the rows each, into two new tables at once (the probe's pipes)
//   2 shared   two COPYs (no FREEZE) of half the rows each into one committed table at once (copy's chunks)
//   index after freeze / after shared: CREATE INDEX on the id column of each result (hint bits, VM)
//
//   npm run build && node dist/bench/estimate-split.js [--mb 60] [--rounds 3] [--targets 15,17]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { parseConnectionUrl } from '../src/config.js';
import { relayCopy } from '../src/copy/relay.js';
import { connect, type Client } from '../src/db/connect.js';
import { median } from '../src/estimate/median.js';
import { setExitCode, startBenchServers, withDatabase } from './servers.js';

const say = (l: string) => process.stderr.write(`${l}\n`);
const open = (url: string) => connect(parseConnectionUrl(url, 'target'), { applicationName: 'pgshift-bench-estimate-split' });
const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const COLS = '(id bigint, account_id int, status smallint, email text, created_at timestamptz, amount numeric(12,2), note text)';

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return secs(t0);
}

/** One COPY of the source rows with id in [lo, hi) into `table`, in its own transaction. */
async function copyRange(src: Client, tgt: Client, table: string, lo: number, hi: number, o: { create: boolean; freeze: boolean }): Promise<void> {
  await tgt.query(`BEGIN; SET LOCAL synchronous_commit = off`);
  if (o.create) await tgt.query(`CREATE TABLE ${table} ${COLS}`);
  await relayCopy(
    src,
    tgt,
    `COPY (SELECT * FROM orders WHERE id >= ${lo} AND id < ${hi}) TO STDOUT (FORMAT binary)`,
    `COPY ${table} FROM STDIN (FORMAT binary${o.freeze ? ', FREEZE' : ''})`,
  );
  await tgt.query('COMMIT');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '60' },
      rounds: { type: 'string', default: '3' },
      targets: { type: 'string', default: '15,17' },
      // Instead: one COPY FREEZE (committed) of each size in MB, alone, on each target: the rate per size. The
      // probe's samples are a few MB; a chunk is tens to hundreds, past COPY's 16 MB ring of buffers, whose
      // reuse flushes WAL and writes pages out as it goes.
      sizes: { type: 'string', default: '' },
      'target-settings': { type: 'string', default: '' },
    },
  });
  const targetSettings = Object.fromEntries(
    values['target-settings']!.split(',')
      .filter(Boolean)
      .map((kv) => [kv.split('=')[0]!, `'${kv.split('=')[1]!}'`]),
  );
  const majors = values.targets!.split(',').map(Number) as Array<15 | 17>;
  say(
    `load average at start ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const servers = await startBenchServers({ label: 'pgshift-bench-estimate-split', log: say, footing: 'durable', targetMajors: majors, targetSettings });
  try {
    const sa = await open(servers.sourceAdmin);
    const rows = Math.round((Number(values.mb) * 1e6) / 115);
    await sa.query(`CREATE TABLE orders ${COLS.replace('id bigint', 'id bigint PRIMARY KEY')};
      INSERT INTO orders SELECT g, (g::bigint * 7919) % 50000, (g % 5)::smallint, 'user' || g || '@example.com',
             timestamptz '2020-01-01' + g * interval '13 seconds', ((g * 31) % 100000) / 100.0,
             CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || substr(md5(g::text), 1, 20) END
        FROM generate_series(1, ${rows}) g`);
    await sa.query('VACUUM ANALYZE orders');
    const mb = Number((await sa.query(`SELECT pg_table_size('orders') AS b`)).rows[0].b) / 1e6;
    await sa.end();
    say(`source: ${rows} rows, ${mb.toFixed(0)} MB`);
    if (values.sizes) return await bySize(servers, rows, mb, values.sizes.split(',').map(Number), Number(values.rounds));
    const out: Record<string, Record<string, number[]>> = {};
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const t of servers.targets) {
        const m = (out[`PG${t.major}`] ??= {});
        const add = (k: string, v: number) => (m[k] ??= []).push(v);
        const admin = await open(t.admin);
        await admin.query(`DROP DATABASE IF EXISTS split_${round}`);
        await admin.query(`CREATE DATABASE split_${round}`);
        const url = withDatabase(t.admin, `split_${round}`);
        const [s1, s2, t1, t2] = await Promise.all([open(servers.sourceAdmin), open(servers.sourceAdmin), open(url), open(url)]);
        const half = Math.floor(rows / 2) + 1;
        const cp = async () => {
          await t1.query('CHECKPOINT');
        };
        await cp();
        add('freeze', await timed(() => copyRange(s1, t1, 'a_freeze', 1, rows + 1, { create: true, freeze: true })));
        await cp();
        await t1.query(`CREATE TABLE b_plain ${COLS}`);
        add('plain', await timed(() => copyRange(s1, t1, 'b_plain', 1, rows + 1, { create: false, freeze: false })));
        await cp();
        add(
          '2 freeze',
          await timed(() =>
            Promise.all([
              copyRange(s1, t1, 'c_freeze1', 1, half, { create: true, freeze: true }),
              copyRange(s2, t2, 'c_freeze2', half, rows + 1, { create: true, freeze: true }),
            ]),
          ),
        );
        await cp();
        await t1.query(`CREATE TABLE d_shared ${COLS}`);
        add(
          '2 shared',
          await timed(() =>
            Promise.all([
              copyRange(s1, t1, 'd_shared', 1, half, { create: false, freeze: false }),
              copyRange(s2, t2, 'd_shared', half, rows + 1, { create: false, freeze: false }),
            ]),
          ),
        );
        await cp();
        await t1.query(`SET maintenance_work_mem = '256MB'`);
        add('index after freeze', await timed(() => t1.query('CREATE INDEX ON a_freeze (id)')));
        add('index after plain', await timed(() => t1.query('CREATE INDEX ON b_plain (id)')));
        add('index after shared', await timed(() => t1.query('CREATE INDEX ON d_shared (id)')));
        await Promise.all([s1, s2, t1, t2].map((c) => c.end()));
        await admin.query(`DROP DATABASE split_${round}`);
        await admin.end();
        say(
          `round ${round} PG${t.major}: ${Object.entries(m)
            .map(([k, v]) => `${k} ${v[v.length - 1]!.toFixed(2)} s`)
            .join(', ')}`,
        );
      }
    }
    process.stdout.write(`| target | step | median s (every round) | MB/s |\n|---|---|---:|---:|\n`);
    for (const [major, m] of Object.entries(out))
      for (const [k, v] of Object.entries(m))
        process.stdout.write(
          `| ${major} | ${k} | ${median(v).toFixed(2)} (${v.map((x) => x.toFixed(2)).join(', ')}) | ${k.startsWith('index') ? '' : (mb / median(v)).toFixed(1)} |\n`,
        );
    say(
      `load average at end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    return 0;
  } finally {
    await servers.stop();
  }
}

/** Rate of one COPY FREEZE (committed, as a whole-table chunk) per size, alone, median over rounds. */
async function bySize(
  servers: { sourceAdmin: string; targets: { major: number; admin: string }[] },
  rows: number,
  mb: number,
  sizes: number[],
  rounds: number,
): Promise<number> {
  const out: Record<string, number[]> = {};
  for (let round = 1; round <= rounds; round++)
    for (const t of servers.targets) {
      const admin = await open(t.admin);
      await admin.query(`DROP DATABASE IF EXISTS size_${round}`);
      await admin.query(`CREATE DATABASE size_${round}`);
      const url = withDatabase(t.admin, `size_${round}`);
      const [s1, t1] = await Promise.all([open(servers.sourceAdmin), open(url)]);
      for (const [k, size] of sizes.entries()) {
        const n = Math.min(rows, Math.round((rows * size) / mb));
        await t1.query('CHECKPOINT');
        const secsTaken = await timed(() => copyRange(s1, t1, `s_${k}`, 1, n + 1, { create: true, freeze: true }));
        (out[`PG${t.major} ${size} MB`] ??= []).push((mb * n) / rows / secsTaken);
        await t1.query(`DROP TABLE s_${k}`);
      }
      await Promise.all([s1.end(), t1.end()]);
      await admin.query(`DROP DATABASE size_${round}`);
      await admin.end();
      say(`round ${round} PG${t.major}: ${sizes.map((z) => `${z} MB ${out[`PG${t.major} ${z} MB`]!.at(-1)!.toFixed(1)} MB/s`).join(', ')}`);
    }
  process.stdout.write(`| target and sample | MB/s: median (every round) |\n|---|---:|\n`);
  for (const [k, v] of Object.entries(out)) process.stdout.write(`| ${k} | ${median(v).toFixed(1)} (${v.map((x) => x.toFixed(1)).join(', ')}) |\n`);
  say(
    `load average at end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  return 0;
}

main().then(
  (code) => setExitCode(code),
  (err: unknown) => {
    say(`bench estimate-split: error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    setExitCode(1);
  },
);
