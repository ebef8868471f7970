// The sustained-rate question of issue #28: the estimate's probe times COPY in samples of a second or less
// (rolled back), while copy's chunks stream for seconds on end and commit. Does a COPY keep the rate of its
// first second? Measured on the dominant shape's `orders` table (bench/estimate-shapes.ts), through copy's own
// relay, from the PG15 source into each target major, every COPY's bytes timed as they pass:
//   probe      the probe's solo samples: COPY FREEZE of a TABLESAMPLE into a scratch table created in the
//              transaction, rolled back; --sample-mb each, six in a row; their rate after a one-row COPY's fixed cost
//   long       one such rolled-back COPY FREEZE of the whole table: its rate second by second
//   chunks     copy's split chunks, one pipe: BEGIN; COPY (no FREEZE) of a --chunk-mb id range into one committed
//              table; COMMIT — chunk after chunk, the rate second by second and per chunk
//   2 chunks   the same with two pipes at once (copy --jobs 2), the pair's rate second by second
// A CHECKPOINT before each. The JSON (bench/results/estimate-sustained-<time>.json) keeps every timeline.
//
//   npm run build && node dist/bench/estimate-sustained.js [--scale 0.3] [--rounds 2] [--targets 15,17] [--sample-mb 20] [--chunk-mb 64]
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConnectionUrl } from '../src/config.js';
import { relayCopy } from '../src/copy/relay.js';
import { connect, type Client } from '../src/db/connect.js';
import { median } from '../src/estimate/median.js';
import { SHAPES } from './estimate-shapes.js';
import { runOne } from './proc.js';
import { setExitCode, startBenchServers, withDatabase } from './servers.js';

const say = (l: string) => process.stderr.write(`${l}\n`);
const open = (url: string) => connect(parseConnectionUrl(url, 'target'), { applicationName: 'pgshift-bench-estimate-sustained' });
const MB = 1e6;
const BIN = join(fileURLToPath(new URL('../../', import.meta.url)), 'bin', 'pgshift.js');
const COLS = '(id bigint, account_id int, status smallint, email text, created_at timestamptz, amount numeric(12,2), note text)';
const load = () => Number(loadavg()[0]!.toFixed(2));

/** Cumulative COPY payload bytes over time (seconds from the condition's start). */
class Timeline {
  readonly t0 = performance.now();
  readonly points: Array<[number, number]> = [[0, 0]];
  bytes = 0;
  add = (n: number) => {
    this.bytes += n;
    this.points.push([(performance.now() - this.t0) / 1000, this.bytes]);
  };
  get seconds() {
    return (performance.now() - this.t0) / 1000;
  }
  /** MB/s in each window [a, b) of seconds; the last window ends with the timeline. */
  rates(edges: number[]): Array<{ from: number; to: number; mbps: number }> {
    const end = this.points.at(-1)![0];
    const at = (t: number) => {
      // Bytes passed by time t (linear between points).
      let prev = this.points[0]!;
      for (const p of this.points) {
        if (p[0] >= t) return prev[1] + ((p[1] - prev[1]) * (t - prev[0])) / Math.max(1e-9, p[0] - prev[0]);
        prev = p;
      }
      return prev[1];
    };
    const out: Array<{ from: number; to: number; mbps: number }> = [];
    for (let i = 0; i < edges.length; i++) {
      const a = edges[i]!;
      const b = Math.min(end, edges[i + 1] ?? end);
      if (b - a < 0.2) break;
      out.push({ from: a, to: Number(b.toFixed(2)), mbps: (at(b) - at(a)) / MB / (b - a) });
    }
    return out;
  }
}

