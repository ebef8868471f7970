// The schema dump (pg_dump under the copy's snapshot) started as soon as pg_dump is chosen, so it runs beside the
// plan's catalog reads, the sequence reads and the creation of the target's state instead of after them: on a
// quiet 2-core machine those took ~0.1 s of a 3.4 s copy's start, in series with pg_dump's ~0.2 s (issue #28).
// Only a fresh copy that leaves no table out starts it early: the dump must exclude what the plan excludes, and
// a resumed copy takes its dump from the target's state.
import type { ConnectionSpec } from '../config.js';
import type { Logger } from '../log.js';
import { dumpSchema } from '../schema/dump.js';
import type { PgTools } from '../schema/pgdump.js';

export interface EarlyDump {
  /** The dump's bytes (its failure, if it failed). */
  take(): Promise<Buffer>;
  /** Stop pg_dump if it still runs and wait until it has ended; idempotent, never throws. */
  cancel(): Promise<void>;
}

export function startSchemaDump(tools: PgTools, source: ConnectionSpec, snapshotId: string, signal: AbortSignal, logger: Logger): EarlyDump {
  const t0 = Date.now();
  const stop = new AbortController();
  const follow = () => stop.abort(signal.reason);
  if (signal.aborted) follow();
  else signal.addEventListener('abort', follow, { once: true });
  const bytes = dumpSchema(tools, source, { snapshot: snapshotId, signal: stop.signal });
  // Handled here, so a dump that fails while the plan is still being made is never an unhandled rejection: the
  // failure reaches the user when the copy takes the dump, or not at all when an earlier step failed first.
  const ended = bytes.then(
    (b) => logger.debug({ bytes: b.length, seconds: (Date.now() - t0) / 1000 }, 'schema dump: done, beside the plan'),
    () => undefined,
  );
  void ended.finally(() => signal.removeEventListener('abort', follow));
  return {
    take: () => bytes,
    cancel: async () => {
      stop.abort(new Error('schema dump no longer needed'));
      await ended;
    },
  };
}

/**
 * True when the copy may start its schema dump before planning: a fresh run without --include/--exclude, and a
 * source connection budget (--jobs, checked in preflight) of two or more, since pg_dump's connection is then open
 * beside the one that reads the sequences.
 */
export function mayDumpEarly(resume: boolean, filter: { include?: string[]; exclude?: string[] }, jobs: number): boolean {
  return !resume && jobs >= 2 && !filter.include?.length && !filter.exclude?.length;
}
