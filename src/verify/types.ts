// The verify report: what `pgshift verify --json` prints and what verifyDatabases() returns.
import type { RoundTripCounts } from '../db/roundtrips.js';

export type RowDifferenceKind = 'missing' | 'extra' | 'different';

export interface ColumnDifference {
  column: string;
  /** The value's text; null: SQL NULL. Above 200 bytes: "<N bytes, md5 …>", with the numbers below. */
  source: string | null;
  target: string | null;
  sourceBytes?: number;
  sourceMd5?: string;
  targetBytes?: number;
  targetMd5?: string;
}

export interface RowDifference {
  /** missing: on the source, not on the target; extra: on the target only; different: same key, other values. */
  kind: RowDifferenceKind;
  /** Keyed tables: every key column → its value as the server prints it. */
  key?: Record<string, string | null>;
  /** Multiset tables: how many copies of this row are missing / extra. */
  count?: number;
  /** Multiset tables: the row text (record form), for a few examples. */
  row?: string;
  /** Keyed "different" rows (the first few): which columns differ and how. */
  columns?: ColumnDifference[];
}

export interface TableReport {
  table: string;
  kind: 'table' | 'materialized view';
  match: boolean;
  sourceRows: number | null;
  targetRows: number | null;
  /** Key used to locate rows, or null when compared as a multiset (no primary key). */
  primaryKey: string[] | null;
  comparedAs: 'key' | 'multiset' | 'not compared';
  /** Rows missing on the target / extra on the target / changed: true totals, whatever --max-differences lists. */
  missingRows: number;
  extraRows: number;
  differentRows: number;
  differences: RowDifference[];
  /** More differences exist than were listed (--max-differences); the counts above still include them. */
  truncated: boolean;
  buckets: number;
  differingBuckets: number;
  notes: string[];
}

/**
 * A materialized view: derived data, reported apart from the tables. Its row counts and differences are as for
 * a table (compared as a multiset); `match` also needs the same definition and the same populated state.
 */
export interface DerivedReport extends TableReport {
  kind: 'materialized view';
  /** relispopulated on each side (WITH DATA / WITH NO DATA); null: absent on that side. */
  populated: { source: boolean | null; target: boolean | null };
  /** The definition as the schema comparison saw it (missing: on the source only; extra: on the target only). */
  definition: 'equal' | 'different' | 'missing' | 'extra';
  /** What to run; null when equal. */
  remedy: string | null;
  /** Online: contents behind the source while the replication runs (it refreshes them at its finish). */
  expected?: string;
}

export interface SequenceValue {
  lastValue: string;
  isCalled: boolean;
}

export interface SequenceReport {
  sequence: string;
  match: boolean;
  /** Online: not a difference while the replication runs (sequences are set at its finish). */
  expected?: string;
  source: SequenceValue | null;
  target: SequenceValue | null;
}

/** The object classes verify compares (see schema-sql*.ts): one per kind of `pg_dump --schema-only` entry. */
export type SchemaObjectKind =
  | 'schema'
  | 'table'
  | 'column'
  | 'index'
  | 'constraint'
  | 'trigger'
  | 'policy'
  | 'rule'
  | 'statistics'
  | 'view'
  | 'materialized view'
  | 'function'
  | 'procedure'
  | 'aggregate'
  | 'sequence'
  | 'type'
  | 'operator'
  | 'operator class'
  | 'operator family'
  | 'cast'
  | 'collation'
  | 'text search configuration'
  | 'text search dictionary'
  | 'foreign data wrapper'
  | 'foreign server'
  | 'user mapping'
  | 'event trigger'
  | 'language'
  | 'access method'
  | 'conversion'
  | 'transform'
  | 'extension'
  | 'comment'
  | 'privileges'
  | 'default privileges'
  | 'owner';

export interface SchemaDifference {
  kind: SchemaObjectKind;
  /** schema.table.column, schema.index_name on schema.table, schema.fn(args)… */
  object: string;
  /** missing: on the source only; extra: on the target only; different: both, definitions differ. */
  difference: 'missing' | 'extra' | 'different';
  /** A note does not make the databases unequal (e.g. another extension version). */
  severity: 'difference' | 'note';
  /** Online: why this is expected while the replication runs (switched off on the target until its finish). */
  expected?: string;
  source: string | null;
  target: string | null;
}

