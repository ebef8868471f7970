// The transcript of docs/migration-day.md: the whole migration day run on embedded PostgreSQL 15 (source: a
// non-superuser owner with REPLICATION, TLS) → 17 (target), with a small shop that keeps writing, printed as a user
// sees it (passwords redacted, nothing else):
//
//   npm run build && node dist/demo/migration-day.js > transcript.md
//
// Day 1: estimate, replicate streaming (with --metrics-port, scraped once), an online verify while it streams,
// replicate stopped, cutover --freeze source while the application still writes (its sessions are ended and its
// retries are refused read-only), cleanup. Day 2, the --freeze wait variant: the same source made writable again
// (cutover --abort), a new target, replicate --until-caught-up, the application stopped by the operator (Heroku:
// maintenance mode, ps:scale web=0), cutover --freeze wait, cleanup.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseConnectionUrl } from '../src/config.js';
import { connect, type Client } from '../src/db/connect.js';
import { Writable } from 'node:stream';
import { PrettyStream } from '../src/log.js';
import { redact } from '../src/redact.js';
import { setExitCode, startBenchServers, type BenchServers } from '../bench/servers.js';
import { createOwnedDatabase, seedShop } from './seed.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'pgshift.js');
const COUNTS = { users: 20_000, products: 1_000, orders: 40_000, pageViews: 100_000 };

const say = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The application: orders and page views written every few ms; after the freeze its retries meet read-only. */
function startApp(url: string): { stop(): Promise<{ writes: number; errors: Map<string, number> }> } {
  let running = true;
  let writes = 0;
  const errors = new Map<string, number>();
  const loop = (async () => {
    let c: Client | undefined;
    for (let i = 1; running; i++) {
      try {
        c ??= await connect(parseConnectionUrl(url, 'source'), { applicationName: 'shop-web' });
        await c.query('BEGIN');
        await c.query(`INSERT INTO orders (user_id, status, total, placed_at) VALUES (1 + $1::int % 20000, 'new', 9.99, now())`, [i]);
        await c.query(`UPDATE orders SET status = 'shipped' WHERE id = $1::bigint`, [1 + ((i * 7919) % 40000)]);
        await c.query(`INSERT INTO page_views (viewed_at, user_id, path) VALUES (now(), NULL, '/live/' || $1::int)`, [i]);
        await c.query('COMMIT');
        writes++;
        await sleep(10);
      } catch (err) {
        const m = (err as Error).message;
        errors.set(m, (errors.get(m) ?? 0) + 1);
        await c?.end().catch(() => undefined);
        c = undefined;
        await sleep(200); // a pool reconnecting
      }
    }
    await c?.end().catch(() => undefined);
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { writes, errors };
    },
  };
}

function env(urls: { source: string; target: string }): NodeJS.ProcessEnv {
  return { ...process.env, PGSHIFT_SOURCE_URL: urls.source, PGSHIFT_TARGET_URL: urls.target, NO_COLOR: '1' };
}

/** stderr's log lines as a terminal shows them (piped, pgshift writes them as JSON): the CLI's own pretty printer. */
async function asTerminal(text: string): Promise<string> {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      out += chunk.toString('utf8');
      done();
    },
  });
  const pretty = new PrettyStream(sink, false);
  for (const line of text.split('\n')) {
    if (line.startsWith('{"level"')) await new Promise<void>((r) => pretty.write(`${line}\n`, () => r()));
    else out += `${line}\n`;
  }
  return redact(out).trimEnd();
}

