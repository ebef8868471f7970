// Applies changes on one target connection inside the applier's open transaction. Changes are queued per
// table and sent at flush (before COMMIT, a TRUNCATE or a relation check, or when the queue is full): the
// final state of a table depends only on the order of ITS changes — the target's triggers and foreign keys
// are switched off while applying, unique and exclusion constraints are per table, and UPDATE/DELETE use
// ONLY — so grouping by table keeps every table's order while one statement carries many source transactions.
// When a table's only unique rule is its replica-identity key, its changes fold per row into their net effect
// (net.ts). Otherwise, per table, consecutive changes of one shape form a run, sent as one statement:
// - INSERTs: one multi-row INSERT;  DELETEs by key: one DELETE … IN (…);
// - UPDATEs by key that leave the key alone and write no unique/exclusion column: one set-based UPDATE, a
//   later change to a row replacing the earlier one (same columns, so the last values win);
// - any other UPDATE/DELETE: run in order, one by one, by pgshift.apply_rows.
// Statement texts are cached per (table, kind, columns) in shapes.ts.
import type { Client } from '../../db/connect.js';
import { PgshiftError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { tableLabel, type Change, type RelationEvent, type Row, type TableId, type Value } from '../change.js';
import { loadTargetTable, type TargetTable } from './catalog.js';
import { diffRelation, disagrees, planDdl } from './ddl.js';
import { NetSegment } from './net.js';
import { sameColumns, SchemaChangedError, ShapeCache, valuesOf, type NamedStatement } from './shapes.js';
import { Pipeline } from './pipeline.js';
import { textArrayColumn } from './binary-array.js';
import { APPLY_ROWS_SQL, deleteByKeysSql, deleteSql, element, truncateSql, updateByKeysSql, updateSql } from './sql.js';

/** Rows per statement. */
const RUN_ROWS = 1000;
/** Queued values across all tables before a flush: bounds memory whatever the transaction size. */
const PENDING_BYTES = 8 * 1024 * 1024;
const PENDING_ROWS = 10_000;

const key = (t: TableId) => JSON.stringify([t.schema, t.name]);

export { SchemaChangedError };

/** Consecutive changes of one table and one statement shape, sent in one round trip. */
interface Run {
  kind: 'insert' | 'delete' | 'update' | 'rows';
  what: string;
  stmt: NamedStatement;
  rows: Value[][];
  /** 'update': the row's key → its index in `rows` (a later change to the same row replaces the earlier). */
  byKey?: Map<string, number>;
}

interface TableQueue {
  table: TargetTable;
  /** In source order: runs, and segments of folded changes (net.ts). */
  runs: (Run | NetSegment)[];
}

export class ChangeWriter {
  private readonly tables = new Map<string, TargetTable>();
  /** Sources reuse one TableId object per relation: looking it up by identity saves a key per change. */
  private byId = new WeakMap<TableId, TargetTable>();
  /** Per target table: (kind, columns) → statement, and a row's column list → its writable columns. */
  private readonly shapes = new ShapeCache();
  private pending = new Map<TargetTable, TableQueue>();
  private pendingBytes = 0;
  private pendingRows = 0;
  /** UPDATE/DELETE that found no row on the target (the target diverged: logged, counted). */
  missingRows = 0;
  /** Statements go out without waiting for their answers (pipeline.ts); the applier sends BEGIN/COMMIT through it too. */
  readonly pipe: Pipeline;

  constructor(
    private client: Client,
    private readonly logger: Logger,
  ) {
    this.pipe = new Pipeline(client);
  }

  /** A new connection after a reconnect (prepared statements are per connection; pg re-prepares by name). */
  useClient(client: Client): void {
    this.client = client;
    this.pipe.reset(client);
    this.discard();
  }

  /** Forget what was queued for a transaction that was rolled back. */
  discard(): void {
    this.pending.clear();
    this.pendingBytes = 0;
    this.pendingRows = 0;
  }

  async table(id: TableId): Promise<TargetTable> {
    const known = this.byId.get(id);
    if (known) return known;
    const k = key(id);
    let t = this.tables.get(k);
    if (!t) {
      // Behind statements still running: a failure among them is reported as itself, not as this read's.
      await this.pipe.barrier();
      t = await loadTargetTable(this.client, id);
      this.tables.set(k, t);
    }
    this.byId.set(id, t);
    return t;
  }

  /**
   * The source announced the columns it sends for a table, as of the changes that follow (pgoutput: a Relation
   * message; handed over with everything before it committed). They must fit the target (DDL is not replicated):
   * a column added, dropped, renamed or retyped stops the run with the exact statements for the target (ddl.ts;
   * --apply-ddl runs ADD COLUMN of a nullable column without a default and DROP COLUMN itself); a column sent
   * that neither side has any more (dropped on both since these changes) is not written. The rerun after the
   * named statements starts at this announcement again, and it then fits: the advice converges.
   */
  async checkRelation(ev: RelationEvent, _where?: string): Promise<void> {
    await this.flush();
    let t = await this.reload(ev.table);
    const current = ev.current && disagrees(t, ev) ? await ev.current() : null;
    const diff = diffRelation(t, ev, current ? new Map(current.map((c) => [c.name, c])) : null);
    const plan = planDdl(t, diff, ev.applyDdl === true);
    if (plan.problems.length) {
      const exact = plan.fixes.length === plan.problems.length;
      throw new SchemaChangedError(
        `streaming: the definition of ${t.label} changed on the source (${plan.problems.join('; ')}); DDL is not replicated, so replication stopped before the first change that uses the new definition (everything before it is applied)`,
        {
          phase: 'streaming',
          object: t.label,
          hint: exact
            ? `run on the target:\n    ${plan.fixes.map((f) => `${f};`).join('\n    ')}\n  then run the same pgshift replicate command again (it resumes where it stopped)`
            : `apply the same ALTER TABLE ${t.label} … on the target${plan.fixes.length ? ` (${plan.fixes.join('; ')})` : ''}, then run the same pgshift replicate command again (it resumes where it stopped)`,
        },
      );
    }
    if (plan.auto.length) {
      // Before the changes that use the new definition, in the same transaction as them when there is one.
      for (const sql of plan.auto)
        this.pipe.send(
          sql,
          () => this.logger.info(`replicate: ${sql} on the target (--apply-ddl)`),
          (err) => annotate(err, `--apply-ddl on ${t.label}: ${sql}`),
        );
      await this.pipe.barrier();
      t = await this.reload(ev.table);
    }
    if (diff.ignored.length)
      this.logger.info(
        `replicate: changes to ${t.label} from before column(s) ${diff.ignored.join(', ')} were dropped on the source (and on the target): their values for them are not written`,
      );
    this.shapes.announced(t, ev.columns.length, diff.ignored.length ? new Set(diff.ignored) : null);
  }

  /** The target's definition of a table, read again (after DDL). */
  private async reload(id: TableId): Promise<TargetTable> {
    this.tables.delete(key(id));
    this.byId = new WeakMap();
    return this.table(id);
  }

  /** Queues one change; returns a promise only when it had to wait (a table's first change, a flush, TRUNCATE). */
  apply(c: Change): Promise<void> | undefined {
    if (c.kind === 'truncate') return this.truncate(c);
    const t = this.byId.get(c.table);
    if (!t) return this.table(c.table).then(() => this.apply(c));
    if (this.fold(t, c)) return this.added(c.kind === 'delete' ? c.old : c.row);
    switch (c.kind) {
      case 'insert': {
        const cols = this.shapes.writable(t, c.row);
        return this.queue(t, 'insert', 'INSERT', this.shapes.insert(t, cols), valuesOf(c.row, cols));
      }
      case 'update': {
        const set = this.shapes.writable(t, c.row);
        if (set.length === 0) return; // only unchanged TOAST / generated columns: nothing to write
        const keys = this.shapes.matchColumns(t, c.old, c.identity);
        if (c.identity === 'key' && keys.every((k) => !(k in c.row) || c.row[k] === c.old[k])) {
          const plan = this.shapes.updatePlan(t, set, keys);
          if (plan.others.length === 0) return; // the key was written with its own value: nothing changes
          if (plan.byKeys) {
            const values = valuesOf(c.row, plan.others);
            for (const k of keys) values.push(c.old[k]!);
            const rowKey = keys.length === 1 ? c.old[keys[0]!]! : JSON.stringify(keys.map((k) => c.old[k]));
            return this.queue(t, 'update', 'UPDATE', plan.byKeys, values, rowKey);
          }
        }
        const stmt = this.shapes.statement(t, `u${c.identity}`, [set, keys], () => updateSql(t, set, c.identity, keys, element));
        const values = valuesOf(c.row, set);
        for (const k of keys) values.push(c.old[k]!);
        return this.queue(t, 'rows', 'UPDATE', stmt, values);
      }
      case 'delete': {
        const keys = this.shapes.matchColumns(t, c.old, c.identity);
        const values = valuesOf(c.old, keys);
        if (c.identity === 'key')
          return this.queue(
            t,
            'delete',
            'DELETE',
            this.shapes.statement(t, 'dk', [keys], () => deleteByKeysSql(t, keys)),
            values,
          );
        return this.queue(
          t,
          'rows',
          'DELETE',
          this.shapes.statement(t, `d${c.identity}`, [keys], () => deleteSql(t, c.identity, keys, element)),
          values,
        );
      }
    }
  }

  private async truncate(c: Extract<Change, { kind: 'truncate' }>): Promise<void> {
    await this.flush();
    const ts: TargetTable[] = [];
    for (const id of c.tables) ts.push(await this.table(id));
    const sql = truncateSql(ts, c.restartIdentity);
    this.pipe.send(sql, undefined, (err) => annotate(err, `TRUNCATE of ${ts.map((t) => t.label).join(', ')}`));
  }

  /**
   * Sends everything queued, table by table, each table's runs in order (before COMMIT and other statements),
   * once what the previous flush sent has finished: the target works on one group while the next is built.
   */
  async flush(): Promise<void> {
    await this.pipe.barrier();
    const queues = [...this.pending.values()];
    this.discard();
    for (const q of queues) {
      for (const r of q.runs) {
        if (r instanceof NetSegment) for (const run of this.unfold(q.table, r)) this.send(q.table, run);
        else this.send(q.table, r);
      }
    }
  }

  /**
   * Folds an INSERT/UPDATE/DELETE into the table's current segment when the table allows it (its only unique
   * rule is the replica-identity key, and the change locates its row by that key). false: apply it in order.
   */
  private fold(t: TargetTable, c: Exclude<Change, { kind: 'truncate' }>): boolean {
    const keyCols = this.shapes.of(t).foldKey;
    if (!keyCols) return false;
    if (c.kind !== 'insert' && (c.identity !== 'key' || !sameColumns(c.old, keyCols))) return false;
    const q = this.queueOf(t);
    const last = q.runs.at(-1);
    const add = (seg: NetSegment) => (c.kind === 'insert' ? seg.insert(c.row) : c.kind === 'update' ? seg.update(c.old, c.row) : seg.delete(c.old));
    if (!(last instanceof NetSegment && add(last))) {
      // A change that contradicts the segment (or follows an ordered run) starts a new one: order is kept.
      const seg = new NetSegment(keyCols);
      if (!add(seg)) return false;
      q.runs.push(seg);
    }
    return true;
  }

  /** A segment's net effect as statements: DELETEs, then INSERTs, then UPDATEs (grouped by column list). */
  private unfold(t: TargetTable, seg: NetSegment): Run[] {
    const keys = [...seg.keyCols];
    const eff = seg.effect();
    const runs: Run[] = [];
    const dk = this.shapes.statement(t, 'dk', [keys], () => deleteByKeysSql(t, keys));
    for (let i = 0; i < eff.deletes.length; i += RUN_ROWS) runs.push({ kind: 'delete', what: 'DELETE', stmt: dk, rows: eff.deletes.slice(i, i + RUN_ROWS) });
    const groups = new Map<NamedStatement, Run>();
    const add = (kind: 'insert' | 'update', stmt: NamedStatement, values: Value[]) => {
      let run = groups.get(stmt);
      if (!run || run.rows.length >= RUN_ROWS) {
        run = { kind, what: kind.toUpperCase(), stmt, rows: [] };
        groups.set(stmt, run);
        runs.push(run);
      }
      run.rows.push(values);
    };
    for (const row of eff.inserts) {
      const cols = this.shapes.writable(t, row);
      add('insert', this.shapes.insert(t, cols), valuesOf(row, cols));
    }
    for (const row of eff.updates) {
      const cols = this.shapes.writable(t, row);
      const plan = this.shapes.updatePlan(t, cols, seg.keyCols as string[]);
      const others = plan.others;
      if (others.length === 0) continue;
      const values = valuesOf(row, others);
      for (const k of keys) values.push(row[k]!);
      add('update', plan.byKeys ?? this.shapes.statement(t, 'uk', [others, keys], () => updateByKeysSql(t, others, keys)), values);
    }
    return runs;
  }

  private send(t: TargetTable, run: Run): void {
    const describe = (err: unknown) => annotate(err, `${run.what} of ${run.rows.length} row(s) on ${t.label}`);
    if (run.kind === 'rows') {
      const q = { name: 'pgshift-apply-rows', text: APPLY_ROWS_SQL, values: [run.stmt.text, run.rows] };
      this.pipe.send(q, (r) => this.missing(t, run, Number(r.rows[0].missing)), describe);
      return;
    }
    const arrays = run.stmt.params.map((_, i) => textArrayColumn(run.rows, i));
    const n = run.rows.length;
    const counted = run.kind === 'insert' ? undefined : (r: { rowCount: number | null }) => r.rowCount !== null && this.missing(t, run, n - r.rowCount);
    this.pipe.send({ name: run.stmt.name, text: run.stmt.text, values: arrays }, counted, describe);
  }

  private missing(t: TargetTable, run: Run, missing: number): void {
    if (missing <= 0) return;
    this.missingRows += missing;
    if (this.missingRows <= 1000) {
      this.logger.warn(
        `replicate: ${missing} ${run.what} change(s) on ${t.label} found no row on the target — the target differs from the source; run pgshift verify after catching up`,
      );
    }
  }

  /** Adds a change to its table's last run when the shape matches, else starts a run; flushes when full. */
  private queue(t: TargetTable, kind: Run['kind'], what: string, stmt: NamedStatement, values: Value[], rowKey?: string): Promise<void> | undefined {
    const q = this.queueOf(t);
    const last = q.runs.at(-1);
    let run = last instanceof NetSegment ? undefined : last;
    if (!run || run.stmt !== stmt || run.rows.length >= RUN_ROWS) {
      run = { kind, what, stmt, rows: [], byKey: rowKey === undefined ? undefined : new Map() };
      q.runs.push(run);
    }
    const at = rowKey === undefined ? undefined : run.byKey!.get(rowKey);
    if (at === undefined) {
      if (rowKey !== undefined) run.byKey!.set(rowKey, run.rows.length);
      run.rows.push(values);
    } else run.rows[at] = values;
    return this.added(values);
  }

  private queueOf(t: TargetTable): TableQueue {
    let q = this.pending.get(t);
    if (!q) this.pending.set(t, (q = { table: t, runs: [] }));
    return q;
  }

  /** Counts a queued change's values; flushes once the queue holds enough (memory stays bounded). */
  private added(values: Value[] | Row): Promise<void> | undefined {
    this.pendingRows++;
    if (Array.isArray(values)) for (const v of values) this.pendingBytes += v === null ? 1 : v.length;
    else for (const k in values) this.pendingBytes += values[k]?.length ?? 1;
    if (this.pendingBytes >= PENDING_BYTES || this.pendingRows >= PENDING_ROWS) return this.flush();
    return undefined;
  }
}

function annotate(err: unknown, what: string): unknown {
  if (err instanceof PgshiftError) return err;
  if (err instanceof Error) err.message = `${what}: ${err.message}`;
  return err;
}

export { tableLabel };