export interface LargeObjectDifference {
  /** missing: on the source only; extra: on the target only; different: same OID, other contents. */
  kind: 'missing' | 'extra' | 'different';
  oid: string;
  sourceBytes: number | null;
  targetBytes: number | null;
  /** md5 over the md5 of each 1 MB slice (what verify compares). */
  sourceMd5?: string;
  targetMd5?: string;
}

export interface LargeObjectReport {
  match: boolean;
  sourceCount: number;
  targetCount: number;
  /** True totals; `differences` lists at most --max-differences of them. */
  missing: number;
  extra: number;
  different: number;
  differences: LargeObjectDifference[];
  truncated: boolean;
}

/**
 * What pgshift left on the target when verify ran: what the next steps are built for (remedy.ts). `running`: the
 * pgshift run holding the target's run lock at that moment (who, since when), or null.
 */
export type TargetState =
  | { kind: 'empty' }
  | { kind: 'unmanaged' }
  | { kind: 'copy'; finished: boolean; mode: 'full' | 'schema-only' | 'data-only'; filter: { include: string[]; exclude: string[] }; running: string | null }
  | { kind: 'replication'; capture: 'pgoutput' | 'triggers'; copyDone: boolean; caughtUp: boolean; running: string | null }
  | { kind: 'unknown'; reason: string };

/** One next step: what to do, and the exact statement (on the target) and command (URLs in place of `…`). */
export interface NextStep {
  about: 'target' | 'tables' | 'derived' | 'sequences' | 'schema' | 'large objects';
  text: string;
  sql?: string;
  command?: string;
}

export interface SideInfo {
  url: string;
  serverVersion: string;
  major: number;
}

/** An online verify: both sides read at one position while the replication went on (online.ts). */
export interface OnlineReport {
  capture: 'pgoutput' | 'triggers';
  /** The verify point (pgshift.verify_point id on the target). */
  point: string;
  /** Where both snapshots stand: an LSN (pgoutput), or the source pg_snapshot the applier's batch read. */
  position: string;
  /** The last position the target had committed at the point. */
  appliedPosition: string;
  /** How long the applier stopped taking new changes for the point (ms). */
  pauseMs: number;
  /** pgoutput: of that, how long it was held while the verify created its slot. */
  heldMs: number | null;
  /** How long the verify took to get both snapshots (ms). */
  alignMs: number;
  /** How far the applier was behind the source when the comparison ended (seconds since its last applied commit). */
  lagAfterSeconds: number | null;
  sequences: 'synced at the finish';
}

export interface VerifyReport {
  ok: boolean;
  /** Online verify (a replication was running): where and how; null: the source and target as they were. */
  online: OnlineReport | null;
  source: SideInfo;
  target: SideInfo;
  /** Tables (row data). */
  tables: TableReport[];
  /** Materialized views (derived data): never lost rows, still a difference (exit 1). */
  derived: DerivedReport[];
  sequences: SequenceReport[];
  schema: SchemaDifference[];
  largeObjects: LargeObjectReport;
  /** What this run did not compare (grants and owners unless --acl/--owners, publications…). */
  notCompared: string[];
  summary: {
    tables: number;
    tablesDiffering: number;
    /** Materialized views whose contents, populated state or definition differ. */
    derivedDiffering: number;
    rowsCompared: number;
    sequencesDiffering: number;
    schemaDifferences: number;
    schemaNotes: number;
    largeObjectsDiffering: number;
  };
  /** empty, unmanaged (no pgshift state), copy (finished or not), replication, unknown. */
  targetState: TargetState;
  /** What to do, fitted to targetState; empty when ok. */
  nextSteps: NextStep[];
  /** The session settings both sides ran under (so anyone can reproduce a checksum by hand). */
  settings: Record<string, string>;
  seconds: number;
  /** Round trips this verify made per side and phase (verify catalog, verify data), and connections opened (#30). */
  roundTrips?: RoundTripCounts;
}
