// The fault table: what to break, when, and how the run must end. One row per fault; the suite runs each row
// against each command that lists it. replicate and trigger capture join by adding a COMMANDS entry (how to
// start, how to recover) and listing the faults that apply to them.
import type { LocalCluster } from '../support/cluster.js';
import type { TestDatabase } from '../support/fixtures.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import { terminatePgshiftBackends, type RunningCli } from './harness.js';

export type Side = 'source' | 'target';

export interface Endpoint {
  cluster: LocalCluster;
  db: TestDatabase;
  /** Set when the scenario routes this side through a proxy. */
  proxy?: TcpProxy;
}

export interface FaultContext {
  run: RunningCli;
  rand: () => number;
  source: Endpoint;
  target: Endpoint;
}

export interface Scenario {
  name: string;
  /** Route one side's connections through a TCP proxy the fault can cut ('either': chosen by the PRNG). */
  proxy?: Side | 'either';
  /** Where the fault may land, as fractions of an undisturbed run's duration (default: almost anywhere). */
  window?: [number, number];
  /** A signal to pgshift itself: the run must end within SIGNAL_EXIT_MS with this exit code. */
  signal?: { name: 'SIGINT' | 'SIGTERM'; exitCode: number };
  /** Break something now; returns what was done, for the log. */
  inject(ctx: FaultContext): Promise<string>;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'kill -9 of pgshift',
    async inject({ run }) {
      run.child.kill('SIGKILL');
      return 'SIGKILL';
    },
  },
  {
    name: 'Ctrl-C (SIGINT)',
    signal: { name: 'SIGINT', exitCode: 130 },
    // Mid-run, where a signal must roll back COPYs, close connections and still end at once.
    window: [0.2, 0.8],
    async inject({ run }) {
      run.child.kill('SIGINT');
      return 'SIGINT';
    },
  },
  {
    name: 'SIGTERM',
    signal: { name: 'SIGTERM', exitCode: 143 },
    // Mid-run, where a signal must roll back COPYs, close connections and still end at once.
    window: [0.2, 0.8],
    async inject({ run }) {
      run.child.kill('SIGTERM');
      return 'SIGTERM';
    },
  },
  {
    name: 'pgshift backends terminated on the source',
    async inject({ source }) {
      return `${await terminatePgshiftBackends(source.cluster.adminUrl, source.db.database)} source backend(s) terminated`;
    },
  },
  {
    name: 'pgshift backends terminated on the target',
    async inject({ target }) {
      return `${await terminatePgshiftBackends(target.cluster.adminUrl, target.db.database)} target backend(s) terminated`;
    },
  },
  {
    name: 'target server restarted',
    async inject(ctx) {
      const mode = ctx.rand() < 0.5 ? 'fast' : 'immediate';
      await ctx.target.cluster.restart(mode);
      return `target restarted (${mode} shutdown)`;
    },
  },
  {
    name: 'TCP connections dropped',
    proxy: 'either',
    async inject(ctx) {
      const which = ctx.source.proxy ? 'source' : 'target';
      const proxy = (ctx.source.proxy ?? ctx.target.proxy)!;
      return `${proxy.dropAll()} ${which} connection(s) dropped`;
    },
  },
];

export interface Command {
  /** The run a fault interrupts. */
  args(source: string, target: string): string[];
  /**
   * The documented recovery after a failed or interrupted run: the arguments of the next attempt, given the last
   * result (stderr says what to do).
   */
  recover(source: string, target: string, last: { code: number | null; stderr: string }): string[];
}

// Small chunks and two pipelines, so a fault lands among many chunk transactions and index builds.
const COPY_ARGS = ['--jobs', '2', '--index-jobs', '1', '--split-larger-than', '1MB'];

export const COMMANDS: Record<string, Command> = {
  copy: {
    args: (s, t) => ['copy', '--source', s, '--target', t, ...COPY_ARGS],
    // Follow pgshift's own "next:" line: --resume when it says so, the same command again when nothing was written.
    // With no message (kill -9) try --resume; pgshift answers "no pgshift copy to resume" when there is none.
    recover: (s, t, last) => {
      const next = /^\s*next: (.*)$/m.exec(last.stderr)?.[1] ?? '';
      const fresh = /no pgshift copy to resume/.test(last.stderr) || (!/--resume/.test(next) && /run the same command/.test(next));
      return ['copy', '--source', s, '--target', t, ...COPY_ARGS, ...(fresh ? [] : ['--resume'])];
    },
  },
};
