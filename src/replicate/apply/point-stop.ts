// The pgoutput applier's side of a verify point, for one consume() of Applier (applier.ts): it takes a waiting
// request at a transaction boundary (held until the verify's slot gives the point), says when an event comes
// after the point (the batch is then split there and the target exported: points.ts), and keeps the per-table
// counts of what each target commit applies (added under the last point reached, one statement per commit).
import type { QueryConfig } from 'pg';
import { tableKey } from '../../catalog/table-id.js';
import type { Logger } from '../../log.js';
import type { Change, Position } from '../change.js';
import { formatLsn, parseLsn } from '../pgoutput/lsn.js';
import { VerifyPoints, type PointRequest } from './points.js';

type Counts = Map<string, { schema: string; name: string; n: number }>;

function countChange(m: Counts, c: Change): void {
  for (const t of c.kind === 'truncate' ? c.tables : [c.table]) {
    const k = tableKey(t);
    const e = m.get(k);
    if (e) e.n++;
    else m.set(k, { schema: t.schema, name: t.name, n: 1 });
  }
}

export interface PointHooks {
  /** Commit everything the applier holds and wait until the target has confirmed it. */
  commitAll(): Promise<void>;
  /** The last position committed on the target. */
  applied(): Position;
  stopped(): boolean;
  logger: Logger;
  reached(pauseMs: number): void;
}

export class PointStop {
  private point: { req: PointRequest; stopAt: Position; heldAt: number | null } | null = null;
  /** When the last batch's COMMIT came back (set by the applier). */
  lastCommitAt = Date.now();
  private readonly counts: Counts = new Map();
  private readonly streamCounts = new Map<number, Counts>();
  private streamXid: number | null = null;

  constructor(
    private readonly points: VerifyPoints | null,
    private readonly hooks: PointHooks,
  ) {}

  /** A point is being approached: the applier asks an idle source for keepalives. */
  get active(): boolean {
    return this.point !== null;
  }

  /**
   * At a transaction boundary: take a waiting request. Everything taken so far is committed first; then the
   * applier stops applying until the verify has created its slot, whose consistent point therefore lies at or
   * after what is applied. True when a request was handled (the caller starts its loop again).
   */
  atBoundary(): Promise<boolean> | false {
    if (!this.points || this.point) return false;
    const req = this.points.pending();
    // Between two source transactions, checked for every one: no promise unless a request waits.
    if (!req) return false;
    return this.take(req);
  }

  private async take(req: PointRequest): Promise<boolean> {
    if (!this.points) return false;
    await this.hooks.commitAll();
    let heldAt: number | null = null;
    let pos = req.position;
    if (pos === null) {
      heldAt = Date.now();
      if (await this.points.hold(req)) pos = await this.points.waitPosition(req, this.hooks.stopped);
      // Expired (or the target unreachable) before the applier stopped for it: dropped, never retried in a loop.
      else await this.points.fail(req, 'the request expired before the applier stopped for it');
    }
    if (pos === null) return true;
    const stopAt = parseLsn(pos);
    const applied = this.hooks.applied();
    if (stopAt < applied) await this.points.fail(req, `the applier had already applied up to ${formatLsn(applied)}, past the point ${pos}`);
    else this.point = { req, stopAt, heldAt };
    return true;
  }

  /**
   * An event at `position` is about to be applied: if it lies after the point, the point is reached first.
   * The verify's slot exported a snapshot at its consistent point P: a transaction is in it when its commit
   * record STARTS before P (the slot decodes those starting at or after P). pgoutput's begin carries that start
   * (final_lsn; position = final_lsn + 1), so a begin comes after the point when position > P. A commit record
   * never straddles P (P is a record boundary), so equally: a commit whose END is > P (stream-commit) is after.
   * A keepalive at or past P (`inclusive`) says every transaction before P has been sent.
   */
  before(position: Position, inclusive = false): Promise<boolean> | false {
    const p = this.point;
    // Checked at every begin: no promise unless a point is set and this event lies past it.
    if (!p || (inclusive ? position < p.stopAt : position <= p.stopAt)) return false;
    return this.reach(p);
  }

  private async reach(p: NonNullable<PointStop['point']>): Promise<boolean> {
    this.point = null;
    await this.hooks.commitAll();
    const r = await this.points!.reached(p.req, {
      position: formatLsn(p.stopAt),
      applied: formatLsn(this.hooks.applied()),
      lastCommitAt: this.lastCommitAt,
      heldAt: p.heldAt,
    });
    if (r) {
      this.hooks.reached(r.pauseMs);
      this.hooks.logger.info(`replicate: online verify point ${formatLsn(p.stopAt)} reached; apply paused ${r.pauseMs} ms`);
    }
    return true;
  }

  count(c: Change): void {
    // Counted only under an epoch (a verify's baseline): without one, batchCounts() drops the counts anyway, and
    // the epoch only changes at a point, after commitAll() took the counts so far (one map key per change was a
    // tenth of the client's CPU in a backlog drain).
    if (this.points && this.points.epoch !== null) countChange(this.counts, c);
  }

  /** The counts of the batch being committed (sent before its COMMIT), or null; the next batch starts at zero. */
  batchCounts(): QueryConfig | null {
    const q = VerifyPoints.countQuery(this.points?.epoch ?? null, this.counts);
    this.counts.clear();
    return q;
  }

  streamStart(xid: number): void {
    this.streamXid = xid;
  }

  streamChange(c: Change): void {
    if (!this.points || this.streamXid === null) return;
    let m = this.streamCounts.get(this.streamXid);
    if (!m) this.streamCounts.set(this.streamXid, (m = new Map()));
    countChange(m, c);
  }

  streamAbort(xid: number, subxid: number): void {
    if (subxid === xid) this.streamCounts.delete(xid);
  }

  /** A streamed transaction's counts (sent in its own transaction before its COMMIT), or null. */
  streamCommitCounts(xid: number): QueryConfig | null {
    const q = VerifyPoints.countQuery(this.points?.epoch ?? null, this.streamCounts.get(xid) ?? new Map());
    this.streamCounts.delete(xid);
    return q;
  }
}
