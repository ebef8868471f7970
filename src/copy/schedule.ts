// When each post-data build may start: an index as soon as its table's data is in; a key's ALTER TABLE once
// every CREATE INDEX on its table is done; a foreign key once all data is in and the referenced table's keys are
// built (its VALIDATE once it is added); an ANALYZE (--analyze overlap) once its table's data and every index on
// it are in. Pure bookkeeping, no I/O.

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
  /** The ALTER TABLE half of a key (ADD CONSTRAINT … USING INDEX, REPLICA IDENTITY, CLUSTER ON): it waits until
   * every CREATE INDEX on its table is done, since its lock conflicts with theirs (builds.ts). */
  attach?: boolean;
  /** A job also counts as done when this state name is recorded (the first half of a split job: see builds.ts). */
  doneWith?: string;
  /** The VALIDATE CONSTRAINT half of a foreign key: it locks only the referencing table against the others. */
  validate?: boolean;
  /** State name of a job of the plan in the same schema that must be done first (when it is not in this run's plan,
   * it was). State names are unique per schema only, as the state records them. */
  after?: string;
  /** Tables every index of which must be built first (ANALYZE: statistics of expression indexes, no lock waits). */
  needsIndexes?: string[];
}

/** A job's state name is unique within its schema (pgshift.copy_index keys on both). */
const stateKey = (schema: string, stateName: string) => tableKey({ schema, name: stateName });

/** The second half of a split job (a key's ALTER TABLE, a foreign key's VALIDATE): no object of its own to count. */
export const secondHalf = (j: BuildJob) => j.attach === true || j.validate === true;

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

/**
 * Each waiting job is filed under the one condition that holds it back ("loaded:<table>", "keys:<table>", …) and
 * looked at again only when that condition changes, so an event costs the jobs waiting on it, not every job
 * still waiting (quadratic at thousands of tables). Jobs released together go out in plan order.
 */
export class BuildScheduler {
  readonly queue = new Queue<BuildJob>();
  private readonly loaded = new Set<string>();
  private readonly keysLeft = new Map<string, number>();
  private readonly indexesLeft = new Map<string, number>();
  /** CREATE INDEX jobs left per table (the index jobs without `attach`): a key's ALTER TABLE waits for them. */
  private readonly createsLeft = new Map<string, number>();
  /** Tables with a foreign-key validation, an ANALYZE or a key's ALTER TABLE handed out and not done (lockedTables). */
  private readonly busy = new Map<string, number>();
  /** Jobs handed out (queued or running) and not done yet. */
  private outstanding = 0;
  /** Plan order → job, while it waits. */
  private readonly waiting = new Map<number, BuildJob>();
  /** Condition → plan positions of the jobs it holds back. */
  private readonly watch = new Map<string, number[]>();
  /** Jobs not done yet by stateKey (what `after` waits for). */
  private readonly pending = new Set<string>();
  private dataDone = false;
  private closed = false;

  constructor(jobs: BuildJob[], loadedAtStart: Iterable<string>) {
    for (const j of jobs) {
      this.pending.add(stateKey(j.schema, j.stateName));
      if (j.isKey) this.keysLeft.set(ownerKey(j), (this.keysLeft.get(ownerKey(j)) ?? 0) + 1);
      if (j.kind === 'index') this.indexesLeft.set(ownerKey(j), (this.indexesLeft.get(ownerKey(j)) ?? 0) + 1);
      if (j.kind === 'index' && !j.attach) this.createsLeft.set(ownerKey(j), (this.createsLeft.get(ownerKey(j)) ?? 0) + 1);
    }
    for (const k of loadedAtStart) this.loaded.add(k);
    jobs.forEach((j, i) => this.waiting.set(i, j));
    this.recheck([...this.waiting.keys()]);
  }

  tableLoaded(key: string): void {
    this.loaded.add(key);
    this.wake(`loaded:${key}`);
  }

