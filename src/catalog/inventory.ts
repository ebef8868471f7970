// `pgshift inventory`: what is in the source and what will get in the way of moving it.
import type { ConnectionSpec } from '../config.js';
import { withClient, type Client } from '../db/connect.js';
import { classifyError } from '../errors.js';
import { selectPgTools } from '../schema/pgdump.js';
import { CAPTURE_SCHEMA } from './system.js';
import { readAccess } from './access.js';
import { requireIncludesMatched, type TableFilter } from './filter.js';
import { listSequences, listTables, type TableInfo } from './tables.js';
import { privilegedObjects, type PrivilegedObjects } from './privileged.js';
import { warningsFor } from './inventory-warnings.js';
import { selfReferencingViews, type SelfReferencingView } from './views.js';

export { warningsFor };

export interface Warning {
  code: string;
  message: string;
  remedy: string;
  object?: string;
}

export interface InventoryTable {
  schema: string;
  name: string;
  kind: TableInfo['kind'];
  parent: string | null;
  /** Estimated rows; null when unknown (never analyzed, or a partitioned parent: see its partitions). */
  rows: number | null;
  /** Where `rows` comes from: the planner statistics, an estimate from the table's pages, or nothing. */
  rowsSource: 'statistics' | 'pages' | 'empty' | 'unknown';
  /** Heap + TOAST bytes: what a copy moves. */
  bytes: number;
  tableBytes: number;
  toastBytes: number;
  indexBytes: number;
  primaryKey: string[] | null;
  replicaIdentity: TableInfo['replicaIdentity'];
  /** UPDATE and DELETE on this table can be replicated logically. */
  replicable: boolean;
  generatedColumns: string[];
  identityColumns: string[];
  readable: boolean;
  /** Row-level security would hide rows of it from this role. */
  rowSecurityHidesRows: boolean;
}

export interface Inventory {
  source: { url: string; serverVersion: string; major: number; database: string; databaseBytes: number; user: string };
  role: { name: string; superuser: boolean; replication: boolean; databaseOwner: boolean };
  replication: {
    walLevel: string;
    maxReplicationSlots: number;
    usedReplicationSlots: number;
    freeReplicationSlots: number;
    maxWalSenders: number;
    usedWalSenders: number;
    available: boolean;
    reason: string | null;
    /** Replication slots on the source and the WAL each one keeps on disk (a stalled one can fill the disk). */
    slots: { name: string; plugin: string | null; database: string | null; active: boolean; retainedBytes: number | null }[];
  };
  /**
   * The pg_dump/pg_restore pair copy would use (--pg-bin, else the newest found): canDump — its major is at least
   * the source's (else copy refuses); fitsTarget — at least the target's too (null without --target; else a warning).
   */
  pgDump: { path: string | null; dir: string | null; version: string | null; major: number | null; canDump: boolean; fitsTarget: boolean | null };
  /** Views defined in terms of themselves: pg_dump writes them in a form no server restores (copy refuses them). */
  selfReferencingViews: SelfReferencingView[];
  tables: InventoryTable[];
  sequences: { schema: string; name: string; ownedBy: string | null }[];
  extensions: {
    name: string;
    version: string;
    schema: string;
    /** The target has it installed, or its role may create it (null: no --target given). */
    availableOnTarget: boolean | null;
    /** installed: already there; creatable: the target role may CREATE EXTENSION it; not-creatable: the package is
     * there but only a superuser may create it (untrusted); missing: no package on the target server. */
    onTarget: 'installed' | 'creatable' | 'not-creatable' | 'missing' | null;
  }[];
  largeObjects: { count: number; bytes: number };
  materializedViews: { schema: string; name: string; bytes: number; populated: boolean }[];
  triggers: { schema: string; table: string; name: string; enabled: boolean }[];
  internalSchemas: string[];
  /** pgshift's trigger capture is installed on the source (schema _pgshift). */
  captureInstalled: boolean;
  /** Objects only a superuser may create on the target (C functions, operator classes…); event triggers, which copy skips, apart. */
  privileged: PrivilegedObjects;
  target: { url: string; serverVersion: string; major: number; user: string; superuser: boolean } | null;
  warnings: Warning[];
}

async function one<T>(client: Client, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await client.query(sql, params);
  return rows[0] as T;
}

async function readServer(client: Client) {
  return one<{ version: string; num: string; db: string; bytes: string; user: string }>(
    client,
    `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
            current_database() AS db, pg_database_size(current_database()) AS bytes, current_user AS user`,
  );
}

