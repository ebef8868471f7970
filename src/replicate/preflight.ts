// Replicate preflight: nothing is created on either side until every check passed. The findings come from
// `pgshift inventory` (wal_level, REPLICATION, free slots and WAL senders, replica identity per table).
import type { ConnectionSpec } from '../config.js';
import type { TableFilter } from '../catalog/filter.js';
import { takeInventory, type Inventory, type InventoryTable } from '../catalog/inventory.js';
import type { Client } from '../db/connect.js';
import { qualify } from '../db/ident.js';
import { classifyError, PermissionError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';

export interface ReplicationPlan {
  inventory: Inventory;
  /** Quoted names for the publication and the applier's switches: plain tables and partition roots. */
  relations: string[];
  /** Tables whose changes logical replication cannot carry (unlogged, foreign): copied once, then not kept up. */
  notReplicated: string[];
  /** Tables --fix-replica-identity set to REPLICA IDENTITY FULL in this run (quoted names). */
  fixedIdentity: string[];
}

const name = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;

/** Members of these roles may replicate on managed services (RDS/Aurora, Azure, Cloud SQL). */
const MANAGED_REPLICATION_ROLES = ['rds_replication', 'azure_pg_admin', 'cloudsqlsuperuser'];

export async function managedReplicationRole(src: Client): Promise<string | null> {
  const { rows } = await src.query(`SELECT rolname FROM pg_roles WHERE rolname = ANY($1) AND pg_has_role(current_user, oid, 'MEMBER') LIMIT 1`, [
    MANAGED_REPLICATION_ROLES,
  ]);
  return rows[0]?.rolname ?? null;
}

export async function planReplication(
  src: Client,
  source: ConnectionSpec,
  opts: {
    filter: Partial<TableFilter>;
    fixReplicaIdentity: boolean;
    newRun: boolean;
    logger: Logger;
    /** A rerun's publication ("schema.name"): only tables it carries must have a replica identity (see new-tables.ts). */
    published?: Set<string>;
  },
): Promise<ReplicationPlan> {
  const inv = await takeInventory(source, undefined, { filter: opts.filter, sourceClient: src, replicationOnly: true });
  const managed = inv.role.superuser || inv.role.replication ? null : await managedReplicationRole(src);
  if (!inv.role.superuser && !inv.role.replication && !managed) {
    throw new PermissionError(
      `preflight: the source role ${inv.role.name} lacks REPLICATION (as on Heroku classic plans), so pgoutput logical replication is not possible from ${source.display}; nothing was created`,
      {
        phase: 'preflight',
        hint: 'use trigger-based capture (pgshift replicate --capture triggers), or plan a window with writes frozen: pgshift copy, then pgshift verify',
      },
    );
  }
  if (inv.replication.walLevel !== 'logical') {
    throw new UsageError(`preflight: wal_level is ${inv.replication.walLevel} on the source, logical replication needs logical; nothing was created`, {
      phase: 'preflight',
      hint: 'replicate with trigger capture instead, which works at any wal_level (pgshift replicate --capture triggers …: statement triggers on the source, a few tens of µs per write statement); or set wal_level = logical (RDS/Aurora: rds.logical_replication = 1 in the parameter group), restart the source, and run the same command again',
    });
  }
  if (opts.newRun && inv.replication.freeReplicationSlots < 1) {
    throw new UsageError(
      `preflight: the source has no free replication slot (max_replication_slots = ${inv.replication.maxReplicationSlots}, all in use); nothing was created`,
      {
        phase: 'preflight',
        hint: 'drop an unused slot (SELECT slot_name, active FROM pg_replication_slots) or raise max_replication_slots, then re-run',
      },
    );
  }
  if (inv.replication.maxWalSenders - inv.replication.usedWalSenders < 1) {
    throw new UsageError(`preflight: the source has no free WAL sender (max_wal_senders = ${inv.replication.maxWalSenders}); nothing was created`, {
      phase: 'preflight',
      hint: 'stop another replication client or raise max_wal_senders, then re-run',
    });
  }
  const selected = new Set(inv.tables.map(name));
  const notReplicated = inv.tables.filter((t) => t.kind === 'unlogged' || t.kind === 'foreign').map(name);
  const relations = inv.tables.filter((t) => publishable(t) && !(t.parent && (t.kind === 'partition' || t.kind === 'partitioned') && selected.has(t.parent)));
  const bad = inv.tables.filter(
    (t) =>
      (t.kind === 'table' || t.kind === 'partition' || t.kind === 'inheritance-child') && !t.replicable && (!opts.published || opts.published.has(name(t))),
  );
  const fixed: string[] = [];
  if (bad.length) {
    const statements = bad.map((t) => `ALTER TABLE ${qualify(t.schema, t.name)} REPLICA IDENTITY FULL;`);
    if (!opts.fixReplicaIdentity) {
      throw new UsageError(
        `preflight: UPDATE and DELETE on ${bad.map(name).join(', ')} cannot be replicated (no primary key and no replica identity); nothing was created`,
        {
          phase: 'preflight',
          object: name(bad[0]!),
          hint: `add a primary key, or run on the source:\n    ${statements.join('\n    ')}\n  (or pass --fix-replica-identity to run exactly these), then re-run`,
        },
      );
    }
    for (const [i, sql] of statements.entries()) {
      try {
        await src.query(sql);
        fixed.push(qualify(bad[i]!.schema, bad[i]!.name));
        opts.logger.info(`replicate: ${sql} (--fix-replica-identity)`);
      } catch (err) {
        throw classifyError(err, `preflight: --fix-replica-identity on ${name(bad[i]!)}`, {
          phase: 'preflight',
          object: name(bad[i]!),
          hint: 'run it as the table owner on the source, or add a primary key',
        });
      }
    }
  }
  return { inventory: inv, relations: relations.map((t) => qualify(t.schema, t.name)), notReplicated, fixedIdentity: fixed };
}

function publishable(t: InventoryTable): boolean {
  return t.kind === 'table' || t.kind === 'partitioned' || t.kind === 'partition' || t.kind === 'inheritance-child';
}

/**
 * A replication into the NEW side of a cutover --reverse has ended: its capture on the old side was dropped and the
 * new side took the application's writes (the reverse stream feeds the old one). Refused before anything is touched,
 * saying which stream runs now and how to migrate again.
 */
export async function refuseEndedByReverse(ctl: Client, source: ConnectionSpec, target: ConnectionSpec): Promise<void> {
  const { rows: has } = await ctl.query(`SELECT pg_catalog.to_regclass('pgshift.cutover') IS NOT NULL AS ok`);
  if (!has[0].ok) return;
  const { rows } = await ctl.query(`SELECT reverse_at, step FROM pgshift.cutover WHERE reverse_at IS NOT NULL OR step = 'rolled-back'`);
  if (!rows[0]) return;
  const when = rows[0].reverse_at ? ` at ${new Date(rows[0].reverse_at).toISOString()}` : '';
  throw new UsageError(
    `the replication into ${target.display} ended with its cutover --reverse${when}: its capture on ${source.display} was dropped and the target became the primary${rows[0].step === 'rolled-back' ? ', then pgshift rollback went back to the source' : ''}; nothing was changed`,
    {
      phase: 'preflight',
      hint:
        rows[0].step === 'rolled-back'
          ? 'to migrate again: pgshift cleanup --source … --target …, empty the target, then pgshift replicate'
          : `the stream that runs now is the reverse one: pgshift replicate --source ${target.display} --target ${source.display}`,
    },
  );
}
