// Tables of a replication's selection (the --include/--exclude recorded by the first run) that appeared on the
// source after it started. Neither path picks them up by itself: pgoutput's publication lists the tables of the
// start (new partitions of a listed partitioned table are published, but must exist on the target), and trigger
// capture has triggers only on the tables of the start (a new partition gets none: rows written straight into
// it are not logged). They are looked for at every catch-up check and named, with the exact next step: a run
// never says "caught up" while a table of its selection is missing.
import type { Client } from '../db/connect.js';
import { compileFilter, type TableFilter } from '../catalog/filter.js';
import { userSchemaSql } from '../catalog/system.js';
import { displayName, qualify } from '../db/ident.js';
import { StoppedError, UsageError } from '../errors.js';

const raw = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;

/** A table of the selection that is not replicated (with its partitions, new as well). */
export interface NewTable {
  display: string;
  /** schema.name unquoted of it and of its new partitions: what --exclude must name to leave them out. */
  patterns: string[];
  /** A new partition of a table that IS replicated: its parent (raw schema.name). */
  partitionOf: string | null;
}

/** New tables grouped under their topmost new ancestor (`parent` is raw schema.name, as TableInfo has it). */
function group(fresh: { schema: string; name: string; display: string; parent: string | null }[]): NewTable[] {
  const byRaw = new Map(fresh.map((t) => [raw(t), t]));
  const top = (t: (typeof fresh)[number]): (typeof fresh)[number] => (t.parent && byRaw.has(t.parent) ? top(byRaw.get(t.parent)!) : t);
  const out = new Map<string, NewTable>();
  for (const t of fresh) {
    const root = top(t);
    let g = out.get(raw(root));
    if (!g) out.set(raw(root), (g = { display: root.display, patterns: [], partitionOf: root.parent }));
    g.patterns.push(raw(t));
  }
  return [...out.values()];
}

/** A partition the publication carries (via its root) that the target lacks, with the statement creating it. */
export interface MissingPartition {
  display: string;
  create: string;
}

interface SourceTable {
  oid: number;
  schema: string;
  name: string;
  display: string;
  relkind: 'r' | 'p';
  unlogged: boolean;
  /** Parent of a partition or inheritance child, raw schema.name. */
  parent: string | null;
}

// Only what the check needs (listTables also reads sizes, keys and columns: ~0.3 s per call at 300 tables).
const SOURCE_TABLES_SQL = `
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind, c.relpersistence = 'u' AS unlogged,
       (SELECT format('%s.%s', pn.nspname, p.relname) FROM pg_inherits i
          JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
         WHERE i.inhrelid = c.oid ORDER BY i.inhseqno LIMIT 1) AS parent
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND ${userSchemaSql('n.nspname')}
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 2, 3`; // a stable order for what is named (--exclude suggestions came out in catalog order)

/** Plain and partitioned tables of the selection on the source now (the same rule as the catalog's listTables). */
async function sourceTables(src: Client, filter: Partial<TableFilter>): Promise<SourceTable[]> {
  const keep = compileFilter(filter);
  const { rows } = await src.query(SOURCE_TABLES_SQL);
  return rows
    .filter((r) => keep(r.schema, r.name))
    .map((r) => ({
      oid: Number(r.oid),
      schema: r.schema,
      name: r.name,
      display: displayName(r.schema, r.name),
      relkind: r.relkind,
      unlogged: r.unlogged,
      parent: r.parent,
    }));
}

