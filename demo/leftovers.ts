// The demo's summary line for the estimate, and what the demo leaves on the machine: by default nothing. Its data folders go with the servers
// (bench/servers.ts); the copies of the server binaries it made under $TMPDIR/pgshift-pg-* (made when the
// `postgres` OS user cannot reach node_modules, about 120 MB) are removed too — only those this run created, and
// never one another process is running from (the test suite shares them). --keep or PGSHIFT_DEMO_KEEP=1 keeps all.
import { existsSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const keepRequested = (argv = process.argv, env = process.env): boolean => argv.includes('--keep') || env.PGSHIFT_DEMO_KEEP === '1';

/** The binary copies present now (complete or partial). */
export function binaryCopies(dir = tmpdir()): Set<string> {
  if (!existsSync(dir)) return new Set();
  return new Set(
    readdirSync(dir)
      .filter((n) => n.startsWith('pgshift-pg-'))
      .map((n) => join(dir, n)),
  );
}

/** Processes other than this one whose executable lives under `dir` (Linux /proc; none found elsewhere). */
function usersOf(dir: string): number[] {
  if (!existsSync('/proc')) return [];
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${p}/exe`).startsWith(`${dir}/`)) pids.push(Number(p));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return pids;
}

/** Remove the copies made since `before`; says what it removed and what it left (and why). */
export function removeNewBinaryCopies(before: Set<string>, say: (line: string) => void, dir = tmpdir()): string[] {
  const removed: string[] = [];
  for (const d of binaryCopies(dir)) {
    if (before.has(d)) continue;
    const busy = usersOf(d);
    if (busy.length) {
      say(`kept ${d}: process(es) ${busy.join(', ')} run from it`);
      continue;
    }
    rmSync(d, { recursive: true, force: true });
    removed.push(d);
  }
  if (removed.length) say(`removed the server binaries copied for this demo: ${removed.join(', ')}`);
  return removed;
}

/** "predicted 2.4 s, took 3.8 s: 37 % under" — what the estimate said against what happened. */
export function estimateLine(predicted: number, actual: number): string {
  const err = Math.round(((predicted - actual) / actual) * 100);
  const s = (x: number) => `${x.toFixed(1)} s`;
  return `predicted ${s(predicted)}, took ${s(actual)}: ${err === 0 ? 'spot on' : `${Math.abs(err)} % ${err < 0 ? 'under' : 'over'}`}`;
}
