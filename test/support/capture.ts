// Helpers for the trigger-capture tests: a schema with every hard case of issue #11, a concurrent writer that
// keeps changing it (as the source's owner, over TLS), and a runner for `replicate --capture triggers` in its
// own process (so it can be SIGKILLed like a lost machine).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Running } from './spawn.js';
import type { TestDatabase } from './fixtures.js';

export const CAPTURE_SCHEMA_SQL = `
CREATE TABLE accounts (id bigint PRIMARY KEY, balance int NOT NULL, note text);
INSERT INTO accounts SELECT g, 0, 'n' || g FROM generate_series(1, 3000) g;
CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, qty int NOT NULL,
  total int GENERATED ALWAYS AS (qty * 10) STORED, body text, at timestamptz NOT NULL DEFAULT now(), f float8);
INSERT INTO items (qty, body, f) SELECT g, repeat(md5(g::text), 1 + (g % 3) * 400), g / 3.0 FROM generate_series(1, 400) g;
CREATE TABLE parent (id int PRIMARY KEY, name text);
CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id) ON DELETE CASCADE, v int);
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 200) g;
INSERT INTO child SELECT g, 1 + g % 200, g FROM generate_series(1, 600) g;
CREATE TABLE bag (a int, b text);
INSERT INTO bag SELECT g % 50, CASE WHEN g % 7 = 0 THEN NULL ELSE 'x' || (g % 5) END FROM generate_series(1, 1000) g;
CREATE TABLE events (id int, k int, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE events_a PARTITION OF events FOR VALUES FROM (0) TO (100);
CREATE TABLE events_b PARTITION OF events FOR VALUES FROM (100) TO (200);
INSERT INTO events SELECT g, g % 200, 'e' || g FROM generate_series(1, 2000) g;
CREATE TABLE audited (id int PRIMARY KEY, v int);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, audited_id int, op text);
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit_log (audited_id, op) VALUES (NEW.id, TG_OP); RETURN NEW; END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON audited FOR EACH ROW EXECUTE FUNCTION audit();
INSERT INTO audited SELECT g, 0 FROM generate_series(1, 100) g;
CREATE TABLE scratch (id int PRIMARY KEY, v text);
INSERT INTO scratch SELECT g, 's' FROM generate_series(1, 100) g;
`;

function ownerClient(db: TestDatabase): pg.Client {
  return new pg.Client({ connectionString: db.url.replace(/[?&]sslmode=[^&]*/, ''), ssl: { rejectUnauthorized: false } });
}

/** Deterministic pseudo-random numbers (a failing run can be replayed). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface Writer {
  stop(): Promise<{ transactions: number; errors: string[] }>;
  transactions(): number;
}

/**
 * `clients` connections write in a loop: inserts, updates (also of primary keys and TOASTed values), deletes,
 * duplicates in the key-less table, rows moving between partitions, cascading deletes, audit-trigger writes,
 * an occasional TRUNCATE and a large transaction. Serialization/deadlock errors are retried silently.
 */
export function startWriter(db: TestDatabase, opts: { clients?: number; seed?: number; truncates?: boolean } = {}): Writer {
  let stopping = false;
  let count = 0;
  const errors: string[] = [];
  const loops: Promise<void>[] = [];
  for (let w = 0; w < (opts.clients ?? 2); w++) {
    const rand = rng((opts.seed ?? 7) * 100 + w);
    const int = (n: number) => Math.floor(rand() * n);
    loops.push(
      (async () => {
        const c = ownerClient(db);
        await c.connect();
        try {
          while (!stopping) {
            const step = int(100);
            try {
              await c.query('BEGIN');
              for (let i = 0; i < 1 + int(4); i++) await oneChange(c, int, step, w, opts.truncates ?? true);
              await c.query('COMMIT');
              count++;
            } catch (err) {
              await c.query('ROLLBACK').catch(() => undefined);
              const code = (err as { code?: string }).code;
              if (code !== '40P01' && code !== '23505' && code !== '23503' && code !== '40001') errors.push(`${code}: ${(err as Error).message}`);
            }
          }
        } finally {
          await c.end().catch(() => undefined);
        }
      })(),
    );
  }
  return {
    transactions: () => count,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return { transactions: count, errors };
    },
  };
}

