// Several small tables' COPYs in one source round trip (issue #30): one simple query on the source, one COPY
// each on the target, each committed with its done mark before the next opens.
import type { Client } from '../db/connect.js';
import { abortReason, CopyOutRelay, type RelayOptions, type RelayResult, type RelaySegment } from './relay.js';
import { CopyInSink, deferred } from './relay-sink.js';

export interface BatchItem {
  /** COPY … TO STDOUT on the source (no trailing semicolon). */
  sourceSql: string;
  /** COPY … FROM STDIN on the target, possibly preceded by other statements (as relayCopy's targetSql). */
  targetSql: string;
}

/**
 * Several COPYs in ONE source round trip: the source runs `COPY a TO STDOUT; COPY b TO STDOUT; …` as one simple
 * query and streams each COPY's data in turn; each goes into its own COPY on the target. Between two of them the
 * source is held while `committed(i, …)` finishes item i's target transaction (its rows and done mark commit
 * together, as for a single chunk) and the next target COPY opens. On an error, the items already committed
 * stay; `current()` names the item that failed; the target is left ready for the caller's ROLLBACK.
 */
export async function relayCopyBatch(
  src: Client,
  tgt: Client,
  items: BatchItem[],
  committed: (index: number, result: RelayResult) => Promise<void>,
  opts: RelayOptions = {},
): Promise<RelayResult[]> {
  const { signal } = opts;
  if (signal?.aborted) throw abortReason(signal);
  const results: RelayResult[] = [];
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  const early = deferred();
  // A target COPY that ends before the relay ended it would mean rows went missing: never silently.
  const open = async (i: number): Promise<CopyInSink> => {
    const s = new CopyInSink(items[i]!.targetSql);
    s.done.then(
      () => (s.endRequested ? undefined : early.reject(new Error('internal: the target ended its COPY before the source finished'))),
      () => undefined,
    );
    void tgt.query(s as never);
    try {
      await Promise.race([s.ready, aborted]);
    } catch (err) {
      // Stopped before it opened: roll it back once the target answers, so the connection is usable again.
      await s.fail(err instanceof Error ? err.message : String(err));
      throw err;
    }
    return s;
  };
  const finish = async (s: CopyInSink, i: number, segment: RelaySegment) => {
    s.end();
    await Promise.race([s.done, aborted]);
    const r = { ...segment, rows: s.rowCount };
    results.push(r);
    await committed(i, r);
  };
  let sink = await open(0).catch(async (err: unknown) => {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    throw err;
  });
  let relay: CopyOutRelay | undefined;
  let switching: Promise<unknown> | undefined;
  try {
    relay = new CopyOutRelay(items.map((x) => x.sourceSql).join('; '), sink, opts.onBytes, {
      copies: items.length,
      next: (i, segment) => {
        const step = (async () => {
          await finish(sink, i, segment);
          sink = await open(i + 1);
          return sink;
        })();
        switching = step;
        return step;
      },
    });
    void src.query(relay as never);
    await Promise.race([relay.done, early.promise, aborted]);
    await finish(sink, items.length - 1, relay.lastSegment());
    return results;
  } catch (err) {
    const pad = relay?.stop();
    // A switch under way ends first (its next COPY opened, or failed): then the COPY open now is rolled back.
    await switching?.catch(() => undefined);
    await sink.fail(err instanceof Error ? err.message : String(err), pad);
    throw err;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
