// The machine's state around each estimate and copy of the estimate benchmark: was the copy slow because the
// machine was? A fixed CPU task timed (the same work every time: its milliseconds are the machine's speed at that
// moment) and /proc/stat over the step (the share of the two cores that was busy, waiting for the disk, or stolen
// by the hypervisor). Read-only and about 0.1 s of CPU per reading: on a quiet machine identical copies of the
// dominant shape took 4.3–8.6 s with every phase slower together, and the load average did not show why.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

interface CpuTicks {
  busy: number;
  iowait: number;
  steal: number;
  total: number;
}

function ticks(): CpuTicks | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
    const busy = user! + nice! + system! + irq! + softirq!;
    return { busy, iowait: iowait!, steal: steal!, total: busy + idle! + iowait! + steal! };
  } catch {
    return undefined;
  }
}

const buffer = Buffer.alloc(256 * 1024, 7);

/** Milliseconds of a fixed task (64 SHA-256 passes over 256 kB), median of 5: lower is a faster machine. */
export function cpuTaskMs(): number {
  const xs: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 64; i++) createHash('sha256').update(buffer).digest();
    xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return xs.sort((a, b) => a - b)[2]!;
}

export interface MachineShare {
  /** Share of all cores' time over the step: busy (any process), waiting for I/O, stolen by the hypervisor. */
  busy: number;
  iowait: number;
  steal: number;
}

/** Start watching; the returned function gives the shares since then. */
export function watchMachine(): () => MachineShare | undefined {
  const a = ticks();
  return () => {
    const b = ticks();
    if (!a || !b || b.total <= a.total) return undefined;
    const d = b.total - a.total;
    const r = (x: number) => Math.round(x * 1000) / 1000;
    return { busy: r((b.busy - a.busy) / d), iowait: r((b.iowait - a.iowait) / d), steal: r((b.steal - a.steal) / d) };
  };
}