async function oneChange(c: pg.Client, int: (n: number) => number, step: number, w: number, truncates: boolean): Promise<void> {
  const id = 1 + int(4000);
  switch (int(16)) {
    case 0:
      await c.query(`UPDATE accounts SET balance = balance + $2 WHERE id = $1`, [id, int(100) - 50]);
      break;
    case 1: // primary-key update
      await c.query(`UPDATE accounts SET id = id + 100000 * (1 + $2::int) WHERE id = $1`, [id, w]);
      break;
    case 2:
      await c.query(`DELETE FROM accounts WHERE id = $1`, [id]);
      break;
    case 3:
      await c.query(`INSERT INTO accounts VALUES ($1, 1, 'new') ON CONFLICT (id) DO UPDATE SET note = 'upserted'`, [id]);
      break;
    case 4:
      await c.query(`INSERT INTO items (qty, body, f) VALUES ($1::int, repeat(md5($1::int::text), $2::int), $1::int / 7.0)`, [int(1000), 1 + int(600)]);
      break;
    case 5: // TOASTed body left unchanged
      await c.query(`UPDATE items SET qty = qty + 1 WHERE id = $1`, [1 + int(500)]);
      break;
    case 6:
      await c.query(`UPDATE items SET body = body || 'x', at = now() WHERE id = $1`, [1 + int(500)]);
      break;
    case 7:
      await c.query(`DELETE FROM items WHERE id = $1`, [1 + int(500)]);
      break;
    case 8: {
      const p = 1000 + int(100000);
      await c.query(`INSERT INTO parent VALUES ($1, 'p') ON CONFLICT DO NOTHING`, [p]);
      await c.query(`INSERT INTO child VALUES ($1, $2, 1) ON CONFLICT DO NOTHING`, [p, p]);
      break;
    }
    case 9: // cascades to child
      await c.query(`DELETE FROM parent WHERE id = $1`, [1 + int(200)]);
      break;
    case 10: // duplicates in a key-less table
      await c.query(`INSERT INTO bag SELECT $1, 'x1' FROM generate_series(1, 1 + $2::int)`, [int(50), int(3)]);
      await c.query(`DELETE FROM bag WHERE ctid = (SELECT ctid FROM bag WHERE a = $1 LIMIT 1)`, [int(50)]);
      break;
    case 11:
      await c.query(`UPDATE bag SET b = NULL WHERE ctid = (SELECT ctid FROM bag WHERE a = $1 AND b IS NOT NULL LIMIT 1)`, [int(50)]);
      break;
    case 12: // moves between partitions
      await c.query(`UPDATE events SET k = (k + 100) % 200, v = v || '>' WHERE id = $1`, [1 + int(2000)]);
      break;
    case 13:
      if (int(2)) await c.query(`INSERT INTO events_b VALUES ($1, 150, 'direct') ON CONFLICT DO NOTHING`, [3000 + int(5000)]);
      else await c.query(`DELETE FROM events WHERE id = $1`, [1 + int(2000)]);
      break;
    case 14:
      await c.query(`UPDATE audited SET v = v + 1 WHERE id = $1`, [1 + int(100)]);
      break;
    case 15:
      if (truncates && step === 0 && int(8) === 0) await c.query(`TRUNCATE scratch`);
      else if (step === 1 && int(10) === 0) {
        // A large transaction.
        await c.query(`INSERT INTO accounts SELECT g, 2, 'bulk' FROM generate_series($1::int, $1::int + 9999) g ON CONFLICT DO NOTHING`, [
          10_000_000 + int(1000) * 10_000,
        ]);
      } else await c.query(`INSERT INTO scratch VALUES ($1, 'n') ON CONFLICT (id) DO UPDATE SET v = scratch.v || '+'`, [int(300)]);
      break;
  }
}

const DIST = (p: string) => fileURLToPath(new URL(`../../dist/${p}`, import.meta.url));

/**
 * `pgshift replicate --capture triggers` in its own process group (the library entry point, so this works before
 * the CLI flag is merged); prints the summary as JSON on stdout, errors with their hint on stderr.
 */
