// How long replicate's finish takes to bring back the foreign keys it dropped while applying — writes are frozen
// then, so this is cutover time. Several tables referencing one big table (every table pointing at `users`):
// the finish as it is (restoreSwitches: keys added NOT VALID, then VALIDATE on --index-jobs connections)
// against the way it was (each key re-added with ADD FOREIGN KEY, which checks its rows while holding SHARE ROW
// EXCLUSIVE on both tables: one at a time), alternating, on a durable embedded target.
//
//   npm run bench:replicate-finish -- [--rows 1000000] [--children 4] [--rounds 3] [--jobs 2]
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parseConnectionUrl } from '../src/config.js';
import { connect } from '../src/db/connect.js';
import { restoreSwitches, switchOff } from '../src/replicate/apply/switches.js';
import { migrateState } from '../src/state/migrations.js';
import { startBenchServers, withDatabase } from './servers.js';

const log = (l: string) => process.stderr.write(`${l}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      children: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '3' },
      jobs: { type: 'string', default: '2' },
    },
  });
  const [rows, children, rounds, jobs] = [Number(values.rows), Number(values.children), Number(values.rounds), Number(values.jobs)];
  const servers = await startBenchServers({ label: 'pgshift-bench-finish', log, footing: 'durable' });
  try {
    const admin = new pg.Client({ connectionString: servers.targetAdmin });
    await admin.connect();
    await admin.query('CREATE DATABASE finish_bench');
    await admin.end();
    const url = withDatabase(servers.targetAdmin, 'finish_bench');
    const seed = new pg.Client({ connectionString: url });
    await seed.connect();
    log(`seeding: users ${rows} rows, ${children} tables of ${Math.round(rows * 1.5)} rows referencing it`);
    await seed.query(`CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, ${rows}) g`);
    for (let i = 1; i <= children; i++) {
      await seed.query(
        `CREATE TABLE c${i} (id int, user_id int REFERENCES users (id)); INSERT INTO c${i} SELECT g, 1 + g % ${rows} FROM generate_series(1, ${Math.round(rows * 1.5)}) g`,
      );
    }
    await seed.query('VACUUM ANALYZE');
    await seed.end();

    const spec = parseConnectionUrl(url, 'target');
    const c = await connect(spec);
    await migrateState(c);
    const tables = ['public.users', ...Array.from({ length: children }, (_, i) => `public.c${i + 1}`)];
    const times: Record<'one at a time' | 'NOT VALID + parallel VALIDATE', number[]> = { 'one at a time': [], 'NOT VALID + parallel VALIDATE': [] };
    for (let r = 0; r < rounds; r++) {
      for (const mode of Object.keys(times) as (keyof typeof times)[]) {
        await switchOff(c, tables);
        const t0 = process.hrtime.bigint();
        if (mode === 'one at a time') {
          // The finish before this change: every recorded ADD CONSTRAINT in its own transaction, in order.
          const { rows: recorded } = await c.query<{ kind: string; tbl: string; name: string; restore: string[] }>(
            `SELECT kind, tbl, name, restore FROM pgshift.replication_switch ORDER BY kind = 'foreign-key', kind, tbl, name`,
          );
          for (const s of recorded) {
            await c.query('BEGIN');
            for (const sql of s.restore) await c.query(sql);
            await c.query('DELETE FROM pgshift.replication_switch WHERE kind = $1 AND tbl = $2 AND name = $3', [s.kind, s.tbl, s.name]);
            await c.query('COMMIT');
          }
        } else {
          await restoreSwitches(c, { target: spec, jobs });
        }
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        times[mode].push(s);
        log(`round ${r + 1}: ${mode}: ${s.toFixed(2)} s`);
      }
    }
    await c.end();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    log(`\n| foreign keys restored (${children} keys to one ${rows}-row table, --index-jobs ${jobs}) | runs | median |`);
    log('|---|---|---:|');
    for (const [mode, xs] of Object.entries(times)) log(`| ${mode} | ${xs.map((x) => x.toFixed(2)).join(' / ')} s | ${median(xs).toFixed(2)} s |`);
  } finally {
    await servers.stop();
  }
}

main().catch((err) => {
  log(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
