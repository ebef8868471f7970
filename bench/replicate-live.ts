// Live lag (issue #10 (b)): one subscriber at a time streams while pgbench writes at a fixed rate (-R). Lag is
// measured the same way for both, from the source only: every 200 ms, the slot's confirmed_flush_lsn is compared
// with a history of the source's WAL position, and the lag is how long ago the source's WAL first passed the
// confirmed position (0 when nothing is pending). No subscriber's own report is trusted.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface LagResult {
  subscriber: string;
  samples: number;
  maxLagSeconds: number;
  meanLagSeconds: number;
  p95LagSeconds: number;
  transactions?: number;
}

export interface LiveOptions {
  source: string;
  pgbench: string;
  /** pgbench script arguments (-b … -f …). */
  scripts: string[];
  rate: number;
  seconds: number;
  clients: number;
}

/** Sample lag of `slot` while pgbench runs; returns once pgbench is done and the slot caught up (or 30 s later). */
async function sampleWhileWriting(o: LiveOptions, slot: string, subscriber: string): Promise<LagResult> {
  const c = new pg.Client({ connectionString: o.source, application_name: 'pgshift-bench-lag' });
  await c.connect();
  const history: Array<{ t: number; lsn: bigint }> = [];
  const lags: number[] = [];
  let done = false;
  const bench = run(o.pgbench, [
    '-n',
    '-T',
    String(o.seconds),
    '-R',
    String(o.rate),
    '-c',
    String(o.clients),
    '-j',
    String(o.clients),
    ...o.scripts,
    o.source,
  ]).finally(() => {
    done = true;
  });
  const toBig = (l: string) => {
    const [hi, lo] = l.split('/');
    return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
  };
  let doneAt: number | undefined;
  try {
    for (;;) {
      const { rows } = await c.query<{ cur: string; conf: string | null }>(
        `SELECT pg_current_wal_lsn()::text AS cur, (SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1) AS conf`,
        [slot],
      );
      const now = performance.now() / 1000;
      const cur = toBig(rows[0]!.cur);
      const conf = rows[0]!.conf ? toBig(rows[0]!.conf) : 0n;
      history.push({ t: now, lsn: cur });
      const firstPast = history.find((h) => h.lsn > conf);
      const lag = conf >= cur || !firstPast ? 0 : now - firstPast.t;
      lags.push(lag);
      if (done) {
        doneAt ??= now;
        if (lag === 0 || now - doneAt > 30) break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const out = await bench;
    const tx = /number of transactions actually processed: (\d+)/.exec(out.stdout);
    const sorted = [...lags].sort((a, b) => a - b);
    return {
      subscriber,
      samples: lags.length,
      maxLagSeconds: sorted.at(-1) ?? 0,
      meanLagSeconds: lags.reduce((a, b) => a + b, 0) / Math.max(1, lags.length),
      p95LagSeconds: sorted[Math.floor(sorted.length * 0.95)] ?? 0,
      ...(tx ? { transactions: Number(tx[1]) } : {}),
    };
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** pgshift streaming (no --until-caught-up) while the workload runs; stopped with SIGINT afterwards. */
export async function pgshiftLiveLag(o: LiveOptions, bin: string, args: string[], slot: string): Promise<LagResult> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    await new Promise((r) => setTimeout(r, 3000)); // connected and streaming before the first write
    return await sampleWhileWriting(o, slot, 'pgshift replicate');
  } finally {
    child.kill('SIGINT');
    await exited;
  }
}

/** The native subscription, enabled for the duration of the workload. */
export async function nativeLiveLag(o: LiveOptions, target: string, sub: string): Promise<LagResult> {
  const t = new pg.Client({ connectionString: target, application_name: 'pgshift-bench' });
  await t.connect();
  try {
    await t.query(`ALTER SUBSCRIPTION ${sub} ENABLE`);
    await new Promise((r) => setTimeout(r, 3000));
    return await sampleWhileWriting(o, sub, 'native subscription');
  } finally {
    await t.query(`ALTER SUBSCRIPTION ${sub} DISABLE`).catch(() => undefined);
    await t.end().catch(() => undefined);
  }
}
