// The one sleep (src/sleep.ts): an abort ends it at once, and no listener stays on the run's signal afterwards
// (the applier's former sleep added one per wait and never removed it: a long run piled them up).
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { sleep } from '../../src/sleep.js';

describe('sleep', () => {
  it('leaves no abort listener on the signal after the waits it ended by time', async () => {
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) await sleep(1, ac.signal);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('an abort ends a long wait at once: resolved by default, rejected with the reason when asked', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const waits = [sleep(60_000, ac.signal), sleep(60_000, ac.signal, { rejectOnAbort: true })];
    ac.abort(new Error('stop'));
    await expect(waits[0]).resolves.toBeUndefined();
    await expect(waits[1]).rejects.toThrow('stop');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('an already aborted signal does not wait', async () => {
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(sleep(60_000, ac.signal)).resolves.toBeUndefined();
    await expect(sleep(60_000, ac.signal, { rejectOnAbort: true })).rejects.toThrow('gone');
  });
});
