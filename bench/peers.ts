// The tools pgshift is measured against. Each peer copies the whole source database into a fresh, empty
// target database. All peers get the same superuser URLs (pgcopydb needs more than a database owner on the
// source), the same parallelism (2, the core count here), and no compression (-Z0): on 2 cores, gzip
// would measure the compressor, not the copy.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { quoteLiteral } from '../src/db/ident.js';
import { runFloor } from './floor.js';
import { limited, runOne, runPipe, show, Usage, type Cmd } from './proc.js';

export interface PeerContext {
  /** URL of the source database: superuser, or the owner over TLS (--source-tls-owner); through the proxy with --rtt. */
  source: string;
  /** URL of the (empty) target database: superuser, or its non-superuser owner (--target-nonsuper). */
  target: string;
  /** Superuser URLs of both databases, direct (the floor's server-side COPY to a FIFO needs them). */
  sourceAdmin: string;
  targetAdmin: string;
  pgDump: string;
  pgRestore: string;
  psql: string;
  /** Parallelism every peer gets. */
  jobs: number;
  /** Scratch folder for this peer (dump directories, pgcopydb work dir). */
  workDir: string;
  logFile: string;
  /** Source tables (format('%I.%I')), largest first, and sequence values, for the psql peer. */
  tables: string[];
  sequences: Array<{ name: string; lastValue: string | null; isCalled: boolean }>;
  /** bin/pgshift.js */
  pgshiftBin: string;
  /** Extra `pgshift copy` arguments (bench --pgshift-args). */
  pgshiftArgs: string[];
  /** Folder both servers can read and write (the floor's FIFOs). */
  sharedDir: string;
}

export interface PeerRun {
  seconds: number;
  peakRssBytes?: number;
  /** User + system CPU seconds of every client process the peer ran. */
  cpuSeconds?: number;
  /** What pgshift reported about itself (--json), when it is the peer. */
  reported?: unknown;
}

export interface Peer {
  id: string;
  label: string;
  /** The command(s) as a user would type them, with $SOURCE/$TARGET placeholders. */
  command: string;
  /** A reason to skip this peer on this machine, or undefined. */
  unavailable(ctx: { pgshiftCommands: string[]; have: (bin: string) => boolean }): string | undefined;
  run(ctx: PeerContext): Promise<PeerRun>;
}

const psqlArgs = (url: string, ...rest: string[]) => ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, ...rest];