export function spawnCapture(source: string, target: string, opts: { untilCaughtUp?: boolean; splitBytes?: number; timeoutSeconds?: number } = {}): Running {
  const script = `
    const { parseConnectionUrl } = await import(${JSON.stringify(DIST('src/config.js'))});
    const { replicate } = await import(${JSON.stringify(DIST('src/replicate/index.js'))});
    const { createLogger } = await import(${JSON.stringify(DIST('src/log.js'))});
    const ac = new AbortController();
    process.on('SIGTERM', () => ac.abort());
    process.on('SIGINT', () => ac.abort());
    const logger = createLogger({ level: 'info', pretty: false });
    try {
      const r = await replicate(parseConnectionUrl(process.env.CAP_SRC, 'source'), parseConnectionUrl(process.env.CAP_TGT, 'target'), {
        capture: 'triggers', untilCaughtUp: process.env.CAP_UNTIL === '1', jobs: 2, indexJobs: 1, splitBytes: Number(process.env.CAP_SPLIT),
        timeoutSeconds: process.env.CAP_TIMEOUT ? Number(process.env.CAP_TIMEOUT) : undefined,
        filter: {}, logger, signal: ac.signal, statusIntervalMs: 300, idleMs: 100,
        onStatus: (s) => logger.info(s, 'status'),
      });
      process.stdout.write(JSON.stringify(r) + '\\n');
      process.exit(0);
    } catch (e) {
      process.stderr.write('FAILED: ' + e.message + (e.hint ? ' | hint: ' + e.hint : '') + '\\n');
      process.exit(typeof e.exitCode === 'number' ? e.exitCode : 4);
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: {
      ...process.env,
      CAP_SRC: source,
      CAP_TGT: target,
      CAP_UNTIL: opts.untilCaughtUp ? '1' : '0',
      CAP_SPLIT: String(opts.splitBytes ?? 512 * 1024 * 1024),
      CAP_TIMEOUT: opts.timeoutSeconds === undefined ? '' : String(opts.timeoutSeconds),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let done = false;
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  return { child, output: () => out, exit, exited: () => done };
}

/** SIGKILL the whole process group, as losing the machine would. */
export async function killHard(run: Running): Promise<void> {
  try {
    process.kill(-run.child.pid!, 'SIGKILL');
  } catch {
    /* already gone */
  }
  await run.exit;
}

/** The capture state on the target (null before it exists). */
export async function captureState(tgt: TestDatabase): Promise<{ installed: boolean; copySnapshot: string | null; copyDone: boolean; batches: number } | null> {
  const { rows: t } = await tgt.admin(`SELECT to_regclass('pgshift.capture') IS NOT NULL AS ok`);
  if (!t[0].ok) return null;
  const { rows } = await tgt.admin(
    `SELECT installed_at IS NOT NULL AS installed, copy_snapshot, copy_done_at IS NOT NULL AS copy_done, applied_batches::int AS batches FROM pgshift.capture`,
  );
  const r = rows[0];
  return r ? { installed: r.installed, copySnapshot: r.copy_snapshot, copyDone: r.copy_done, batches: r.batches } : null;
}

/** Capture objects left on a database: triggers, functions in _pgshift, the schema itself. */
export async function captureLeftovers(db: TestDatabase): Promise<{ triggers: number; functions: number; schemas: number }> {
  const { rows } = await db.admin(`SELECT
      (SELECT count(*)::int FROM pg_trigger WHERE tgname LIKE '\\_pgshift%') AS triggers,
      (SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = '_pgshift') AS functions,
      (SELECT count(*)::int FROM pg_namespace WHERE nspname = '_pgshift') AS schemas`);
  return rows[0];
}

/** Differences that are the capture itself (on the source only while it is installed). */
export const isCaptureObject = (d: { object: string }): boolean => d.object.includes('_pgshift');

/** One `replicate --capture triggers --until-caught-up` run that must exit 0; its JSON summary. */
export async function captureUntilCaughtUp(source: string, target: string): Promise<any> {
  const run = spawnCapture(source, target, { untilCaughtUp: true });
  const r = await run.exit;
  if (r.code !== 0) throw new Error(`replicate --capture triggers exited ${r.code}:\n${run.output()}`);
  const line = run
    .output()
    .split('\n')
    .find((l) => l.startsWith('{"ok"'));
  return JSON.parse(line!);
}
