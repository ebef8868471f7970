// The verify report: what `pgshift verify --json` prints and what verifyDatabases() returns.

export type RowDifferenceKind = 'missing' | 'extra' | 'different';

export interface ColumnDifference {
  column: string;
  source: string | null;
  target: string | null;
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
  /** Rows missing on the target / extra on the target / changed, among those located. */
  missingRows: number;
  extraRows: number;
  differentRows: number;
  differences: RowDifference[];
  /** More differences exist than were listed (--max-differences). */
  truncated: boolean;
  buckets: number;
  differingBuckets: number;
  notes: string[];
}

export interface SequenceValue {
  lastValue: string;
  isCalled: boolean;
}

export interface SequenceReport {
  sequence: string;
  match: boolean;
  source: SequenceValue | null;
  target: SequenceValue | null;
}

export type SchemaObjectKind =
  | 'schema'
  | 'table'
  | 'column'
  | 'index'
  | 'constraint'
  | 'trigger'
  | 'view'
  | 'materialized view'
  | 'function'
  | 'sequence'
  | 'type'
  | 'extension';

export interface SchemaDifference {
  kind: SchemaObjectKind;
  /** schema.table.column, schema.index_name on schema.table, schema.fn(args)… */
  object: string;
  /** missing: on the source only; extra: on the target only; different: both, definitions differ. */
  difference: 'missing' | 'extra' | 'different';
  /** A note does not make the databases unequal (e.g. another extension version). */
  severity: 'difference' | 'note';
  source: string | null;
  target: string | null;
}

export interface SideInfo {
  url: string;
  serverVersion: string;
  major: number;
}

export interface VerifyReport {
  ok: boolean;
  source: SideInfo;
  target: SideInfo;
  tables: TableReport[];
  sequences: SequenceReport[];
  schema: SchemaDifference[];
  summary: {
    tables: number;
    tablesDiffering: number;
    rowsCompared: number;
    sequencesDiffering: number;
    schemaDifferences: number;
    schemaNotes: number;
  };
  /** The session settings both sides ran under (so anyone can reproduce a checksum by hand). */
  settings: Record<string, string>;
  seconds: number;
}
