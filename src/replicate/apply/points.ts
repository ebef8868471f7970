// The applier's side of online verify (src/verify/online.ts is the other; the rows are described in
// src/state/migrations/008-verify-point.ts). A verify asks, through pgshift.verify_point on the target, for a moment where the
// target holds exactly what the source held at a known position; the applier makes that moment at a commit of
// its own, exports a target snapshot on a second connection and goes on at once. That connection stays in its
// transaction (keeping the snapshot importable) until the verify says it imported it, or the request expires:
// a dead verify never blocks the applier, and what this module fails at is logged and never stops replication.
import type { ConnectionSpec } from '../../config.js';
import { connect, type Client } from '../../db/connect.js';
import { quoteLiteral } from '../../db/ident.js';
import type { Logger } from '../../log.js';

export type CaptureKind = 'pgoutput' | 'triggers';

export interface PointRequest {
  id: string;
  /** pgoutput: the consistent point of the verify's slot (an LSN as text), once the verify has it. */
  position: string | null;
  expiresAt: number;
}

/** How long the applier stays held (pgoutput) waiting for the verify's position before it goes on without it. */
export const HOLD_LIMIT_MS = 15_000;
/** How long a target snapshot is kept for a verify that does not say it imported it. */
const KEEP_LIMIT_MS = 60_000;

/** What the applier says about the moment it made. */
export interface PointReached {
  /** The position the target now holds exactly (pgoutput: the point; triggers: the batch's source snapshot). */
  position: string;
  /** Last position committed on the target (pgoutput: the last transaction before the point). */
  applied: string;
  /** When the applier stopped taking new changes for the point: its last commit before it, or the end of its batch. */
  lastCommitAt: number;
  /** pgoutput: when it stopped applying for the verify (held), or null. */
  heldAt: number | null;
  /** triggers: the source snapshot of the batch, kept importable by a connection of this module. */
  sourceSnapshot?: string;
}

const UNAVAILABLE = Symbol('no verify_point table');
/** The verify that asked is still connected (killed: its session is gone, and its request with it). */
const ALIVE = `EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = requester_pid)`;

export class VerifyPoints {
  private poll?: Client;
  private holder?: Client;
  private sourceHolder?: Client;
  private opening?: Promise<void>;
  private closed = false;
  private lastPoll = 0;
  private polling?: Promise<void>;
  private request: PointRequest | null = null;
  private busy = false;
  private table: boolean | typeof UNAVAILABLE | undefined;
  private warned = false;
  /** The last point reached: applied changes are counted under it (verify_changed). */
  epoch: string | null = null;
  /** Rung when a request appears (an idle applier wakes up for it). */
  onRequest?: () => void;

  constructor(
    private readonly target: ConnectionSpec,
    private readonly capture: CaptureKind,
    private readonly logger: Logger,
    private readonly opts: { pollMs?: number; source?: ConnectionSpec } = {},
  ) {}

  /** The point the applier counts changes under, as the target has it (on every (re)connection of the applier). */
  static async loadEpoch(c: Client): Promise<string | null> {
    const { rows } = await c.query(
      `SELECT CASE WHEN to_regclass('pgshift.verify_point') IS NULL THEN NULL ELSE
         (SELECT max(id)::text FROM pgshift.verify_point WHERE reached_at IS NOT NULL) END AS id`,
    );
    return rows[0]?.id ?? null;
  }

  /**
   * The statement that adds a commit's per-table change counts under the current epoch (sent inside the batch's
   * transaction, before its COMMIT), or null when there is nothing to count.
   */
  static countQuery(epoch: string | null, counts: Map<string, { schema: string; name: string; n: number }>): { text: string; values: unknown[] } | null {
    if (epoch === null || counts.size === 0) return null;
    const rows = [...counts.values()];
    return {
      text: `INSERT INTO pgshift.verify_changed (point, table_schema, table_name, changes)
             SELECT $1::int8, s, n, c FROM unnest($2::text[], $3::text[], $4::int8[]) AS u(s, n, c)
             ON CONFLICT (point, table_schema, table_name) DO UPDATE SET changes = pgshift.verify_changed.changes + excluded.changes`,
      values: [epoch, rows.map((r) => r.schema), rows.map((r) => r.name), rows.map((r) => String(r.n))],
    };
  }

