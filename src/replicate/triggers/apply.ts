// Applying the trigger-capture log. The log holds row IDENTITIES (keys, or whole-row images of tables without a
// key), not values, so a batch does not replay changes: it makes every touched row on the target equal to the
// source's row in ONE newer source snapshot S (repeatable read):
//   - pending = log rows NOT visible in the last applied snapshot P (all of them are visible in S, being read in S);
//   - a table TRUNCATEd in the batch is emptied and copied whole as of S;
//   - key tables: the touched keys are deleted on the target and the source's current rows with those keys (as
//     of S) copied in — an updated key comes back, a deleted one stays gone, an old key of a key change is gone;
//   - tables without a key: every touched row image gets the source's multiplicity (delete all rows equal to the
//     image, copy in the source's rows equal to it) — duplicates stay exact.
// Afterwards every captured table on the target equals the source as of S, and S is written as the new applied
// snapshot in the SAME target transaction. Only after that COMMIT are the consumed log rows deleted on the
// source. Applying a batch twice (a crash between the two commits) converges to the same rows: exactly once in
// effect, with no position arithmetic. Values never pass through JavaScript: COPY text streams, piped.
import { from as copyFrom } from 'pg-copy-streams';
import { copyOut } from '../../db/copy-out.js';
import { specOf, type Client } from '../../db/connect.js';
import { qualify, quoteIdent } from '../../db/ident.js';
import { errorCode, PgshiftError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { loadTargetTable, type TargetTable } from '../apply/catalog.js';
import { CAPTURE_SEARCH_PATH, CAPTURE_SETTINGS, LOG, type CapturedTable } from './install.js';
import { saveAppliedSnapshot } from '../../state/replication.js';
import { findUncastableKey, refuseRow, SUSPECT } from './validate.js';
import { tableKey } from '../../catalog/table-id.js';
import { displayName } from '../../db/ident.js';
import type { ConnectionSpec } from '../../config.js';
import { VerifyPoints, type PointRequest } from '../apply/points.js';

export { CaptureLogError } from './validate.js';

export class CaptureSchemaError extends PgshiftError {}

export const SESSION_SETTINGS: Record<string, string> = { ...CAPTURE_SETTINGS, search_path: CAPTURE_SEARCH_PATH, row_security: 'off' };

const KEYS = 'pg_temp.pgshift_capture_keys';
// The applied snapshot comes in as a setting (COPY takes no bind parameters); the scalar subquery makes it an
// InitPlan, parsed once per statement rather than once per log row.
const PENDING = `NOT pg_catalog.pg_visible_in_snapshot(l.xid, (SELECT pg_catalog.current_setting('pgshift.applied')::pg_catalog.pg_snapshot))`;

export interface BatchResult {
  /** The snapshot the batch read (now the applied snapshot). */
  snapshot: string;
  /** Log rows consumed. */
  changes: number;
  /** Rows written (copied in) on the target. */
  rows: number;
  tables: number;
  /** Time the oldest consumed change's transaction started. */
  oldest: Date | null;
  newest: Date | null;
}

interface SourceColumn {
  name: string;
  type: string;
  generated: boolean;
}

export async function applySessionSettings(c: Client, settings: Record<string, string> = SESSION_SETTINGS): Promise<void> {
  for (const [k, v] of Object.entries(settings)) await c.query(`SELECT pg_catalog.set_config($1, $2, false)`, [k, v]);
}

export class CaptureApplier {
  private readonly byOid: Map<number, CapturedTable>;
  private readonly targets = new Map<string, TargetTable>();

  /** Per captured table: its oid and the number of values a log row's key holds (a key's columns, or 1 image). */
  private readonly shapes: [number[], number[]];
  /** Online verify (apply/points.ts): present when the connections' specs are given. */
  private readonly points: VerifyPoints | null;
  /** Online verify points reached by this applier, and the last pause. */
  verifyPoints = 0;
  lastVerifyPauseMs: number | null = null;

  constructor(
    private readonly src: Client,
    private readonly tgt: Client,
    tables: CapturedTable[],
    private readonly logger: Logger,
    online?: { source: ConnectionSpec; target: ConnectionSpec; pollMs?: number } | false,
  ) {
    this.byOid = new Map(tables.map((t) => [t.oid, t]));
    this.shapes = [tables.map((t) => t.oid), tables.map((t) => t.key?.length ?? 1)];
    // Online verify answers on connections like the applier's own (db/connect.ts remembers what they were opened with).
    const specs = online === false ? null : (online ?? { source: specOf(src), target: specOf(tgt) });
    this.points =
      specs?.source && specs.target
        ? new VerifyPoints(specs.target, 'triggers', logger, { source: specs.source, pollMs: online ? online.pollMs : undefined })
        : null;
    // What online verify opened goes with the applier's target connection.
    if (this.points) tgt.once('end', () => void this.close());
  }

  /** Ends what online verify opened (the applier's own connections belong to the caller; ending tgt does this too). */
  async close(): Promise<void> {
    await this.points?.close();
  }

  /** Once per pair of sessions. */
  async init(): Promise<void> {
    await applySessionSettings(this.src);
    await applySessionSettings(this.tgt, { ...SESSION_SETTINGS, row_security: 'on' });
    await this.tgt.query(`CREATE TEMP TABLE IF NOT EXISTS pgshift_capture_keys (k text[]) ON COMMIT DELETE ROWS`);
    if (this.points) this.points.epoch = await VerifyPoints.loadEpoch(this.tgt);
  }

  /**
   * Online verify: the batch just made the target equal to the source as of `snapshot` (and committed), so the
   * target's snapshot exported now pairs with the batch's source snapshot kept by points.ts.
   */
  private async answer(req: PointRequest | null, sourceSnapshot: string | null, snapshot: string, stoppedAt: number): Promise<void> {
    if (!req || !sourceSnapshot) return;
    const r = await this.points!.reached(req, { position: snapshot, applied: snapshot, lastCommitAt: stoppedAt, heldAt: null, sourceSnapshot });
    if (!r) return;
    this.verifyPoints++;
    this.lastVerifyPauseMs = r.pauseMs;
    this.logger.info(`replicate: online verify point reached at source snapshot ${snapshot}; apply paused ${r.pauseMs} ms`);
  }

  /** Apply everything committed on the source since `applied`; null when nothing was pending. */
  async batch(applied: string): Promise<BatchResult | null> {
    const { src, tgt } = this;
    let converging: CapturedTable | null = null;
    // An online verify waiting: this batch ends exactly at a source snapshot it imports (points.ts).
    const req = this.points ? await this.points.check() : null;
    await src.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const { rows: snap } = await src.query(`SELECT pg_catalog.pg_current_snapshot()::text AS s`);
      const snapshot: string = snap[0].s;
      let kept: string | null = null;
      if (req) {
        kept = await this.points!.keepSourceSnapshot(src).catch(async (err: unknown) => {
          await this.points!.fail(req, `the applier could not export its source snapshot: ${(err as Error).message}`);
          return null;
        });
      }
      await src.query(`SELECT pg_catalog.set_config('pgshift.applied', $1, true)`, [applied]);
      // With the counts, the first log row per table that the capture cannot have written (SUSPECT, validate.ts).
      const { rows: pending } = await src.query(
        `SELECT l.tbl::int8 AS tbl, bool_or(l.op = 'T') AS truncated, count(*)::int8 AS n, min(l.at) AS oldest, max(l.at) AS newest,
                min(l.id) FILTER (WHERE ${SUSPECT})::text AS suspect
           FROM ${LOG} l LEFT JOIN unnest($1::oid[], $2::int4[]) AS s(tbl, width) ON s.tbl = l.tbl
          WHERE ${PENDING} GROUP BY l.tbl`,
        [...this.shapes, snapshot],
      );
      if (pending.length === 0) {
        await src.query('COMMIT');
        // Nothing committed since the applied snapshot: the target already equals the source as of this one.
        await this.answer(req, kept, snapshot, Date.now());
        return null;
      }
      const suspect = pending.filter((p) => p.suspect !== null).map((p) => p.suspect as string);
      if (suspect.length) throw await refuseRow(src, this.byOid, suspect.sort((a, b) => Number(BigInt(a) - BigInt(b)))[0]!, snapshot);
      const logged = pending.map((p) => ({ table: this.byOid.get(Number(p.tbl))!, truncated: Boolean(p.truncated), n: Number(p.n) }));
      const sourceCols = await this.checkDefinitions(logged.map((l) => l.table));
      let changes = 0;
      let rows = 0;
      let oldest: Date | null = null;
      let newest: Date | null = null;
      for (const p of pending) {
        changes += Number(p.n);
        if (!oldest || p.oldest < oldest) oldest = p.oldest;
        if (!newest || p.newest > newest) newest = p.newest;
      }
      await tgt.query('BEGIN');
      try {
        // TRUNCATE first: those tables come back whole as of the batch snapshot (rows of a partitioned table's
        // TRUNCATE are logged by each partition, which holds them).
        for (const l of logged) {
          if (!l.truncated || l.table.relkind !== 'r') continue;
          rows += await this.resync(l.table, sourceCols);
        }
        for (const l of logged) {
          converging = l.table;
          rows += await this.converge(l.table, sourceCols);
        }
        converging = null;
        await saveAppliedSnapshot(tgt, snapshot, changes, newest);
        const counted = VerifyPoints.countQuery(
          this.points?.epoch ?? null,
          new Map(logged.map((l) => [String(l.table.oid), { schema: l.table.schema, name: l.table.name, n: l.n }])),
        );
        if (counted) await tgt.query(counted);
        await tgt.query('COMMIT');
      } catch (err) {
        await tgt.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      const committedAt = Date.now();
      await src.query('COMMIT');
      await this.answer(req, kept, snapshot, committedAt);
      return { snapshot, changes, rows, tables: logged.length, oldest, newest };
    } catch (err) {
      await src.query('ROLLBACK').catch(() => undefined);
      // A key that does not read as its column's type (22xxx): name the log row that holds it.
      const table = converging as CapturedTable | null;
      if (table?.key && /^22/.test(errorCode(err) ?? '')) throw (await findUncastableKey(src, table, applied).catch(() => null)) ?? err;
      throw err;
    }
  }

  /** Consumed log rows go only once the target transaction that applied them has committed. */
  async forget(snapshot: string): Promise<number> {
    const { rowCount } = await this.src.query(`DELETE FROM ${LOG} l WHERE pg_catalog.pg_visible_in_snapshot(l.xid, $1::pg_catalog.pg_snapshot)`, [snapshot]);
    return rowCount ?? 0;
  }

  private async target(t: { schema: string; name: string }): Promise<TargetTable> {
    const k = tableKey(t);
    let tt = this.targets.get(k);
    if (!tt) {
      tt = await loadTargetTable(this.tgt, { schema: t.schema, name: t.name });
      this.targets.set(k, tt);
    }
    return tt;
  }

  /**
   * DDL is not captured: every table a batch touches (and its inheritance children) must still have the columns
   * the target has, with the same types, and its capture triggers. Read in the batch snapshot's catalog.
   */
  private async checkDefinitions(tables: CapturedTable[]): Promise<Map<number, SourceColumn[]>> {
    const oids = new Set<number>();
    for (const t of tables) {
      oids.add(t.oid);
      for (const c of t.inheritanceChildren) if (this.byOid.has(c)) oids.add(c);
    }
    const list = [...oids];
    const { rows } = await this.src.query(
      `SELECT a.attrelid::int8 AS oid, a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attgenerated <> '' AS generated
         FROM pg_catalog.pg_attribute a WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum`,
      [list],
    );
    const { rows: trig } = await this.src.query(
      `SELECT c.oid::int8 AS oid, (SELECT count(*) FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname LIKE '\\_pgshift\\_capture\\_%' AND t.tgenabled <> 'D')::int AS n
         FROM unnest($1::oid[]) AS c(oid)`,
      [list],
    );
    const cols = new Map<number, SourceColumn[]>();
    for (const r of rows) {
      const l = cols.get(Number(r.oid)) ?? [];
      l.push({ name: r.name, type: r.type, generated: r.generated });
      cols.set(Number(r.oid), l);
    }
    for (const oid of list) {
      const t = this.byOid.get(oid)!;
      const label = displayName(t.schema, t.name);
      const fix = `apply the same change on the target (ALTER TABLE ${label} …), then run the same pgshift replicate --capture triggers command again; it resumes`;
      const sc = cols.get(oid);
      if (!sc) {
        throw new CaptureSchemaError(
          `apply: table ${label} no longer exists on the source (dropped or recreated); DDL is not captured, so replication stopped (everything up to the last applied batch is on the target)`,
          {
            phase: 'apply',
            object: label,
            hint: 'if that was intended, drop it on the target too and start over: pgshift cleanup --source … --target …, then pgshift replicate --capture triggers into an empty target',
          },
        );
      }
      if ((trig.find((x) => Number(x.oid) === oid)?.n ?? 0) < 4) {
        throw new CaptureSchemaError(
          `apply: the capture triggers of ${label} were dropped or disabled on the source; its later changes were not recorded, so replication stopped`,
          {
            phase: 'apply',
            object: label,
            hint: 'start over: pgshift cleanup --source … --target …, then pgshift replicate --capture triggers into an empty target',
          },
        );
      }
      const tt = await this.target(t);
      const problems: string[] = [];
      for (const c of sc) {
        const tc = tt.columns.get(c.name);
        if (!tc) problems.push(`column ${c.name} exists on the source but not on the target`);
        else if (tc.type !== c.type) problems.push(`column ${c.name} is ${c.type} on the source but ${tc.type} on the target`);
        else if (tc.generated !== c.generated) problems.push(`column ${c.name} is ${c.generated ? '' : 'not '}generated on the source`);
      }
      for (const name of tt.columns.keys()) if (!sc.some((c) => c.name === name)) problems.push(`column ${name} exists on the target but not on the source`);
      if (problems.length) {
        // The next run reads the target's definition again.
        this.targets.delete(tableKey(t));
        throw new CaptureSchemaError(
          `apply: the definition of ${label} changed on the source (${problems.join('; ')}); DDL is not captured, so replication stopped (everything up to the last applied batch is on the target)`,
          {
            phase: 'apply',
            object: label,
            hint: fix,
          },
        );
      }
    }
    return cols;
  }

  /** Columns copied (never generated ones), quoted, in the source's order. */
  private columnsOf(oid: number, sourceCols: Map<number, SourceColumn[]>): string[] {
    return (sourceCols.get(oid) ?? []).filter((c) => !c.generated).map((c) => quoteIdent(c.name));
  }

  private async pipe(sourceSql: string, targetSql: string): Promise<number> {
    const from = this.tgt.query(copyFrom(targetSql));
    await copyOut(this.src, sourceSql, [from]);
    return Number(from.rowCount ?? 0);
  }

  private async resync(t: CapturedTable, sourceCols: Map<number, SourceColumn[]>): Promise<number> {
    const q = qualify(t.schema, t.name);
    const cols = this.columnsOf(t.oid, sourceCols);
    const list = cols.length ? ` (${cols.join(', ')})` : '';
    await this.tgt.query(`TRUNCATE ONLY ${q}`);
    return this.pipe(`COPY (SELECT ${cols.join(', ') || '*'} FROM ONLY ${q}) TO STDOUT`, `COPY ${q}${list} FROM STDIN`);
  }

  /** Make every row of `t` touched in this batch equal to the source (its inheritance children too). */
  private async converge(t: CapturedTable, sourceCols: Map<number, SourceColumn[]>): Promise<number> {
    const { src, tgt } = this;
    const pendingRows = `l.tbl = ${t.oid} AND l.op <> 'T' AND ${PENDING}`;
    // The touched identities, once, into a temporary table on the target.
    const n = await this.pipe(`COPY (SELECT DISTINCT l.key FROM ${LOG} l WHERE ${pendingRows}) TO STDOUT`, `COPY ${KEYS} (k) FROM STDIN`);
    if (n === 0) return 0;
    const units: { oid: number; only: boolean }[] = [{ oid: t.oid, only: t.relkind === 'r' }];
    for (const c of t.inheritanceChildren) if (this.byOid.has(c)) units.push({ oid: c, only: true });
    const loggedCols = (sourceCols.get(t.oid) ?? []).map((c) => `t.${quoteIdent(c.name)}`);
    let rows = 0;
    // A key lookup per touched row (nested loop on the key index) is right for a batch, whatever the table size.
    const joins = t.key ? 'off' : 'on';
    await src.query(`SELECT set_config('enable_hashjoin', $1, true), set_config('enable_mergejoin', $1, true)`, [joins]);
    await tgt.query(`SELECT set_config('enable_hashjoin', $1, true), set_config('enable_mergejoin', $1, true)`, [joins]);
    for (const u of units) {
      const ut = this.byOid.get(u.oid)!;
      const q = qualify(ut.schema, ut.name);
      const only = u.only ? 'ONLY ' : '';
      const cols = this.columnsOf(u.oid, sourceCols);
      const list = cols.length ? ` (${cols.join(', ')})` : '';
      const selectCols = cols.map((c) => `t.${c}`).join(', ') || '*';
      let targetMatch: string;
      let sourceMatch: string;
      if (t.key) {
        const tt = await this.target(ut);
        const keyCols = `(${t.key.map((k) => `t.${quoteIdent(k)}`).join(', ')})`;
        targetMatch = `${keyCols} IN (SELECT ${t.key.map((k, i) => `k.k[${i + 1}]::${tt.columns.get(k)!.type}`).join(', ')} FROM ${KEYS} k)`;
        sourceMatch = `${keyCols} IN (SELECT ${t.keyTypes.map((ty, i) => `l.key[${i + 1}]::${ty}`).join(', ')} FROM ${LOG} l WHERE ${pendingRows})`;
      } else {
        // A child's rows are logged (by a statement on the parent) in the parent's row shape.
        const image = u.oid === t.oid ? `(t.*)::pg_catalog.text` : `ROW(${loggedCols.join(', ')})::pg_catalog.text`;
        targetMatch = `${image} IN (SELECT k.k[1] FROM ${KEYS} k)`;
        sourceMatch = `${image} IN (SELECT l.key[1] FROM ${LOG} l WHERE ${pendingRows})`;
      }
      await tgt.query(`DELETE FROM ${only}${q} t WHERE ${targetMatch}`);
      rows += await this.pipe(`COPY (SELECT ${selectCols} FROM ${only}${q} t WHERE ${sourceMatch}) TO STDOUT`, `COPY ${q}${list} FROM STDIN`);
    }
    await tgt.query(`TRUNCATE ${KEYS}`);
    await src.query(`SELECT set_config('enable_hashjoin', 'on', true), set_config('enable_mergejoin', 'on', true)`);
    await tgt.query(`SELECT set_config('enable_hashjoin', 'on', true), set_config('enable_mergejoin', 'on', true)`);
    void this.logger;
    return rows;
  }
}
