// The one sleep. An abort of `signal` ends the wait at once; no timer or listener outlives the wait (a loop that
// sleeps thousands of times on one run's signal must not pile listeners on it).

/**
 * Wait `ms` milliseconds, or until `signal` aborts: then resolve (the caller's loop checks `signal.aborted`), or
 * reject with the signal's reason when `rejectOnAbort` is set (a measurement that must not go on).
 */
export function sleep(ms: number, signal?: AbortSignal, opts: { rejectOnAbort?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const end = () => (opts.rejectOnAbort ? reject(signal!.reason) : resolve());
    if (signal?.aborted) return end();
    const onAbort = () => {
      clearTimeout(t);
      end();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
