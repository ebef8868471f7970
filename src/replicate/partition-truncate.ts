// TRUNCATE of a single partition is not replicated: with publish_via_partition_root, PostgreSQL publishes a
// partition's changes as its root's, but skips a TRUNCATE that names the partition itself (pgoutput sends only
// relations published as themselves). The target would keep the rows. No trace of it reaches the stream, so it is
// found on the source: a TRUNCATE gives the partition a new relfilenode. The leaves' relfilenodes are recorded
// before the initial copy; at the catch-up, a leaf whose file changed (TRUNCATE, or a rewrite: VACUUM FULL,
// CLUSTER, ALTER … TYPE) has its rows counted on both sides: equal counts (a rewrite) record the new file; a
// difference stops the run (exit 1) — never "caught up" over a partition the target still holds rows of.
import type { Client } from '../db/connect.js';
import { displayName, qualify } from '../db/ident.js';
import { StoppedError } from '../errors.js';

interface Leaf {
  schema: string;
  name: string;
  file: string;
}

/** Leaf partitions under the given relations (quoted qualified names; plain tables have none), with their files. */
async function leaves(src: Client, relations: string[]): Promise<Leaf[]> {
  const { rows } = await src.query(
    `SELECT n.nspname AS schema, c.relname AS name, c.relfilenode::text AS file
       FROM unnest($1::text[]) AS r(name)
       JOIN pg_class root ON root.oid = to_regclass(r.name) AND root.relkind = 'p'
       CROSS JOIN LATERAL pg_partition_tree(root.oid) t
       JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE t.isleaf AND t.level > 0 AND c.relkind = 'r'`,
    [relations],
  );
  return rows;
}

/** Rows of the partition itself, as text; 'no table' when it does not exist there. */
async function rowCount(c: Client, l: Leaf): Promise<string> {
  const { rows } = await c.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [qualify(l.schema, l.name)]);
  if (!rows[0].ok) return 'no table';
  return (await c.query(`SELECT count(*)::int8::text AS n FROM ONLY ${qualify(l.schema, l.name)}`)).rows[0].n;
}

const key = (l: { schema: string; name: string }) => JSON.stringify([l.schema, l.name]);

async function recorded(ctl: Client): Promise<Record<string, string> | null> {
  const { rows } = await ctl.query(`SELECT options->'partitionFiles' AS f FROM pgshift.replication WHERE id = 1`);
  return (rows[0]?.f as Record<string, string> | null) ?? null;
}

async function save(ctl: Client, files: Record<string, string>): Promise<void> {
  await ctl.query(`UPDATE pgshift.replication SET options = jsonb_set(options, '{partitionFiles}', $1::jsonb) WHERE id = 1`, [JSON.stringify(files)]);
}

/**
 * Records the files of the partitions not recorded yet (all of them before the initial copy; partitions created
 * later when they first appear). Returns what is recorded now.
 */
export async function recordPartitionFiles(src: Client, ctl: Client, relations: string[]): Promise<Record<string, string>> {
  const have = (await recorded(ctl)) ?? {};
  let added = false;
  for (const l of await leaves(src, relations)) {
    if (have[key(l)] === undefined) {
      have[key(l)] = l.file;
      added = true;
    }
  }
  if (added) await save(ctl, have);
  return have;
}

/**
 * The catch-up check: stops (exit 1) when a truncated partition's rows differ between the two sides. `afterFailure`
 * (the apply failed on a unique key: rows written again after a TRUNCATE): any changed file is reported.
 */
export async function checkTruncatedPartitions(src: Client, ctl: Client, relations: string[], afterFailure = false): Promise<void> {
  const have = (await recorded(ctl)) ?? {};
  const differ: string[] = [];
  let changed = false;
  for (const l of await leaves(src, relations)) {
    const before = have[key(l)];
    if (before === undefined || before === l.file) {
      if (before === undefined) {
        have[key(l)] = l.file;
        changed = true;
      }
      continue;
    }
    const [s, t] = await Promise.all([rowCount(src, l), rowCount(ctl, l)]);
    if (s === t && !afterFailure) {
      have[key(l)] = l.file;
      changed = true;
    } else differ.push(`${displayName(l.schema, l.name)} (source ${s} rows, target ${t})`);
  }
  if (changed) await save(ctl, have);
  if (differ.length) {
    const first = differ[0]!.slice(0, differ[0]!.indexOf(' ('));
    throw new StoppedError(
      `replicate: not caught up: partition(s) ${differ.join(', ')} were truncated or rewritten on the source since replication started, and their rows differ: PostgreSQL does not replicate a TRUNCATE of a single partition (only of its partitioned table); everything else is applied`,
      {
        phase: 'catch-up',
        object: first,
        hint: `with writes to it stopped, see the rows with pgshift verify --source … --target … --include '${first}'; if the source truncated it and nothing was written to it since, run TRUNCATE ONLY on the target partition and run the same command again (it continues once the counts match); otherwise copy that partition again. To avoid it, TRUNCATE the partitioned table, or DELETE from the partition`,
      },
    );
  }
}