async function readRole(client: Client) {
  return one<{ superuser: boolean; replication: boolean; owner: boolean }>(
    client,
    `SELECT r.rolsuper AS superuser, r.rolreplication AS replication,
            pg_has_role(current_user, d.datdba, 'USAGE') AS owner
       FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
  );
}

async function readReplication(client: Client) {
  return one<{ wal_level: string; max_slots: string; used_slots: string; max_senders: string; used_senders: string }>(
    client,
    `SELECT current_setting('wal_level') AS wal_level,
            current_setting('max_replication_slots') AS max_slots,
            (SELECT count(*) FROM pg_replication_slots) AS used_slots,
            current_setting('max_wal_senders') AS max_senders,
            (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender') AS used_senders`,
  );
}

/** Whether logical replication can run from this source, and why not (shared with estimate). */
export async function logicalReplicationStatus(client: Client): Promise<{ available: boolean; reason: string | null }> {
  const role = await readRole(client);
  const repl = await readReplication(client);
  const reason = replicationVerdict(
    role,
    repl.wal_level,
    Number(repl.max_slots) - Number(repl.used_slots),
    Number(repl.max_senders) - Number(repl.used_senders),
  );
  return { available: reason === null, reason };
}

function replicationVerdict(role: { superuser: boolean; replication: boolean }, walLevel: string, freeSlots: number, freeSenders: number): string | null {
  if (!role.superuser && !role.replication) {
    return 'logical replication is not available from this source: the role lacks REPLICATION — as on Heroku classic plans';
  }
  if (walLevel !== 'logical') return `logical replication is not available from this source: wal_level is ${walLevel}, not logical`;
  if (freeSlots < 1) return 'logical replication is not available from this source: no free replication slot (max_replication_slots reached)';
  if (freeSenders < 1) return 'logical replication is not available from this source: no free WAL sender (max_wal_senders reached)';
  return null;
}

interface RowStats {
  reltuples: number;
  pages: number;
  /** Planner-style guess of one row's width (fixed-width columns by size, 32 bytes for the others). */
  width: number;
}

async function readRowEstimates(client: Client, oids: number[]): Promise<Map<number, RowStats>> {
  if (oids.length === 0) return new Map();
  const { rows } = await client.query(
    `SELECT c.oid::int8 AS oid, c.reltuples::float8 AS reltuples,
            CASE WHEN c.relkind IN ('r', 'm', 't') THEN pg_relation_size(c.oid) / current_setting('block_size')::int ELSE 0 END AS pages,
            24 + coalesce((SELECT sum(CASE WHEN a.attlen > 0 THEN a.attlen ELSE 32 END) FROM pg_attribute a
                            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), 0) AS width
       FROM pg_class c WHERE c.oid = ANY($1::oid[])`,
    [oids],
  );
  return new Map(rows.map((r) => [Number(r.oid), { reltuples: Number(r.reltuples), pages: Number(r.pages), width: Number(r.width) }]));
}

/**
 * reltuples is -1 until the first VACUUM/ANALYZE (a fresh restore): then estimate from the pages the way the
 * planner does (page size / row width), and say so; a partitioned parent holds no rows itself.
 */
function rowEstimate(t: TableInfo, s: RowStats | undefined): Pick<InventoryTable, 'rows' | 'rowsSource'> {
  if (t.relkind === 'p' || t.relkind === 'f' || !s) return { rows: null, rowsSource: 'unknown' };
  if (s.reltuples >= 0) return { rows: Math.round(s.reltuples), rowsSource: 'statistics' };
  if (s.pages === 0) return { rows: 0, rowsSource: 'empty' };
  return { rows: Math.round(s.pages * Math.floor((8192 - 24) / Math.max(s.width, 1))), rowsSource: 'pages' };
}

/** Per extension: installed on the target, creatable there by the target role (trusted, or superuser), or not. */
async function extensionsOnTarget(client: Client, names: string[]): Promise<Map<string, 'installed' | 'creatable' | 'not-creatable' | 'missing'>> {
  const { rows } = await client.query(
    `SELECT a.name, a.installed_version IS NOT NULL AS installed,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
              OR (coalesce((SELECT v.trusted FROM pg_available_extension_versions v WHERE v.name = a.name AND v.version = a.default_version), false)
                  AND has_database_privilege(current_database(), 'CREATE')) AS creatable
       FROM pg_available_extensions a WHERE a.name = ANY($1)`,
    [names],
  );
  return new Map(rows.map((r) => [r.name as string, r.installed ? 'installed' : r.creatable ? 'creatable' : 'not-creatable']));
}

export interface InventoryOptions {
  filter?: Partial<TableFilter>;
  pgBin?: string;
  /** An open connection to the source to read through (saves a connection: replicate's start-up). */
  sourceClient?: Client;
  /**
   * Only what replicate's preflight decides on: the server, the role, the replication settings and the tables
   * (kinds, keys, replica identity, access). Extensions, large objects, materialized views, triggers, slots,
   * sequences, privileged objects, self-referencing views, row estimates and the local pg_dump (a `--version`
   * process per installed major) are left empty: every rerun paid them, none of them changes its verdict.
   */
  replicationOnly?: boolean;
}

export async function takeInventory(source: ConnectionSpec, target?: ConnectionSpec, opts: InventoryOptions = {}): Promise<Inventory> {
  const read = async (client: Client) => {
    const server = await readServer(client);
    const role = await readRole(client);
    const repl = await readReplication(client);
    const tables = await listTables(client, opts.filter).catch((err) => {
      throw classifyError(err, 'inventory: reading the catalog of the source', { phase: 'inventory' });
    });
    requireIncludesMatched(opts.filter ?? {}, tables, 'inventory');
    const rowStats = opts.replicationOnly
      ? new Map<number, RowStats>()
      : await readRowEstimates(
          client,
          tables.map((t) => t.oid),
        );
    const access = await readAccess(
      client,
      tables.map((t) => t.oid),
    );
    if (opts.replicationOnly) {
      const none = { sequences: [], extensions: [], lo: { count: '0', bytes: '0' }, matviews: [], triggers: [], internal: [], slots: [], capture: false };
      const privileged = { count: 0, examples: [], eventTriggers: [], securityDefiner: [] };
      return { ...none, selfViews: [], privileged, server, role, repl, tables, rowStats, access };
    }
    const sequences = await listSequences(client, opts.filter);
    // Six parameterless catalog reads as one multi-statement query: one round trip instead of six (every
    // inventory, copy and replicate preflight pays them; over a 40 ms link that was 0.2 s).
    const batch = (await client.query(
      `SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
         FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname <> 'plpgsql' ORDER BY 1;
       -- pg_largeobject's size is what the objects occupy (summing their lengths would read them all); an empty
       -- catalog still has an index page, which is not "8 kB of large objects".
       SELECT count(*) AS count, CASE WHEN count(*) = 0 THEN 0 ELSE pg_relation_size('pg_catalog.pg_largeobject') END AS bytes
         FROM pg_largeobject_metadata;
       SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid) AS bytes, c.relispopulated AS populated
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'm' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2;
       SELECT n.nspname AS schema, c.relname AS table, t.tgname AS name, t.tgenabled <> 'D' AS enabled
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgshift')
          AND t.tgname NOT LIKE '\\_pgshift\\_capture\\_%' ORDER BY 1, 2, 3;
       SELECT nspname FROM pg_namespace WHERE nspname IN ('heroku_ext', '_heroku') ORDER BY 1;
       SELECT slot_name AS name, plugin, database, active,
              pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, restart_lsn)::int8 AS retained
         FROM pg_replication_slots ORDER BY slot_name`,
    )) as unknown as [
      { rows: Array<{ name: string; version: string; schema: string }> },
      { rows: Array<{ count: string; bytes: string }> },
      { rows: Array<{ schema: string; name: string; bytes: string; populated: boolean }> },
      { rows: Array<{ schema: string; table: string; name: string; enabled: boolean }> },
      { rows: Array<{ nspname: string }> },
      { rows: Array<{ name: string; plugin: string | null; database: string | null; active: boolean; retained: string | null }> },
    ];
    const extensions = batch[0].rows;
    const lo = batch[1].rows[0]!;
    const matviews = batch[2].rows;
    const triggers = batch[3].rows;
    const internal = batch[4].rows.map((r) => r.nspname);
    const slots = batch[5].rows.map((r) => ({
      name: r.name,
      plugin: r.plugin,
      database: r.database,
      active: r.active,
      retainedBytes: r.retained === null ? null : Number(r.retained),
    }));
    // Trigger capture (replicate --capture triggers) installs its log and triggers in this schema.
    const capture = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1`, [CAPTURE_SCHEMA])).rows[0]!.n > 0;
    const privileged = await privilegedObjects(client);
    const selfViews = await selfReferencingViews(client);
    return { selfViews, server, role, repl, tables, rowStats, access, sequences, extensions, lo, matviews, triggers, internal, slots, capture, privileged };
  };
  const inv = opts.sourceClient ? await read(opts.sourceClient) : await withClient(source, read);

  let targetInfo: Inventory['target'] = null;
  let onTarget: Map<string, Inventory['extensions'][number]['onTarget']> | null = null;
  if (target) {
    await withClient(target, async (client) => {
      const s = await readServer(client);
      const r = await readRole(client);
      targetInfo = { url: target.display, serverVersion: s.version, major: Math.floor(Number(s.num) / 10000), user: s.user, superuser: r.superuser };
      onTarget = await extensionsOnTarget(
        client,
        inv.extensions.map((e) => e.name),
      );
    });
  }

  const major = Math.floor(Number(inv.server.num) / 10000);
  const freeSlots = Number(inv.repl.max_slots) - Number(inv.repl.used_slots);
  const freeSenders = Number(inv.repl.max_senders) - Number(inv.repl.used_senders);
  const reason = replicationVerdict(inv.role, inv.repl.wal_level, freeSlots, freeSenders);
  const dump = opts.replicationOnly ? undefined : selectPgTools(opts.pgBin).tools;
  const targetMajor = (targetInfo as Inventory['target'])?.major;

  const tables: InventoryTable[] = inv.tables.map((t) => ({
    schema: t.schema,
    name: t.name,
    kind: t.kind,
    parent: t.parent,
    ...rowEstimate(t, inv.rowStats.get(t.oid)),
    bytes: t.tableBytes + t.toastBytes,
    tableBytes: t.tableBytes,
    toastBytes: t.toastBytes,
    indexBytes: t.indexBytes,
    primaryKey: t.primaryKey,
    replicaIdentity: t.replicaIdentity,
    replicable: t.relkind === 'p' ? true : t.identityColumns !== null,
    generatedColumns: t.columns.filter((c) => c.generated).map((c) => c.name),
    identityColumns: t.columns.filter((c) => c.identity).map((c) => c.name),
    readable: !inv.access.unreadable.has(t.oid),
    rowSecurityHidesRows: inv.access.hiddenByRls.has(t.oid),
  }));

  const result: Inventory = {
    source: {
      url: source.display,
      serverVersion: inv.server.version,
      major,
      database: inv.server.db,
      databaseBytes: Number(inv.server.bytes),
      user: inv.server.user,
    },
    role: { name: inv.server.user, superuser: inv.role.superuser, replication: inv.role.replication, databaseOwner: inv.role.owner },
    replication: {
      walLevel: inv.repl.wal_level,
      maxReplicationSlots: Number(inv.repl.max_slots),
      usedReplicationSlots: Number(inv.repl.used_slots),
      freeReplicationSlots: freeSlots,
      maxWalSenders: Number(inv.repl.max_senders),
      usedWalSenders: Number(inv.repl.used_senders),
      slots: inv.slots,
      available: reason === null,
      reason,
    },
    pgDump: {
      path: dump?.pgDump ?? null,
      dir: dump?.dir ?? null,
      version: dump?.version ?? null,
      major: dump?.major ?? null,
      canDump: dump !== undefined && dump.major >= major,
      fitsTarget: targetMajor === undefined ? null : dump !== undefined && dump.major >= targetMajor,
    },
    selfReferencingViews: inv.selfViews,
    tables,
    sequences: inv.sequences.map((s) => ({ schema: s.schema, name: s.name, ownedBy: s.ownedBy })),
    extensions: inv.extensions.map((e) => ({
      name: e.name,
      version: e.version,
      schema: e.schema,
      ...((): Pick<Inventory['extensions'][number], 'availableOnTarget' | 'onTarget'> => {
        const m = onTarget as Map<string, Inventory['extensions'][number]['onTarget']> | null;
        if (!m) return { availableOnTarget: null, onTarget: null };
        const status = m.get(e.name) ?? 'missing';
        return { availableOnTarget: status === 'installed' || status === 'creatable', onTarget: status };
      })(),
    })),
    largeObjects: { count: Number(inv.lo.count), bytes: Number(inv.lo.bytes) },
    materializedViews: inv.matviews.map((m) => ({ schema: m.schema, name: m.name, bytes: Number(m.bytes), populated: m.populated })),
    triggers: inv.triggers,
    internalSchemas: inv.internal,
    captureInstalled: inv.capture,
    privileged: inv.privileged,
    target: targetInfo,
    warnings: [],
  };
  result.warnings = warningsFor(result);
  return result;
}
