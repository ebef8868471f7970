// Table locks of copy's build jobs on the target, for the simulation: builds on the same table wait for each
// other where PostgreSQL makes them. CREATE INDEX takes SHARE (builds of one table run together); a key's ALTER
// TABLE … ADD CONSTRAINT … USING INDEX (its own job once the table's builds are done, or after the CREATE INDEX in
// a job that holds both) takes ACCESS EXCLUSIVE. A foreign key added NOT VALID takes SHARE ROW EXCLUSIVE on both
// tables for a moment, its VALIDATE SHARE UPDATE EXCLUSIVE on the referencing one; ANALYZE SHARE UPDATE
// EXCLUSIVE. Requests are granted first come, first served, as the server's lock queue does. Pure: no I/O.
import { ownerKey, type BuildJob } from '../copy/schedule.js';

export type LockMode = 'share' | 'shareUpdateExclusive' | 'shareRowExclusive' | 'accessExclusive';

export interface LockNeed {
  /** tableKey of the table. */
  table: string;
  mode: LockMode;
}

/** PostgreSQL's conflict table, for the modes build jobs take. */
const CONFLICTS: Record<LockMode, LockMode[]> = {
  share: ['shareUpdateExclusive', 'shareRowExclusive', 'accessExclusive'],
  shareUpdateExclusive: ['shareUpdateExclusive', 'share', 'shareRowExclusive', 'accessExclusive'],
  shareRowExclusive: ['shareUpdateExclusive', 'share', 'shareRowExclusive', 'accessExclusive'],
  accessExclusive: ['share', 'shareUpdateExclusive', 'shareRowExclusive', 'accessExclusive'],
};

const conflicts = (a: LockMode, b: LockMode) => CONFLICTS[a].includes(b);
const isAlterTable = (s: string) => /^\s*ALTER\s+TABLE\b/i.test(s);

/** The locks a build job takes when it starts, and the stronger one it asks for after its build (a key's ALTER TABLE). */
export function locksOf(j: BuildJob): { start: LockNeed[]; end: LockNeed[] } {
  const own = ownerKey(j);
  // VALIDATE CONSTRAINT: SHARE UPDATE EXCLUSIVE on the referencing table (ROW SHARE on the other conflicts with
  // none of the modes here but ACCESS EXCLUSIVE, which a key's ALTER TABLE takes before the check may start).
  if (j.kind === 'foreign key' && j.validate) return { start: [{ table: own, mode: 'shareUpdateExclusive' }], end: [] };
  if (j.kind === 'foreign key') return { start: [...new Set([own, ...j.needsData])].map((table) => ({ table, mode: 'shareRowExclusive' })), end: [] };
  if (j.kind === 'analyze') return { start: [{ table: own, mode: 'shareUpdateExclusive' }], end: [] };
  // An exclusion constraint is one ALTER TABLE from the start; a key is CREATE INDEX, then ALTER TABLE.
  if (j.statements[0] !== undefined && isAlterTable(j.statements[0])) return { start: [{ table: own, mode: 'accessExclusive' }], end: [] };
  return { start: [{ table: own, mode: 'share' }], end: j.statements.slice(1).some(isAlterTable) ? [{ table: own, mode: 'accessExclusive' }] : [] };
}

interface Request<T> {
  owner: T;
  needs: LockNeed[];
}

/** Locks held and requests waiting, first come first served. */
export class LockTable<T> {
  private held: { owner: T; need: LockNeed }[] = [];
  private waiting: Request<T>[] = [];

  private grantable(r: Request<T>, ahead: Request<T>[]): boolean {
    // A waiter ahead that waits for a lock `r`'s owner already holds does not hold `r` back: the server puts a
    // request in front of the waiters its own locks block (JoinWaitQueue), else the two would wait for each other
    // (a key's ALTER TABLE behind a foreign key that waits for that key's CREATE INDEX to commit).
    const waitsForMe = (w: Request<T>) =>
      w.needs.some((m) => this.held.some((h) => h.owner === r.owner && h.need.table === m.table && conflicts(m.mode, h.need.mode)));
    return r.needs.every(
      (n) =>
        !this.held.some((h) => h.owner !== r.owner && h.need.table === n.table && conflicts(n.mode, h.need.mode)) &&
        !ahead.some((w) => w.owner !== r.owner && !waitsForMe(w) && w.needs.some((m) => m.table === n.table && conflicts(n.mode, m.mode))),
    );
  }

  /** Takes the locks at once (true) or queues the request (false: granted later by release()). */
  request(owner: T, needs: LockNeed[]): boolean {
    const r = { owner, needs };
    if (needs.length === 0 || this.grantable(r, this.waiting)) {
      for (const need of needs) this.held.push({ owner, need });
      return true;
    }
    this.waiting.push(r);
    return false;
  }

  /** Owners holding a lock that `owner`'s waiting request conflicts with. */
  blockers(owner: T): T[] {
    const r = this.waiting.find((w) => w.owner === owner);
    if (!r) return [];
    return [
      ...new Set(
        this.held.filter((h) => h.owner !== owner && r.needs.some((n) => n.table === h.need.table && conflicts(n.mode, h.need.mode))).map((h) => h.owner),
      ),
    ];
  }

  /** Drops everything `owner` holds or waits for; returns the owners whose waiting requests are granted now, in order. */
  release(owner: T): T[] {
    this.held = this.held.filter((h) => h.owner !== owner);
    this.waiting = this.waiting.filter((w) => w.owner !== owner);
    const granted: T[] = [];
    const still: Request<T>[] = [];
    for (const w of this.waiting) {
      if (this.grantable(w, still)) {
        for (const need of w.needs) this.held.push({ owner: w.owner, need });
        granted.push(w.owner);
      } else {
        still.push(w);
      }
    }
    this.waiting = still;
    return granted;
  }
}
