// When each post-data build may start: an index as soon as its table's data is in; a foreign key once all data
// is in and the referenced table's keys are built; an ANALYZE (--analyze overlap) once its table's data and
// every index on it are in. Pure bookkeeping, no I/O.

import { tableKey } from '../catalog/table-id.js';

/** tableKey of the table a job builds on. */
export const ownerKey = (j: { schema: string; table: string }) => tableKey({ schema: j.schema, name: j.table });

export interface BuildJob {
  kind: 'index' | 'foreign key' | 'analyze';
  schema: string;
  table: string;
  name: string;
  /** Key recorded in the target state when done. */
  stateName: string;
  statements: string[];
  /** Tables (tableKey) whose data must be in. */
  needsData: string[];
  /** Tables whose keys (primary key, unique constraints and indexes) must be built: a foreign key needs them. */
  needsKeys: string[];
  /** An index that can back a foreign key (primary key, unique). */
  isKey?: boolean;
  /** Tables every index of which must be built first (ANALYZE: statistics of expression indexes, no lock waits). */
  needsIndexes?: string[];
}

/** A closable work queue shared by builders: take() resolves undefined once closed and drained. */
export class Queue<T> {
  private items: T[] = [];
  private waiters: ((v: T | undefined) => void)[] = [];
  private closed = false;
  push(item: T): void {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(undefined);
  }
  /** Items ready to be taken now. */
  get size(): number {
    return this.items.length;
  }
  take(): Promise<T | undefined> {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export class BuildScheduler {
  readonly queue = new Queue<BuildJob>();
  private readonly loaded = new Set<string>();
  private readonly keysLeft = new Map<string, number>();
  private readonly indexesLeft = new Map<string, number>();
  /** Tables with a foreign-key validation or an ANALYZE handed out and not done: the two lock each other out. */
  private readonly busy = new Map<string, number>();
  /** Jobs handed out (queued or running) and not done yet. */
  private outstanding = 0;
  private waiting: BuildJob[];
  private dataDone = false;

  constructor(jobs: BuildJob[], loadedAtStart: Iterable<string>) {
    for (const j of jobs) {
      if (j.isKey) this.keysLeft.set(ownerKey(j), (this.keysLeft.get(ownerKey(j)) ?? 0) + 1);
      if (j.kind === 'index') this.indexesLeft.set(ownerKey(j), (this.indexesLeft.get(ownerKey(j)) ?? 0) + 1);
    }
    for (const k of loadedAtStart) this.loaded.add(k);
    this.waiting = [...jobs];
    this.release();
  }

  tableLoaded(key: string): void {
    this.loaded.add(key);
    this.release();
  }

  jobDone(job: BuildJob): void {
    this.outstanding--;
    if (job.isKey) {
      const key = ownerKey(job);
      this.keysLeft.set(key, (this.keysLeft.get(key) ?? 1) - 1);
    }
    if (job.kind === 'index') this.indexesLeft.set(ownerKey(job), (this.indexesLeft.get(ownerKey(job)) ?? 1) - 1);
    if (job.kind !== 'index') for (const k of job.needsData) this.busy.set(k, (this.busy.get(k) ?? 1) - 1);
    this.release();
  }

  /** All data is in: whatever still waits only waits for builds, and the queue closes once nothing waits. */
  allLoaded(): void {
    this.dataDone = true;
    this.release();
  }

  /** Stop handing out work (a failure or Ctrl-C). */
  abort(): void {
    this.waiting = [];
    this.queue.close();
  }

  private ready(j: BuildJob): boolean {
    // Foreign keys wait for all data: validating one reads both tables whole, and on a busy machine that only
    // slows the COPYs still running; once they are done, keys are validated in parallel with the last indexes.
    if (j.kind === 'foreign key' && !this.dataDone) return false;
    // A foreign key's validation and an ANALYZE exclude each other on a table (SHARE ROW EXCLUSIVE against
    // SHARE UPDATE EXCLUSIVE): one at a time per table, so no builder sits waiting for a lock.
    if (j.kind !== 'index' && j.needsData.some((k) => (this.busy.get(k) ?? 0) > 0)) return false;
    return (
      j.needsData.every((k) => this.loaded.has(k)) &&
      j.needsKeys.every((k) => (this.keysLeft.get(k) ?? 0) === 0) &&
      (j.needsIndexes ?? []).every((k) => (this.indexesLeft.get(k) ?? 0) === 0)
    );
  }

  private release(): void {
    const still: BuildJob[] = [];
    for (const j of this.waiting) {
      if (!this.ready(j)) {
        still.push(j);
        continue;
      }
      if (j.kind !== 'index') for (const k of j.needsData) this.busy.set(k, (this.busy.get(k) ?? 0) + 1);
      this.outstanding++;
      this.queue.push(j);
    }
    this.waiting = still;
    if (this.dataDone && this.waiting.length === 0) this.queue.close();
    // Data is in, nothing is running, and a job still waits on a build that cannot come (not ours to build):
    // run it anyway.
    if (this.dataDone && this.waiting.length > 0 && this.outstanding === 0) {
      for (const j of this.waiting.splice(0)) {
        this.outstanding++;
        this.queue.push(j);
      }
      this.queue.close();
    }
  }
}