/** Run the CLI as a user would (URLs from the environment), print the command and its output, redacted. */
async function run(args: string[], urls: { source: string; target: string }, note = ''): Promise<{ code: number | null; out: string }> {
  say(`$ pgshift ${args.join(' ')}${note ? `   # ${note}` : ''}`);
  const child = spawn(process.execPath, [BIN, ...args], { env: env(urls), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  say(await asTerminal(out));
  say(`(exit ${code})`);
  say();
  return { code, out };
}

/** A streaming command in the background; its output is printed when it ends. */
function background(args: string[], urls: { source: string; target: string }): { child: ChildProcess; output: () => Promise<string> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: env(urls), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => asTerminal(out) };
}

async function waitCopied(target: string): Promise<void> {
  for (;;) {
    const c = await connect(parseConnectionUrl(target, 'target'));
    try {
      const { rows } = await c.query(
        `SELECT to_regclass('pgshift.replication') IS NOT NULL AND (SELECT copy_done_at IS NOT NULL FROM pgshift.replication WHERE id = 1) AS ok`,
      );
      if (rows[0]?.ok) return;
    } catch {
      // not created yet
    } finally {
      await c.end();
    }
    await sleep(500);
  }
}

async function main(): Promise<number> {
  let servers: BenchServers | undefined;
  try {
    servers = await startBenchServers({ label: 'pgshift-day', log: () => undefined, footing: 'durable' });
    const [pg15, pg17] = servers.clusters as [NonNullable<BenchServers['clusters'][0]>, NonNullable<BenchServers['clusters'][0]>];
    const source = await createOwnedDatabase(pg15, 'shop', 'shop_owner', { replication: true });
    const target = await createOwnedDatabase(pg17, 'shop', 'shop_new_owner');
    const target2 = await createOwnedDatabase(pg17, 'shop_b', 'shop_b_owner');
    await seedShop(source, COUNTS);
    say(`<!-- source ${redact(source)}; target ${redact(target)}; second target ${redact(target2)} -->`);
    const urls = { source, target };
    let app = startApp(source);

    say('## estimate');
    await run(['estimate', '--downtime-budget', '5m', '--probe-seconds', '5'], urls);

    say('## replicate (streaming, metrics on)');
    say('$ pgshift replicate --fix-replica-identity --metrics-port 9187 --status-interval 5   # until Ctrl-C');
    const repl = background(['replicate', '--fix-replica-identity', '--metrics-port', '9187', '--status-interval', '5'], urls);
    await waitCopied(target);
    await sleep(12_000);
    say('## metrics');
    say('$ curl -s 127.0.0.1:9187/metrics | grep -v "^#"');
    const metrics = await fetch('http://127.0.0.1:9187/metrics').then((r) => r.text());
    say(
      metrics
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .join('\n'),
    );
    say('$ curl -s 127.0.0.1:9187/healthz');
    say(await fetch('http://127.0.0.1:9187/healthz').then(async (r) => `${r.status} ${await r.text()}`));
    say();

    say('## online verify');
    await run(['verify'], urls, 'while replicate streams and the application writes');
    await sleep(5000);
    repl.child.kill('SIGINT');
    const replCode = await new Promise<number | null>((r) => repl.child.on('close', r));
    say('## replicate output (after Ctrl-C)');
    say(await repl.output());
    say(`(exit ${replCode})`);
    say();

    say('## cutover --freeze source');
    const cut = await run(['cutover', '--freeze', 'source', '--max-freeze', '30s'], urls, 'the application still writing');
    const seen = await app.stop();
    say(`<!-- the application: ${seen.writes} transactions; errors: ${JSON.stringify([...seen.errors])} -->`);
    say();
    say('## read-only source');
    {
      const c = await connect(parseConnectionUrl(source, 'source'), { applicationName: 'shop-web' });
      const e = await c.query(`INSERT INTO page_views (viewed_at, path) VALUES (now(), '/after')`).then(
        () => 'inserted',
        (err: Error & { code?: string }) => `ERROR: ${err.message} (SQLSTATE ${err.code})`,
      );
      await c.end();
      say(`$ psql "$OLD_DATABASE_URL" -c "INSERT INTO page_views (viewed_at, path) VALUES (now(), '/after')"`);
      say(e);
      say();
    }
    say('## abort (to run the day again with the other freeze)');
    await run(['cutover', '--abort'], urls);
    say('## cleanup');
    await run(['cleanup'], urls);

    say('## day 2: --freeze wait');
    const urls2 = { source, target: target2 };
    app = startApp(source);
    await run(['replicate', '--fix-replica-identity', '--until-caught-up'], urls2, 'the application still writing');
    await sleep(5000);
    const seen2 = await app.stop();
    say(`<!-- heroku maintenance:on; heroku ps:scale web=0 worker=0 (the application stopped after ${seen2.writes} transactions) -->`);
    await run(['cutover', '--freeze', 'wait', '--grace', '60s'], urls2, 'after maintenance:on and ps:scale web=0 worker=0');
    await run(['cleanup'], urls2);
    return cut.code === 0 ? 0 : 1;
  } finally {
    await servers?.stop();
  }
}

main().then(
  (code) => setExitCode(code),
  (err: unknown) => {
    process.stderr.write(`migration-day: error: ${redact(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
    setExitCode(1);
  },
);
