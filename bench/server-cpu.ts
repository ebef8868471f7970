// CPU time of a whole PostgreSQL server (every process of it) from /proc, for the replication bench: what the
// walsender, the target's backends and the background processes spent during one drain, so a subscriber's
// total CPU per change (client + both servers) can be set beside native's. The postmaster's own time plus what
// its children that already ended spent (cutime/cstime: reaped by the postmaster) plus its live children's.
// Linux only (undefined elsewhere); resolution one clock tick (10 ms).
import { readdirSync, readFileSync } from 'node:fs';
import { sql } from './servers.js';

const TICKS_PER_SECOND = 100;
const postmasters = new Map<string, number>();

/** Fields of /proc/<pid>/stat from the 3rd (state) on; the command name may contain spaces and parentheses. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Seconds of CPU the server of `adminUrl` has used so far (all its processes, ended ones included). */
export async function serverCpuSeconds(adminUrl: string): Promise<number | undefined> {
  if (process.platform !== 'linux') return undefined;
  const host = new URL(adminUrl).port;
  let pm = postmasters.get(host);
  if (pm === undefined) {
    // The postmaster's pid from its pid file (superuser): a bench connection's backend is gone once it closes.
    const [r] = await sql<{ pid: number }>(adminUrl, `SELECT split_part(pg_read_file('postmaster.pid'), E'\\n', 1)::int AS pid`);
    pm = r!.pid;
    postmasters.set(host, pm);
  }
  const own = statFields(pm);
  if (!own) return undefined;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) > 57) continue; // not a pid
    const f = statFields(d);
    if (f && Number(f[1]) === pm) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / TICKS_PER_SECOND;
}