  /** The request waiting for this applier, if any (non-blocking: polls in the background at most every pollMs). */
  pending(): PointRequest | null {
    if (this.request && this.request.expiresAt <= Date.now()) this.request = null;
    if (!this.busy) this.startRefresh();
    return this.busy ? null : this.request;
  }

  /** Read the newest open request now (the capture applier asks before each batch). */
  async check(): Promise<PointRequest | null> {
    await this.startRefresh();
    return this.pending();
  }

  /** One refresh at a time (each may open the poll connection: two at once would leak one), at most every pollMs. */
  private startRefresh(): Promise<void> | undefined {
    if (!this.polling && !this.closed && Date.now() - this.lastPoll >= (this.opts.pollMs ?? 200)) {
      this.polling = this.refresh().finally(() => (this.polling = undefined));
    }
    return this.polling;
  }

  private async refresh(): Promise<void> {
    this.lastPoll = Date.now();
    if (this.table === UNAVAILABLE) return;
    try {
      this.poll ??= await connect(this.target, { applicationName: 'pgshift replicate verify-point' });
      if (this.table === undefined) {
        const { rows } = await this.poll.query(`SELECT to_regclass('pgshift.verify_point') IS NOT NULL AS ok`);
        this.table = rows[0].ok ? true : UNAVAILABLE;
        if (this.table === UNAVAILABLE) return;
      }
      const { rows } = await this.poll.query(
        `SELECT id::text AS id, position, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS left_ms
           FROM pgshift.verify_point WHERE capture = $1 AND reached_at IS NULL AND failed IS NULL AND expires_at > now()
            AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = requester_pid)
          ORDER BY id DESC LIMIT 1`,
        [this.capture],
      );
      const r = rows[0];
      const before = this.request?.id;
      this.request = r ? { id: r.id, position: r.position, expiresAt: Date.now() + Number(r.left_ms) } : null;
      if (this.request && this.request.id !== before) {
        // Opened now, before the applier stops for it: the export then costs one round trip.
        void this.openHolders().catch((err) => this.warn(err));
        this.onRequest?.();
      }
    } catch (err) {
      this.warn(err);
      await this.poll?.end().catch(() => undefined);
      this.poll = undefined;
    }
  }

  private warn(err: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.logger.warn(`replicate: could not answer an online verify (${(err as Error).message}); replication goes on, the verify will say so`);
  }

  /**
   * One opening at a time: the request's early open (refresh) and the applier's own call (hold, export) overlap,
   * and two `holder ??= await connect()` would each open one and leak the first, keeping the process alive after
   * the run ended (Ctrl-C waited out the 15 s stop deadline).
   */
  private openHolders(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the applier is stopping'));
    this.opening ??= (async () => {
      this.holder ??= await connect(this.target, { applicationName: 'pgshift replicate verify-snapshot' });
      if (this.opts.source && this.capture === 'triggers') {
        this.sourceHolder ??= await connect(this.opts.source, { applicationName: 'pgshift replicate verify-snapshot' });
      }
    })().finally(() => (this.opening = undefined));
    return this.opening;
  }

  /** pgoutput: everything before is committed and the applier stopped applying; the verify may create its slot. */
  async hold(req: PointRequest): Promise<boolean> {
    try {
      await this.openHolders();
      const { rowCount } = await this.poll!.query(`UPDATE pgshift.verify_point SET held_at = clock_timestamp() WHERE id = $1 AND expires_at > now()`, [req.id]);
      return rowCount === 1;
    } catch (err) {
      this.warn(err);
      return false;
    }
  }