/** "schema.name" of every table the publication carries: its tables and all their partitions, today's included. */
export async function publishedTables(src: Client, publication: string): Promise<Set<string>> {
  const { rows } = await src.query(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
       CROSS JOIN LATERAL (SELECT pr.prrelid AS relid UNION SELECT relid FROM pg_partition_tree(pr.prrelid)) t
       JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE p.pubname = $1`,
    [publication],
  );
  return new Set(rows.map(raw));
}

/** pgoutput: tables of the selection the publication does not carry, and carried partitions the target lacks. */
export async function unpublishedTables(
  src: Client,
  ctl: Client,
  publication: string,
  filter: Partial<TableFilter>,
  known?: Set<string>,
): Promise<{ tables: NewTable[]; partitions: MissingPartition[] }> {
  const published = known ?? (await publishedTables(src, publication));
  // What the publication could carry (as catalog/tables.ts kinds it: an unlogged plain table is copied once only).
  const selected = (await sourceTables(src, filter)).filter((t) => !(t.unlogged && t.relkind === 'r' && !t.parent));
  const tables = group(selected.filter((t) => !published.has(raw(t))));
  // Carried partitions (selected or not: rows of a published root land in them) that the target does not have.
  const carried = [...published];
  const { rows: absent } = await ctl.query(
    `SELECT x.s || '.' || x.n AS p FROM unnest($1::text[], $2::text[]) AS x(s, n) WHERE to_regclass(format('%I.%I', x.s, x.n)) IS NULL`,
    [carried.map((c) => c.slice(0, c.indexOf('.'))), carried.map((c) => c.slice(c.indexOf('.') + 1))],
  );
  const partitions = absent.length
    ? await partitionStatements(
        src,
        absent.map((r) => r.p as string),
      )
    : [];
  return { tables, partitions };
}

/** CREATE TABLE … PARTITION OF … for partitions of the source (raw schema.name; others are skipped). */
async function partitionStatements(src: Client, names: string[]): Promise<MissingPartition[]> {
  const { rows } = await src.query(
    `SELECT n.nspname AS schema, c.relname AS name, pn.nspname AS pschema, p.relname AS pname,
            pg_get_expr(c.relpartbound, c.oid) AS bound, CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partkey
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
      WHERE c.relispartition AND (n.nspname || '.' || c.relname) = ANY($1::text[])
      ORDER BY p.relname, c.relname`,
    [names],
  );
  return rows.map((r) => ({
    display: displayName(r.schema, r.name),
    create: `CREATE TABLE ${qualify(r.schema, r.name)} PARTITION OF ${qualify(r.pschema, r.pname)} ${r.bound}${r.partkey ? ` PARTITION BY ${r.partkey}` : ''}`,
  }));
}

/** Trigger capture: tables of the selection without capture triggers (new tables, new partitions). */
export async function uncapturedTables(src: Client, filter: Partial<TableFilter>, captured: { oid: number }[]): Promise<NewTable[]> {
  const have = new Set(captured.map((t) => Number(t.oid)));
  return group((await sourceTables(src, filter)).filter((t) => !have.has(t.oid)));
}

/** When the gap was found: at the start of a run, while streaming (a row for a missing partition), or at the catch-up. */
export type GapCheck = 'preflight' | 'streaming' | 'catch-up';

const STOPPED: Record<GapCheck, string> = {
  preflight: 'replicate: stopped before streaming (nothing applied by this run)',
  streaming: 'replicate: stopped while streaming (everything before the first row for it is applied)',
  'catch-up': 'replicate: not caught up (everything else is applied)',
};

/** What is missing and the exact next step (exit 1). */
export function newTablesError(
  path: 'pgoutput' | 'triggers',
  tables: NewTable[],
  partitions: MissingPartition[] = [],
  when: GapCheck = 'catch-up',
): StoppedError {
  const g = describeGaps(path, tables, partitions);
  return new StoppedError(`${STOPPED[when]}: ${g.what}`, { phase: when, object: partitions[0]?.display ?? tables[0]?.display, hint: g.next });
}

/** The warning at the start of a run that streams on (it stops at the catch-up check). */
export function newTablesWarning(path: 'pgoutput' | 'triggers', tables: NewTable[]): string {
  const g = describeGaps(path, tables, []);
  return `replicate: ${g.what}; --until-caught-up stops at the catch-up check (exit 1) until then. Next: ${g.next}`;
}

function describeGaps(path: 'pgoutput' | 'triggers', tables: NewTable[], partitions: MissingPartition[]): { what: string; next: string } {
  const parts: string[] = [];
  const steps: string[] = [];
  if (partitions.length) {
    parts.push(
      `partition(s) ${partitions.map((p) => p.display).join(', ')} of replicated tables exist on the source but not on the target (rows routed to them cannot be applied)`,
    );
    steps.push(`run on the target:\n    ${partitions.map((p) => `${p.create};`).join('\n    ')}\n  then run the same pgshift replicate command again`);
  }
  if (tables.length) {
    const verb = path === 'pgoutput' ? 'replicated' : 'captured';
    const them = tables.length > 1 ? 'them' : 'it';
    parts.push(
      `${tables.map((t) => t.display).join(', ')} ${tables.length > 1 ? 'were' : 'was'} created on the source after this replication started: in its selection but neither copied nor ${verb}`,
    );
    const over = `start over: pgshift cleanup --source … --target …, empty the target, and run pgshift replicate again (the initial copy then includes ${them})`;
    const partition = path === 'triggers' ? tables.filter((t) => t.partitionOf) : [];
    if (partition.length) {
      steps.push(`rows written straight into a partition created after the start (${partition.map((t) => t.display).join(', ')}) are not captured, so ${over}`);
    } else {
      steps.push(
        `to leave ${them} out, run the same command with ${tables.flatMap((t) => t.patterns.map((p) => `--exclude '${p}'`)).join(' ')} (added to the recorded selection); to migrate ${them}, ${over}`,
      );
    }
  }
  return { what: parts.join('; '), next: steps.join('\n  or: ') };
}

/**
 * A rerun's --exclude adds to the recorded selection, for tables created after the start only: excluding a table
 * that is replicated would leave the target with a table that silently stops changing.
 */
export function widenExclude(recorded: Partial<TableFilter>, more: string[], replicated: { schema: string; name: string }[]): Partial<TableFilter> {
  const next = { ...recorded, exclude: [...(recorded.exclude ?? []), ...more.filter((p) => !(recorded.exclude ?? []).includes(p))] };
  const keep = compileFilter({ exclude: more });
  const hit = replicated.filter((t) => !keep(t.schema, t.name));
  if (hit.length) {
    throw new UsageError(
      `--exclude ${more.join(', ')} on a rerun would leave out ${hit.map(raw).join(', ')}, which ${hit.length > 1 ? 'are' : 'is'} already replicated; nothing was changed`,
      {
        phase: 'preflight',
        hint: 'a rerun can only leave out tables created after the start; to change the selection otherwise, start over (pgshift cleanup --source … --target …)',
      },
    );
  }
  return next;
}

/** Records the widened selection in the target state (pgshift.replication or pgshift.capture). */
export async function recordFilter(ctl: Client, table: 'replication' | 'capture', filter: Partial<TableFilter>): Promise<void> {
  const sql =
    table === 'replication'
      ? `UPDATE pgshift.replication SET options = jsonb_set(options, '{filter}', $1::jsonb) WHERE id = 1`
      : `UPDATE pgshift.capture SET options = jsonb_set(options, '{filter}', $1::jsonb) WHERE id = 1`;
  await ctl.query(sql, [JSON.stringify(filter)]);
}
