// Applies changes on one target connection inside the applier's open transaction. Consecutive INSERTs into one
// table with one column list go out as one multi-row statement; everything else is one prepared statement per
// change. Statement texts are cached per (table, kind, columns).
import { createHash } from 'node:crypto';
import type { Client } from '../../db/connect.js';
import { PgshiftError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { tableLabel, type Change, type RelationEvent, type Row, type TableId, type Value } from '../change.js';
import { loadTargetTable, type TargetTable } from './catalog.js';
import { APPLY_ROWS_SQL, deleteByKeysSql, deleteSql, element, insertSql, truncateSql, updateSql, type Statement } from './sql.js';

const BATCH_ROWS = 1000;
const BATCH_BYTES = 8 * 1024 * 1024;
const FIRST_USER_OID = 16384;

const key = (t: TableId) => JSON.stringify([t.schema, t.name]);

export class SchemaChangedError extends PgshiftError {}

/**
 * Consecutive changes of one shape sent in one round trip: INSERTs (one multi-row statement), DELETEs by key
 * (one statement), or UPDATEs / DELETEs by full row ('rows': run in order by pgshift.apply_rows).
 */
interface PendingRows {
  kind: 'insert' | 'delete' | 'rows';
  what: string;
  table: TargetTable;
  cols: string[];
  stmt: Statement & { name: string };
  rows: Value[][];
  bytes: number;
}

export class ChangeWriter {
  private readonly tables = new Map<string, TargetTable>();
  private readonly statements = new Map<string, Statement & { name: string }>();
  private pending: PendingRows | null = null;
  /** UPDATE/DELETE that found no row on the target (the target diverged: logged, counted). */
  missingRows = 0;

  constructor(private client: Client, private readonly logger: Logger) {}

  /** A new connection after a reconnect (prepared statements are per connection; pg re-prepares by name). */
  useClient(client: Client): void {
    this.client = client;
    this.pending = null;
  }

  /** Forget what was queued for a transaction that was rolled back. */
  discard(): void {
    this.pending = null;
  }

  async table(id: TableId): Promise<TargetTable> {
    const k = key(id);
    let t = this.tables.get(k);
    if (!t) {
      t = await loadTargetTable(this.client, id);
      this.tables.set(k, t);
    }
    return t;
  }

  /** The source announced the columns it sends for a table: they must fit the target (DDL is not replicated). */
  async checkRelation(ev: RelationEvent, where: string): Promise<void> {
    await this.flush();
    this.tables.delete(key(ev.table));
    const t = await this.table(ev.table);
    const problems: string[] = [];
    for (const c of ev.columns) {
      const tc = t.columns.get(c.name);
      if (!tc) problems.push(`column ${c.name} exists on the source but not on the target`);
      else if (c.typeOid > 0 && c.typeOid < FIRST_USER_OID && tc.typeOid < FIRST_USER_OID && c.typeOid !== tc.typeOid) {
        problems.push(`column ${c.name} has type OID ${c.typeOid} on the source but ${tc.type} on the target`);
      }
    }
    if (ev.previous) {
      const now = new Set(ev.columns.map((c) => c.name));
      for (const p of ev.previous) {
        const tc = t.columns.get(p.name);
        if (!now.has(p.name) && tc && !tc.generated) problems.push(`column ${p.name} was dropped on the source but is still on the target`);
      }
    }
    if (problems.length) {
      throw new SchemaChangedError(`streaming: the definition of ${t.label} changed on the source (${problems.join('; ')}); DDL is not replicated, so replication stopped (everything up to ${where} is applied)`, {
        phase: 'streaming',
        object: t.label,
        hint: `apply the same ALTER TABLE ${t.label} … on the target, then run the same pgshift replicate command again (it resumes where it stopped)`,
      });
    }
  }

  async apply(c: Change): Promise<void> {
    switch (c.kind) {
      case 'insert':
        return this.insert(c.table, c.row);
      case 'update': {
        const t = await this.table(c.table);
        const set = this.writable(t, c.row);
        if (set.length === 0) return; // only unchanged TOAST / generated columns: nothing to write
        const keys = this.matchColumns(t, c.old, c.identity);
        const stmt = this.statement(t, `u${c.identity}`, [set, keys], () => updateSql(t, set, c.identity, keys, element));
        return this.queue('rows', t, [], [...set.map((k) => c.row[k]!), ...keys.map((k) => c.old[k]!)], stmt, 'UPDATE');
      }
      case 'delete': {
        const t = await this.table(c.table);
        const keys = this.matchColumns(t, c.old, c.identity);
        if (c.identity === 'key') return this.queue('delete', t, keys, keys.map((k) => c.old[k]!));
        const stmt = this.statement(t, `d${c.identity}`, [keys], () => deleteSql(t, c.identity, keys, element));
        return this.queue('rows', t, [], keys.map((k) => c.old[k]!), stmt, 'DELETE');
      }
      case 'truncate': {
        await this.flush();
        const ts = [];
        for (const id of c.tables) ts.push(await this.table(id));
        await this.client.query(truncateSql(ts, c.restartIdentity));
        return;
      }
    }
  }

  /** Send the queued changes (before any other statement, and before COMMIT). */
  async flush(): Promise<void> {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    let rowCount: number | null;
    let missing = 0;
    try {
      if (p.kind === 'rows') {
        const { rows } = await this.client.query({ name: 'pgshift-apply-rows', text: APPLY_ROWS_SQL, values: [p.stmt.text, p.rows] });
        missing = Number(rows[0].missing);
      } else {
        const arrays = p.cols.map((_, i) => p.rows.map((r) => r[i]!));
        ({ rowCount } = await this.client.query({ name: p.stmt.name, text: p.stmt.text, values: arrays }));
        if (p.kind === 'delete' && rowCount !== null) missing = Math.max(0, p.rows.length - rowCount);
      }
    } catch (err) {
      throw annotate(err, `${p.what} of ${p.rows.length} row(s) on ${p.table.label}`);
    }
    if (missing > 0) {
      this.missingRows += missing;
      if (this.missingRows <= 1000) {
        this.logger.warn(`replicate: ${missing} ${p.kind === 'insert' ? '' : 'UPDATE/DELETE '}change(s) on ${p.table.label} found no row on the target — the target differs from the source; run pgshift verify after catching up`);
      }
    }
  }

  private async insert(id: TableId, row: Row): Promise<void> {
    const t = await this.table(id);
    const cols = this.writable(t, row);
    return this.queue('insert', t, cols, cols.map((c) => row[c]!));
  }

  private async queue(kind: PendingRows['kind'], t: TargetTable, cols: string[], values: Value[], rowsStmt?: Statement & { name: string }, what?: string): Promise<void> {
    const p = this.pending;
    const same = p && p.kind === kind && p.table === t && (kind === 'rows' ? p.stmt === rowsStmt : p.cols.length === cols.length && p.cols.every((c, i) => c === cols[i]));
    if (p && !same) await this.flush();
    if (!this.pending) {
      const stmt =
        rowsStmt ?? (kind === 'insert' ? this.statement(t, 'i', [cols], () => insertSql(t, cols)) : this.statement(t, 'dk', [cols], () => deleteByKeysSql(t, cols)));
      this.pending = { kind, what: what ?? (kind === 'insert' ? 'INSERT' : 'DELETE'), table: t, cols, stmt, rows: [], bytes: 0 };
    }
    const q = this.pending!;
    q.rows.push(values);
    for (const v of values) q.bytes += v === null ? 1 : v.length;
    if (q.rows.length >= BATCH_ROWS || q.bytes >= BATCH_BYTES) await this.flush();
  }

  /** Columns of a row the target may be written with: present, not generated. Unknown columns mean DDL. */
  private writable(t: TargetTable, row: Row): string[] {
    const out: string[] = [];
    for (const name of Object.keys(row)) {
      const col = t.columns.get(name);
      if (!col) throw this.missingColumn(t, name);
      if (!col.generated) out.push(name);
    }
    return out;
  }

  private matchColumns(t: TargetTable, old: Row, identity: 'key' | 'full'): string[] {
    const cols = this.writable(t, old);
    if (cols.length === 0 && identity === 'key') {
      throw new PgshiftError(`streaming: a change to ${t.label} came without its replica-identity values`, { phase: 'streaming', object: t.label });
    }
    return cols;
  }

  private missingColumn(t: TargetTable, name: string): SchemaChangedError {
    return new SchemaChangedError(`streaming: column ${name} of ${t.label} exists on the source but not on the target; DDL is not replicated`, {
      phase: 'streaming',
      object: t.label,
      hint: `apply the same ALTER TABLE ${t.label} ADD COLUMN … on the target, then run the same pgshift replicate command again`,
    });
  }

  private statement(t: TargetTable, kind: string, colLists: string[][], build: () => Statement): Statement & { name: string } {
    const k = `${key(t.id)}\u0000${kind}\u0000${colLists.map((l) => l.join('\u0001')).join('\u0000')}`;
    let s = this.statements.get(k);
    if (!s) {
      const built = build();
      s = { ...built, name: `pgshift-${createHash('sha1').update(built.text).digest('hex').slice(0, 20)}` };
      this.statements.set(k, s);
    }
    return s;
  }

}

function annotate(err: unknown, what: string): unknown {
  if (err instanceof PgshiftError) return err;
  if (err instanceof Error) err.message = `${what}: ${err.message}`;
  return err;
}

export { tableLabel };