  /** pgoutput, held: the verify's position, or null when it does not come in time (the applier goes on). */
  async waitPosition(req: PointRequest, stopped: () => boolean): Promise<string | null> {
    const until = Math.min(req.expiresAt, Date.now() + HOLD_LIMIT_MS);
    while (!stopped() && Date.now() < until) {
      try {
        const { rows } = await this.poll!.query(`SELECT position, failed IS NULL AND ${ALIVE} AS alive FROM pgshift.verify_point WHERE id = $1`, [req.id]);
        if (rows[0]?.position) return rows[0].position as string;
        if (!rows[0]?.alive) break;
      } catch (err) {
        this.warn(err);
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.fail(req, `the applier waited ${((Date.now() - until + HOLD_LIMIT_MS) / 1000).toFixed(1)} s for the verify's position and went on`);
    return null;
  }

  /** The request cannot be answered: the verify reads why. */
  async fail(req: PointRequest, why: string): Promise<void> {
    if (this.request?.id === req.id) this.request = null;
    await this.poll?.query(`UPDATE pgshift.verify_point SET failed = $2 WHERE id = $1 AND reached_at IS NULL`, [req.id, why]).catch(() => undefined);
  }

  /**
   * triggers: inside the batch's source transaction (repeatable read), its snapshot exported and imported by a
   * connection of this module, which keeps it until the verify has imported it.
   */
  async keepSourceSnapshot(src: Client): Promise<string> {
    await this.openHolders();
    const { rows } = await src.query(`SELECT pg_catalog.pg_export_snapshot() AS id`);
    const h = this.sourceHolder!;
    await h.query('ROLLBACK'); // a batch that failed after its export left its transaction open
    await h.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await h.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(rows[0].id)}`);
    const { rows: again } = await h.query(`SELECT pg_catalog.pg_export_snapshot() AS id`);
    return again[0].id as string;
  }

  /**
   * The target holds exactly the source at the point (everything before it committed, nothing after): export a
   * target snapshot on the second connection and answer the verify. Returns at once after that; the snapshot is
   * kept until the verify has imported it (or for a minute at most). Counting moves to this point's epoch.
   */
  async reached(req: PointRequest, r: PointReached): Promise<{ pauseMs: number } | null> {
    this.request = null;
    try {
      await this.openHolders();
      const h = this.holder!;
      await h.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await h.query(`SELECT pg_catalog.pg_export_snapshot() AS id`);
      // The pause: from when the applier stopped taking changes for this point (held, or its last commit) to now.
      const pauseMs = Date.now() - (r.heldAt ?? r.lastCommitAt);
      const heldMs = r.heldAt === null ? null : Date.now() - r.heldAt;
      const { rowCount } = await this.poll!.query(
        `UPDATE pgshift.verify_point SET reached_at = clock_timestamp(), target_snapshot = $2, position = COALESCE(position, $3), applied_position = $4,
                source_snapshot = $5, pause_ms = $6, held_ms = $7
          WHERE id = $1 AND failed IS NULL`,
        [req.id, rows[0].id, r.position, r.applied, r.sourceSnapshot ?? null, pauseMs, heldMs],
      );
      if (rowCount !== 1) {
        await this.release();
        return null;
      }
      this.epoch = req.id;
      this.busy = true;
      void this.keepUntilImported(req.id);
      return { pauseMs };
    } catch (err) {
      this.warn(err);
      await this.fail(req, `the applier could not export the target snapshot: ${(err as Error).message}`);
      await this.release();
      return null;
    }
  }

  private async keepUntilImported(id: string): Promise<void> {
    const until = Date.now() + KEEP_LIMIT_MS;
    try {
      while (Date.now() < until) {
        const { rows } = await this.poll!.query(
          `SELECT imported_at IS NOT NULL OR failed IS NOT NULL OR NOT ${ALIVE} AS done FROM pgshift.verify_point WHERE id = $1`,
          [id],
        );
        if (!rows[0] || rows[0].done) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    } catch (err) {
      this.warn(err);
    } finally {
      await this.release();
    }
  }

  /** Ends the transactions that kept the snapshots (the connections are kept for the next request). */
  private async release(): Promise<void> {
    this.busy = false;
    for (const c of [this.holder, this.sourceHolder]) {
      if (!c) continue;
      try {
        await c.query('ROLLBACK');
      } catch {
        await c.end().catch(() => undefined);
        if (c === this.holder) this.holder = undefined;
        else this.sourceHolder = undefined;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.polling?.catch(() => undefined), this.opening?.catch(() => undefined)]);
    await Promise.all([this.poll, this.holder, this.sourceHolder].map((c) => c?.end().catch(() => undefined)));
    this.poll = this.holder = this.sourceHolder = undefined;
  }
}