  jobDone(job: BuildJob): void {
    this.outstanding--;
    const owner = ownerKey(job);
    const done = stateKey(job.schema, job.stateName);
    const woken: string[] = [`done:${done}`];
    this.pending.delete(done);
    if (job.isKey) {
      const left = (this.keysLeft.get(owner) ?? 1) - 1;
      this.keysLeft.set(owner, left);
      if (left <= 0) woken.push(`keys:${owner}`);
    }
    if (job.kind === 'index') {
      const left = (this.indexesLeft.get(owner) ?? 1) - 1;
      this.indexesLeft.set(owner, left);
      if (left <= 0) woken.push(`indexes:${owner}`);
    }
    if (job.kind === 'index' && !job.attach) {
      const left = (this.createsLeft.get(owner) ?? 1) - 1;
      this.createsLeft.set(owner, left);
      if (left <= 0) woken.push(`creates:${owner}`);
    }
    for (const k of lockedTables(job)) {
      const left = (this.busy.get(k) ?? 1) - 1;
      this.busy.set(k, left);
      if (left <= 0) woken.push(`busy:${k}`);
    }
    this.wake(...woken);
  }

  /** All data is in: whatever still waits only waits for builds, and the queue closes once nothing waits. */
  allLoaded(): void {
    this.dataDone = true;
    this.wake(DATA_DONE);
  }

  /** Stop handing out work (a failure or Ctrl-C). */
  abort(): void {
    this.waiting.clear();
    this.watch.clear();
    this.closed = true;
    this.queue.close();
  }

  /** The condition that holds the job back, or undefined when it may start. */
  private blocker(j: BuildJob): string | undefined {
    // Foreign keys wait for all data: validating one reads both tables whole, and on a busy machine that only
    // slows the COPYs still running; once they are done, keys are validated in parallel with the last indexes.
    if (j.kind === 'foreign key' && !this.dataDone) return DATA_DONE;
    // A foreign key's ADD or VALIDATE, an ANALYZE and a key's ALTER TABLE exclude each other on a table (their
    // locks conflict: lockedTables): one at a time per table, so no builder sits waiting for a lock.
    for (const k of lockedTables(j)) if ((this.busy.get(k) ?? 0) > 0) return `busy:${k}`;
    if (j.after !== undefined && this.pending.has(stateKey(j.schema, j.after))) return `done:${stateKey(j.schema, j.after)}`;
    for (const k of j.needsData) if (!this.loaded.has(k)) return `loaded:${k}`;
    for (const k of j.needsKeys) if ((this.keysLeft.get(k) ?? 0) > 0) return `keys:${k}`;
    for (const k of j.needsIndexes ?? []) if ((this.indexesLeft.get(k) ?? 0) > 0) return `indexes:${k}`;
    if (j.attach && (this.createsLeft.get(ownerKey(j)) ?? 0) > 0) return `creates:${ownerKey(j)}`;
    return undefined;
  }

  private wake(...conditions: string[]): void {
    const ids: number[] = [];
    for (const c of conditions) {
      const w = this.watch.get(c);
      if (!w) continue;
      this.watch.delete(c);
      ids.push(...w);
    }
    this.recheck(ids);
  }

  /** Release the given waiting jobs that may start (in plan order); file the others under what holds them. */
  private recheck(ids: number[]): void {
    if (this.closed) return;
    ids.sort((a, b) => a - b);
    for (const i of ids) {
      const j = this.waiting.get(i);
      if (!j) continue;
      const b = this.blocker(j);
      if (b !== undefined) {
        const w = this.watch.get(b);
        if (w) w.push(i);
        else this.watch.set(b, [i]);
        continue;
      }
      this.waiting.delete(i);
      for (const k of lockedTables(j)) this.busy.set(k, (this.busy.get(k) ?? 0) + 1);
      this.outstanding++;
      this.queue.push(j);
    }
    if (!this.dataDone) return;
    if (this.waiting.size === 0) {
      this.closed = true;
      this.queue.close();
    } else if (this.outstanding === 0) {
      // Data is in, nothing is running, and a job still waits on a build that cannot come (not ours to build):
      // run it anyway.
      for (const i of [...this.waiting.keys()].sort((a, b) => a - b)) {
        this.outstanding++;
        this.queue.push(this.waiting.get(i)!);
      }
      this.waiting.clear();
      this.watch.clear();
      this.closed = true;
      this.queue.close();
    }
  }
}

const DATA_DONE = 'data-done';

/**
 * Tables on which a job takes a lock that conflicts with the others' (all but CREATE INDEX, whose SHARE locks
 * coexist): ADD FOREIGN KEY both tables, VALIDATE CONSTRAINT the referencing one (ROW SHARE on the referenced
 * table conflicts with none of these), ANALYZE and a key's ALTER TABLE their own.
 */
function lockedTables(j: BuildJob): string[] {
  if (j.kind === 'index') return j.attach ? [ownerKey(j)] : [];
  if (j.validate) return [ownerKey(j)];
  return j.needsData;
}