export const PEERS: Peer[] = [
  {
    id: 'pgshift',
    label: 'pgshift copy',
    command: 'pgshift copy --source $SOURCE --target $TARGET --jobs 2 --index-jobs 2 --json',
    unavailable: ({ pgshiftCommands }) =>
      pgshiftCommands.includes('copy') ? undefined : '`pgshift copy` is not registered in this build yet (see `pgshift --help`)',
    async run(ctx) {
      const cmd: Cmd = {
        bin: process.execPath,
        args: [
          ctx.pgshiftBin,
          'copy',
          '--source',
          ctx.source,
          '--target',
          ctx.target,
          '--jobs',
          String(ctx.jobs),
          '--index-jobs',
          String(ctx.jobs),
          '--json',
          ...ctx.pgshiftArgs,
        ],
      };
      const r = await runOne(cmd, { logFile: ctx.logFile });
      let reported: unknown;
      try {
        reported = JSON.parse(r.stdout);
      } catch {
        throw new Error(`pgshift copy printed no JSON document on stdout (see ${ctx.logFile})`);
      }
      if ((reported as { ok?: unknown }).ok === false) throw new Error(`pgshift copy reported ok=false (see ${ctx.logFile})`);
      return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakRssBytes: r.peakRssBytes, reported };
    },
  },
  {
    id: 'pg_dump_pipe',
    label: 'pg_dump -Fc | pg_restore',
    command: 'pg_dump -Fc -Z0 -d $SOURCE | pg_restore --no-owner --no-privileges -d $TARGET',
    unavailable: () => undefined,
    async run(ctx) {
      // Streamed: pg_restore reads the archive from stdin, so it cannot restore in parallel (-j needs a file).
      const r = await runPipe(
        { bin: ctx.pgDump, args: ['-Fc', '-Z0', '-d', ctx.source] },
        { bin: ctx.pgRestore, args: ['--no-owner', '--no-privileges', '--exit-on-error', '-d', ctx.target] },
        { logFile: ctx.logFile },
      );
      return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakRssBytes: r.peakRssBytes };
    },
  },
  {
    id: 'pg_dump_dir',
    label: 'pg_dump -Fd -j 2 + pg_restore -j 2',
    command: 'pg_dump -Fd -Z0 -j 2 -f DIR -d $SOURCE && pg_restore -j 2 --no-owner --no-privileges -d $TARGET DIR',
    unavailable: () => undefined,
    async run(ctx) {
      // The dump directory is part of the measured time: it is what users wait for.
      const dir = join(ctx.workDir, 'dump');
      const started = process.hrtime.bigint();
      const usage = new Usage();
      await runOne({ bin: ctx.pgDump, args: ['-Fd', '-Z0', '-j', String(ctx.jobs), '-f', dir, '-d', ctx.source] }, { logFile: ctx.logFile, usage });
      await runOne(
        { bin: ctx.pgRestore, args: ['-j', String(ctx.jobs), '--no-owner', '--no-privileges', '--exit-on-error', '-d', ctx.target, dir] },
        { logFile: ctx.logFile, usage },
      );
      return { seconds: Number(process.hrtime.bigint() - started) / 1e9, ...usage.result };
    },
  },
  {
    id: 'psql_copy',
    label: 'psql COPY pipes',
    command:
      'pg_dump -s --section=pre-data | psql; per table, 2 at a time: psql -c "COPY t TO STDOUT" | psql -c "COPY t FROM STDIN"; setval per sequence; pg_dump -s --section=post-data | psql',
    unavailable: () => undefined,
    async run(ctx) {
      const started = process.hrtime.bigint();
      const usage = new Usage();
      const schema = (section: string) =>
        runPipe(
          { bin: ctx.pgDump, args: ['--schema-only', `--section=${section}`, '--no-owner', '--no-privileges', '-d', ctx.source] },
          { bin: ctx.psql, args: psqlArgs(ctx.target, '--single-transaction') },
          { logFile: ctx.logFile, usage },
        );
      await schema('pre-data');
      await limited(ctx.jobs, ctx.tables, async (t) => {
        await runPipe(
          { bin: ctx.psql, args: psqlArgs(ctx.source, '-c', `COPY ${t} TO STDOUT`) },
          { bin: ctx.psql, args: psqlArgs(ctx.target, '-c', `COPY ${t} FROM STDIN`) },
          { logFile: ctx.logFile, usage },
        );
      });
      // pg_dump puts sequence values in the data section, which this peer replaces with COPY.
      const setvals = ctx.sequences
        .filter((s) => s.lastValue !== null)
        .map((s) => `SELECT setval(${quoteLiteral(s.name)}, ${BigInt(s.lastValue!)}, ${s.isCalled});`);
      if (setvals.length) await runOne({ bin: ctx.psql, args: psqlArgs(ctx.target, '-c', setvals.join(' ')) }, { logFile: ctx.logFile, usage });
      await schema('post-data');
      return { seconds: Number(process.hrtime.bigint() - started) / 1e9, ...usage.result };
    },
  },
  {
    id: 'pgcopydb',
    label: 'pgcopydb clone',
    command: 'pgcopydb clone --source $SOURCE --target $TARGET --table-jobs 2 --index-jobs 2 --no-owner --no-acl',
    unavailable: ({ have }) => (have('pgcopydb') ? undefined : 'pgcopydb is not installed (Debian/Ubuntu: apt-get install pgcopydb); skipped'),
    async run(ctx) {
      const dir = join(ctx.workDir, 'pgcopydb');
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
      const r = await runOne(
        {
          bin: 'pgcopydb',
          args: [
            'clone',
            '--source',
            ctx.source,
            '--target',
            ctx.target,
            '--table-jobs',
            String(ctx.jobs),
            '--index-jobs',
            String(ctx.jobs),
            '--no-owner',
            '--no-acl',
            '--dir',
            dir,
          ],
        },
        // pgcopydb finds pg_dump/pg_restore on PATH: put the ones every other peer uses first.
        { logFile: ctx.logFile, env: { ...process.env, PATH: `${ctx.pgDump.replace(/\/pg_dump$/, '')}:${process.env.PATH ?? ''}` } },
      );
      return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakRssBytes: r.peakRssBytes };
    },
  },
  {
    id: 'floor',
    label: 'floor: server-side COPY, no client',
    command:
      "pg_dump -s --section=pre-data | psql; per chunk, 2 at a time: source COPY … TO '/fifo' ∥ target COPY … FROM '/fifo' (superuser, FREEZE after TRUNCATE for whole tables); the same index, key and FK builds on 2 connections as each table is in; setval; ANALYZE",
    unavailable: () => undefined,
    // Server-side COPY to a file needs superuser (or pg_write_server_files) on both sides: always the admin URLs.
    run: (ctx) => runFloor({ ...ctx, source: ctx.sourceAdmin, target: ctx.targetAdmin }),
  },
];

export { show };