const EDGES = [0, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '0.3' },
      rounds: { type: 'string', default: '2' },
      targets: { type: 'string', default: '15,17' },
      'sample-mb': { type: 'string', default: '20' },
      'chunk-mb': { type: 'string', default: '64' },
      out: { type: 'string', default: 'bench/results' },
      // Instead: rolled-back samples of these sizes (MB), interleaved, --reps each, on every target; for each the
      // rate after the one-row COPY's fixed cost, and the rate past the first 16 MB (COPY's ring of buffers).
      sweep: { type: 'string', default: '' },
      reps: { type: 'string', default: '6' },
      // Instead: two pipes copying the whole table in --chunk-mb id ranges, three ways, interleaved, --reps times:
      // into one shared committed table (copy's split chunks), into a table of each pipe's own (committed), and
      // as the probe's pipes do (COPY FREEZE into a scratch table of each pipe's own, created in the transaction,
      // rolled back). Against one pipe into one table: the capacity each way gives.
      'pipes-ab': { type: 'boolean', default: false },
      // With --pipes-ab: before each rep, `pgshift estimate --target` (an empty database of its own) on the same
      // servers, its probe's capacity and rate of the table beside the pipes' measured ones.
      'with-probe': { type: 'boolean', default: false },
    },
  });
  const majors = values.targets!.split(',').map(Number) as Array<15 | 17>;
  const startLoad = load();
  say(`load average at start ${startLoad}`);
  const servers = await startBenchServers({ label: 'pgshift-bench-estimate-sustained', log: say, footing: 'durable', targetMajors: majors });
  const results: Array<Record<string, unknown>> = [];
  try {
    const sa = await open(servers.sourceAdmin);
    await SHAPES.find((s) => s.id === 'dominant')!.generate(sa, Number(values.scale));
    await sa.query('VACUUM ANALYZE');
    const { rows: st } = await sa.query<{ rows: string; bytes: string; lo: string; hi: string }>(
      `SELECT count(*) AS rows, pg_table_size('orders') AS bytes, min(id) AS lo, max(id) AS hi FROM orders`,
    );
    await sa.end();
    const rows = Number(st[0]!.rows);
    const tableBytes = Number(st[0]!.bytes);
    say(`source: orders ${rows} rows, ${(tableBytes / MB).toFixed(0)} MB`);
    const bytesPerRow = tableBytes / rows;
    const chunkRows = Math.max(1, Math.round((Number(values['chunk-mb']) * 1024 * 1024) / bytesPerRow));
    const sampleRows = Math.max(1, Math.round((Number(values['sample-mb']) * MB) / bytesPerRow));
    let seed = 0;
    for (let round = 1; round <= Number(values.rounds); round++)
      for (const t of servers.targets) {
        const admin = await open(t.admin);
        const db = `sustained_${round}`;
        await admin.query(`DROP DATABASE IF EXISTS ${db}`);
        await admin.query(`CREATE DATABASE ${db}`);
        const url = withDatabase(t.admin, db);
        const [s1, s2, t1, t2] = await Promise.all([open(servers.sourceAdmin), open(servers.sourceAdmin), open(url), open(url)]);
        for (const c of [t1, t2]) await c.query('SET synchronous_commit = off');
        const rec: Record<string, unknown> = { round, major: t.major, loadBefore: load() };

        // probe: a one-row sample's time (the fixed cost the probe subtracts), then six samples.
        const scratch = async (n: number, tl?: Timeline) => {
          await t1.query(`BEGIN; CREATE TABLE scratch ${COLS}`);
          const pct = Math.min(100, ((100 * n) / rows) * 1.1);
          const t0 = performance.now();
          const r = await relayCopy(
            s1,
            t1,
            `COPY (SELECT * FROM orders${n < rows ? ` TABLESAMPLE SYSTEM (${pct.toFixed(4)}) REPEATABLE (${++seed})` : ''} LIMIT ${n}) TO STDOUT (FORMAT binary)`,
            `COPY scratch FROM STDIN (FORMAT binary, FREEZE)`,
            tl ? { onBytes: tl.add } : {},
          );
          const seconds = (performance.now() - t0) / 1000;
          await t1.query('ROLLBACK');
          return { seconds, bytes: r.bytes };
        };
        await t1.query('CHECKPOINT');
        const tiny = median([await scratch(1), await scratch(1), await scratch(1)].map((x) => x.seconds));
        const samples: Array<{ seconds: number; mb: number; mbps: number }> = [];
        for (let k = 0; k < 6; k++) {
          const s = await scratch(sampleRows);
          samples.push({ seconds: s.seconds, mb: s.bytes / MB, mbps: s.bytes / MB / Math.max(0.001, s.seconds - tiny) });
        }
        rec.probe = { fixedSeconds: tiny, samples, mbps: median(samples.map((s) => s.mbps)) };
        if (values['pipes-ab']) {
          const ab: Record<string, number[]> = {};
          const lo0 = Number(st[0]!.lo);
          const hi = Number(st[0]!.hi);
          const way = async (how: 'one' | 'shared' | 'own' | 'probe', tag: string) => {
            const pipes: Array<[Client, Client]> =
              how === 'one'
                ? [[s1, t1]]
                : [
                    [s1, t1],
                    [s2, t2],
                  ];
            if (how === 'one' || how === 'shared') await t1.query(`CREATE TABLE ab_${how}_${tag} ${COLS}`);
            if (how === 'own') await t1.query(`CREATE TABLE ab_own_${tag}_0 ${COLS}; CREATE TABLE ab_own_${tag}_1 ${COLS}`);
            await t1.query('CHECKPOINT');
            let next = lo0;
            let bytes = 0;
            const t0 = performance.now();
            await Promise.all(
              pipes.map(async ([s, d], lane) => {
                const table = how === 'own' ? `ab_own_${tag}_${lane}` : how === 'probe' ? `scratch_${lane}` : `ab_${how}_${tag}`;
                for (;;) {
                  const lo = next;
                  if (lo > hi) return;
                  next += chunkRows;
                  await d.query('BEGIN');
                  if (how === 'probe') await d.query(`CREATE TABLE ${table} ${COLS}`);
                  const r = await relayCopy(
                    s,
                    d,
                    `COPY (SELECT * FROM orders WHERE id >= ${lo} AND id < ${lo + chunkRows}) TO STDOUT (FORMAT binary)`,
                    `COPY ${table} FROM STDIN (FORMAT binary${how === 'probe' ? ', FREEZE' : ''})`,
                  );
                  bytes += r.bytes;
                  await d.query(how === 'probe' ? 'ROLLBACK' : 'COMMIT');
                }
              }),
            );
            (ab[how] ??= []).push(bytes / MB / ((performance.now() - t0) / 1000));
          };
          const probes: Array<{ capacity?: number; ordersMBps?: number; note?: string }> = [];
          for (let rep = 0; rep < Number(values.reps); rep++) {
            if (values['with-probe']) {
              const edb = `sustained_est_${rep}`;
              await admin.query(`DROP DATABASE IF EXISTS ${edb}`);
              await admin.query(`CREATE DATABASE ${edb}`);
              const est = await runOne(
                {
                  bin: process.execPath,
                  args: [
                    BIN,
                    'estimate',
                    '--source',
                    servers.sourceAdmin,
                    '--target',
                    withDatabase(t.admin, edb),
                    '--jobs',
                    '2',
                    '--split-larger-than',
                    '64MB',
                    '--json',
                  ],
                },
                { logFile: join(tmpdir(), `estimate-sustained-${process.pid}.log`) },
              );
              const e = JSON.parse(est.stdout) as { rates: { capacity?: number; perTable?: Record<string, number> }; probe: { notes: string[] } };
              probes.push({
                capacity: e.rates.capacity,
                ordersMBps: (e.rates.perTable?.['["public","orders"]'] ?? 0) / MB,
                note: e.probe.notes.find((n) => n.includes('pipes at once')),
              });
              await admin.query(`DROP DATABASE ${edb}`);
            }
            const order = (['one', 'shared', 'own', 'probe'] as const).slice();
            if (rep % 2) order.reverse();
            for (const how of order) await way(how, `${rep}`);
          }
          rec.pipesAb = ab;
          if (probes.length) rec.probes = probes;
          const m = (k: string) => median(ab[k]!);
          say(
            `pipes A/B PG${t.major} round ${round} (load ${rec.loadBefore as number} → ${load()}): ` +
              Object.keys(ab)
                .map(
                  (k) =>
                    `${k} ${m(k).toFixed(1)} MB/s [${ab[k]!.map((x) => x.toFixed(0)).join(' ')}]${k === 'one' ? '' : ` = ${(m(k) / m('one')).toFixed(2)}× one pipe`}`,
                )
                .join('; ') +
              (probes.length
                ? `; the probe's capacity ${probes.map((p) => p.capacity?.toFixed(2)).join(', ')} (orders ${probes.map((p) => p.ordersMBps?.toFixed(1)).join(', ')} MB/s)`
                : ''),
          );
          await Promise.all([s1, s2, t1, t2].map((c) => c.end()));
          await admin.query(`DROP DATABASE ${db}`);
          await admin.end();
          results.push(rec);
          continue;
        }
        if (values.sweep) {
          const sizes = values.sweep.split(',').map(Number);
          const sweep: Record<string, Array<{ mbps: number; past16: number | null }>> = {};
          for (let rep = 0; rep < Number(values.reps); rep++)
            for (const size of rep % 2 ? [...sizes].reverse() : sizes) {
              const tl = new Timeline();
              const s = await scratch(Math.round((size * MB) / bytesPerRow), tl);
              const p16 = tl.points.find((x) => x[1] >= 16 * MB);
              const past16 = p16 && tl.bytes > 20 * MB ? (tl.bytes - p16[1]) / MB / Math.max(0.001, tl.points.at(-1)![0] - p16[0]) : null;
              (sweep[size] ??= []).push({ mbps: s.bytes / MB / Math.max(0.001, s.seconds - tiny), past16 });
            }
          rec.sweep = sweep;
          say(
            `sweep PG${t.major} round ${round} (load ${rec.loadBefore as number} → ${load()}): ` +
              Object.entries(sweep)
                .map(
                  ([k, v]) =>
                    `${k} MB ${median(v.map((x) => x.mbps)).toFixed(1)} MB/s [${v.map((x) => x.mbps.toFixed(0)).join(' ')}]` +
                    (v.some((x) => x.past16 !== null) ? ` past 16 MB ${median(v.filter((x) => x.past16 !== null).map((x) => x.past16!)).toFixed(1)}` : ''),
                )
                .join('; '),
          );
          await Promise.all([s1, s2, t1, t2].map((c) => c.end()));
          await admin.query(`DROP DATABASE ${db}`);
          await admin.end();
          results.push(rec);
          continue;
        }

        // long: the whole table, one rolled-back COPY FREEZE.
        await t1.query('CHECKPOINT');
        const long = new Timeline();
        await scratch(rows, long);
        rec.long = { seconds: long.seconds, mb: long.bytes / MB, windows: long.rates(EDGES), points: long.points.filter((_, i) => i % 20 === 0) };

        // chunks: copy's split chunks into one committed table, one pipe, then two.
        const chunkRun = async (pipes: Array<[Client, Client]>, table: string) => {
          await t1.query(`CREATE TABLE ${table} ${COLS}`);
          await t1.query('CHECKPOINT');
          const tl = new Timeline();
          const chunks: Array<{ lane: number; lo: number; seconds: number; mb: number; mbps: number }> = [];
          const lo0 = Number(st[0]!.lo);
          const hi = Number(st[0]!.hi);
          let next = lo0;
          await Promise.all(
            pipes.map(async ([s, d], lane) => {
              for (;;) {
                const lo = next;
                if (lo > hi) return;
                next += chunkRows;
                const c0 = performance.now();
                let bytes = 0;
                await d.query('BEGIN');
                await relayCopy(
                  s,
                  d,
                  `COPY (SELECT * FROM orders WHERE id >= ${lo} AND id < ${lo + chunkRows}) TO STDOUT (FORMAT binary)`,
                  `COPY ${table} FROM STDIN (FORMAT binary)`,
                  {
                    onBytes: (n) => {
                      bytes += n;
                      tl.add(n);
                    },
                  },
                );
                await d.query('COMMIT');
                const seconds = (performance.now() - c0) / 1000;
                chunks.push({ lane, lo, seconds, mb: bytes / MB, mbps: bytes / MB / seconds });
              }
            }),
          );
          return { seconds: tl.seconds, mb: tl.bytes / MB, windows: tl.rates(EDGES), chunks, points: tl.points.filter((_, i) => i % 20 === 0) };
        };
        rec.chunks = await chunkRun([[s1, t1]], 'one_pipe');
        rec.chunks2 = await chunkRun(
          [
            [s1, t1],
            [s2, t2],
          ],
          'two_pipes',
        );
        rec.loadAfter = load();
        await Promise.all([s1, s2, t1, t2].map((c) => c.end()));
        await admin.query(`DROP DATABASE ${db}`);
        await admin.end();
        results.push(rec);
        const w = (x: unknown) =>
          (x as { windows: Array<{ from: number; to: number; mbps: number }> }).windows.map((v) => `${v.from}-${v.to}s ${v.mbps.toFixed(1)}`).join(', ');
        const p = rec.probe as { mbps: number; samples: Array<{ mbps: number }> };
        say(
          `round ${round} PG${t.major} (load ${rec.loadBefore as number} → ${rec.loadAfter as number}): probe samples ${p.samples.map((s) => s.mbps.toFixed(1)).join(', ')} MB/s (median ${p.mbps.toFixed(1)})\n` +
            `  long (rolled back): ${w(rec.long)}\n  chunks, 1 pipe: ${w(rec.chunks)}\n    per chunk: ${(rec.chunks as { chunks: Array<{ mbps: number }> }).chunks.map((c) => c.mbps.toFixed(1)).join(', ')}\n` +
            `  chunks, 2 pipes: ${w(rec.chunks2)}\n    per chunk: ${(rec.chunks2 as { chunks: Array<{ mbps: number }> }).chunks.map((c) => c.mbps.toFixed(1)).join(', ')}`,
        );
      }
    mkdirSync(values.out!, { recursive: true });
    const file = join(values.out!, `estimate-sustained-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 17)}.json`);
    writeFileSync(
      file,
      JSON.stringify({ date: new Date().toISOString(), scale: Number(values.scale), loadStart: startLoad, loadEnd: load(), results }, null, 1),
    );
    say(`wrote ${file}; load average at end ${load()}`);
    return 0;
  } finally {
    await servers.stop();
  }
}

main().then(
  (code) => setExitCode(code),
  (err: unknown) => {
    say(`bench estimate-sustained: error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    setExitCode(1);
  },
);
