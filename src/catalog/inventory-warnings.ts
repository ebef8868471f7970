// Inventory's warnings: what will get in the way of moving this source, each with its remedy. Pure.
import { formatBytes } from '../format.js';
import type { Inventory, Warning } from './inventory.js';
import { eventTriggerWarning, privilegedWarning, securityDefinerWarning } from './privileged.js';
import { CAPTURE_SCHEMA } from './system.js';
import { selfReferencingViewAdvice } from './views.js';
import { installHint, olderThanTarget } from '../schema/pgdump.js';

/** A slot keeping this much WAL on the source deserves a warning. */
const SLOT_RETAINED_WARN_BYTES = 1024 ** 3;

export function warningsFor(inv: Inventory): Warning[] {
  const w: Warning[] = [];
  const name = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;
  if (!inv.replication.available) {
    w.push({
      code: 'replication-unavailable',
      message: inv.replication.reason ?? 'logical replication is not available',
      remedy:
        inv.role.replication || inv.role.superuser
          ? 'use trigger capture (pgshift replicate --capture triggers: works at any wal_level and without slots; statement triggers cost the source a few tens of µs per write statement), or set wal_level=logical and free a slot/WAL sender (a restart), or plan a dump-and-restore window with writes frozen (pgshift copy, then pgshift verify)'
          : 'use trigger capture instead (pgshift replicate --capture triggers: needs only the database owner), or plan a dump-and-restore window with writes frozen (pgshift copy, then pgshift verify)',
    });
  }
  if (!inv.pgDump.canDump) {
    const want = Math.max(inv.source.major, inv.target?.major ?? 0);
    w.push({
      code: 'pg-dump-version',
      message: inv.pgDump.path
        ? `pg_dump ${inv.pgDump.version} (${inv.pgDump.dir}) cannot dump a PostgreSQL ${inv.source.major} server: copy and replicate refuse to start`
        : 'no pg_dump found on this machine (PATH and the usual install places): copy and replicate refuse to start',
      remedy: installHint(want),
    });
  } else if (inv.pgDump.fitsTarget === false && inv.target && inv.pgDump.major !== null) {
    const risk = olderThanTarget(
      { dir: inv.pgDump.dir ?? '', pgDump: inv.pgDump.path ?? '', pgRestore: '', major: inv.pgDump.major, version: inv.pgDump.version ?? '' },
      inv.target.major,
    );
    if (risk) w.push({ code: 'pg-dump-older-than-target', ...risk });
  }
  for (const v of inv.selfReferencingViews) {
    const a = selfReferencingViewAdvice(v);
    w.push({ code: 'self-referencing-view', object: a.object, message: `${a.message}; copy refuses to start`, remedy: a.remedy });
  }
  for (const t of inv.tables) {
    if (!t.readable) {
      w.push({
        code: 'table-unreadable',
        object: name(t),
        message: `${name(t)}: the role cannot SELECT from it; copy and verify will fail on it`,
        remedy: `GRANT SELECT ON ${name(t)} TO ${inv.role.name}, or connect as its owner`,
      });
    }
    if (t.rowSecurityHidesRows) {
      w.push({
        code: 'row-level-security',
        object: name(t),
        message: `${name(t)}: row-level security would hide rows from ${inv.role.name}; copy and verify refuse it rather than move a subset`,
        remedy: `connect as a role with BYPASSRLS, or ALTER TABLE ${name(t)} NO FORCE ROW LEVEL SECURITY while migrating as its owner`,
      });
    }
    if (t.kind === 'partitioned') continue;
    if (t.kind === 'foreign') {
      w.push({
        code: 'foreign-table',
        object: name(t),
        message: `${name(t)} is a foreign table: its definition is copied, its remote data is not`,
        remedy: 'make sure the foreign server is reachable from the target',
      });
      continue;
    }
    if (!t.primaryKey) {
      w.push({
        code: 'no-primary-key',
        object: name(t),
        message: `${name(t)} has no primary key: verify compares it as a multiset and cannot name differing rows${t.replicable ? '' : '; UPDATE/DELETE on it cannot be replicated'}`,
        remedy: t.replicable ? `add a primary key to ${name(t)}` : `add a primary key to ${name(t)}, or ALTER TABLE ${name(t)} REPLICA IDENTITY FULL`,
      });
    } else if (!t.replicable) {
      w.push({
        code: 'replica-identity',
        object: name(t),
        message: `${name(t)} has REPLICA IDENTITY NOTHING: UPDATE/DELETE on it cannot be replicated`,
        remedy: `ALTER TABLE ${name(t)} REPLICA IDENTITY DEFAULT`,
      });
    }
    if (t.kind === 'unlogged') {
      w.push({
        code: 'unlogged-table',
        object: name(t),
        message: `${name(t)} is UNLOGGED: copy moves its rows, but logical replication never carries its changes`,
        remedy: 'freeze writes to it before cutover, or ALTER TABLE … SET LOGGED on the source',
      });
    }
  }
  const privileged = privilegedWarning(inv.privileged, inv.target);
  if (privileged) w.push({ code: 'superuser-objects', ...privileged });
  const events = eventTriggerWarning(inv.privileged, inv.target);
  if (events) w.push({ code: 'event-triggers-skipped', ...events });
  const definers = securityDefinerWarning(inv.privileged);
  if (definers) w.push({ code: 'security-definer', ...definers });
  if (inv.largeObjects.count > 0) {
    w.push({
      code: 'large-objects',
      message: `${inv.largeObjects.count} large objects: copy moves them, logical replication does not carry changes to them`,
      remedy: 'freeze large-object writes before cutover, or move them to bytea columns',
    });
  }
  const targetRole = inv.target?.user ?? 'the target role';
  for (const e of inv.extensions) {
    if (e.onTarget === 'missing') {
      w.push({
        code: 'extension-missing',
        object: e.name,
        message: `extension ${e.name} ${e.version} is not available on the target`,
        remedy: `install the ${e.name} extension package on the target server (or ask the provider), then re-run`,
      });
    } else if (e.onTarget === 'not-creatable') {
      w.push({
        code: 'extension-not-creatable',
        object: e.name,
        message: `extension ${e.name} is available on the target, but ${targetRole} cannot create it (it is not a trusted extension: only a superuser may)`,
        remedy: `ask the target's administrator to run CREATE EXTENSION ${e.name} in the target database before pgshift copy`,
      });
    }
  }
  const populated = inv.materializedViews.filter((m) => m.populated);
  const unpopulated = inv.materializedViews.filter((m) => !m.populated);
  if (populated.length > 0) {
    w.push({
      code: 'materialized-views',
      message: `${populated.length} materialized views are refreshed on the target after the data copy (not replicated)`,
      remedy: 'budget their refresh time in the cutover window; refresh them again after cutover',
    });
  }
  if (unpopulated.length > 0) {
    w.push({
      code: 'materialized-views-unpopulated',
      message: `${unpopulated.length} materialized views are not populated on the source (${unpopulated.map((m) => `${m.schema}.${m.name}`).join(', ')}): they stay unpopulated on the target`,
      remedy: 'nothing to do for the copy; REFRESH MATERIALIZED VIEW them on the target when the application needs them',
    });
  }
  const unknown = inv.tables.filter((t) => t.rowsSource === 'pages');
  if (unknown.length > 0) {
    w.push({
      code: 'never-analyzed',
      message: `${unknown.length} tables were never analyzed: their row counts are estimated from their size (${unknown
        .slice(0, 3)
        .map((t) => `${t.schema}.${t.name}`)
        .join(', ')}${unknown.length > 3 ? ', …' : ''})`,
      remedy: 'ANALYZE them on the source for exact planning numbers (copy and verify do not depend on it)',
    });
  }
  for (const slot of inv.replication.slots) {
    if (slot.retainedBytes !== null && slot.retainedBytes >= SLOT_RETAINED_WARN_BYTES) {
      w.push({
        code: 'slot-retains-wal',
        object: slot.name,
        message: `replication slot ${slot.name}${slot.active ? '' : ' (inactive)'} keeps ${formatBytes(slot.retainedBytes)} of WAL on the source: a stalled replication fills the source's disk`,
        remedy: slot.name.startsWith('pgshift')
          ? `resume it (pgshift replicate …) or remove it: pgshift cleanup --source … --target …`
          : `drop it if nothing consumes it: SELECT pg_drop_replication_slot('${slot.name}')`,
      });
    }
  }
  if (inv.captureInstalled) {
    w.push({
      code: 'capture-installed',
      message: `pgshift's trigger capture (schema ${CAPTURE_SCHEMA}) is installed on the source: every write to a captured table is logged`,
      remedy: 'if no pgshift replicate --capture triggers is in progress, remove it: pgshift cleanup --source … --target …',
    });
  }
  if (inv.internalSchemas.length > 0) {
    w.push({
      code: 'heroku-internal',
      message: `Heroku internal schemas present (${inv.internalSchemas.join(', ')})`,
      remedy: 'nothing to do: pgshift skips Heroku event triggers and keeps extensions placed in heroku_ext',
    });
  }
  return w;
}
