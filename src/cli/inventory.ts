import { Command, Option } from 'commander';
import { optionalUrl, requireUrl } from '../config.js';
import type { Inventory } from '../catalog/inventory.js';
import { formatBytes, formatCount } from '../format.js';
import { run, withConnectionOptions, withFilterOptions, type CommonOptions } from './context.js';
import { renderTable } from '../format.js';

interface InventoryFlags extends CommonOptions {
  include?: string[];
  exclude?: string[];
  pgBin?: string;
}

export function inventoryCommand(): Command {
  const cmd = new Command('inventory')
    .summary('what is in the source and what will get in the way')
    .description(
      [
        'Describe the source: size; tables with kind, rows, bytes, primary key and',
        'replica identity; sequences, extensions (and whether the target has them),',
        "large objects, materialized views, triggers; the role's powers, logical",
        'replication readiness and pg_dump compatibility. Ends with warnings, each',
        'with its remedy. Reads catalogs only; changes nothing.',
        '',
        'Examples:',
        '  pgshift inventory --source "$(heroku config:get DATABASE_URL -a app)"',
        '  pgshift inventory --source latest.dump   # a pg_dump -Fc file or -Fd folder',
        '  pgshift inventory --source $SRC --target $DST --json \\',
        "    | jq '.tables[] | select(.primaryKey == null)'",
      ].join('\n'),
    );
  withFilterOptions(withConnectionOptions(cmd, { source: 'required', target: 'optional' }))
    .addOption(new Option('--pg-bin <dir>', 'folder holding pg_dump/pg_restore to check. Example: --pg-bin /usr/lib/postgresql/17/bin').env('PGSHIFT_PG_BIN'))
    .action(async (flags: InventoryFlags) => {
      process.exitCode = await run(flags, async (ctx) => {
        // A pg_dump archive (Heroku's latest.dump, or a -Fd folder): what it holds and whether it is whole.
        const { isArchivePath } = await import('../archive/index.js');
        if (flags.source && isArchivePath(flags.source)) {
          const { openArchive } = await import('../archive/index.js');
          const { archiveInventory, describeArchive } = await import('../archive/describe.js');
          const inv = archiveInventory(openArchive(flags.source));
          ctx.print(describeArchive(inv));
          return { json: inv };
        }
        const source = requireUrl('source', flags.source);
        const target = optionalUrl('target', flags.target);
        ctx.logger.debug({ source: source.display }, 'inventory: reading the source catalog');
        const { takeInventory } = await import('../catalog/inventory.js'); // loaded on use
        const inv = await takeInventory(source, target, { filter: { include: flags.include, exclude: flags.exclude }, pgBin: flags.pgBin });
        ctx.print(describe(inv));
        return { json: inv };
      });
    });
  return cmd;
}

const yes = (b: boolean) => (b ? 'yes' : 'no');

const ON_TARGET = {
  installed: 'on target',
  creatable: 'target role can create it',
  'not-creatable': 'target role CANNOT create it',
  missing: 'MISSING on target',
} as const;

/** Rows as known: "~1,200" when estimated from pages (never analyzed), "unknown" when not even that. */
function rowsText(t: Inventory['tables'][number]): string {
  if (t.rows === null) return t.kind === 'partitioned' ? '(partitions)' : 'unknown';
  return `${t.rowsSource === 'pages' ? '~' : ''}${formatCount(t.rows)}`;
}

export function describe(inv: Inventory): string {
  const out: string[] = [];
  const s = inv.source;
  out.push(`Source  ${s.url}`);
  out.push(`        PostgreSQL ${s.serverVersion}, database ${s.database}, ${formatBytes(s.databaseBytes)}`);
  if (inv.target) out.push(`Target  ${inv.target.url}\n        PostgreSQL ${inv.target.serverVersion}`);
  out.push('');
  out.push(
    `Role ${inv.role.name}: superuser ${yes(inv.role.superuser)}, REPLICATION ${yes(inv.role.replication)}, database owner ${yes(inv.role.databaseOwner)}`,
  );
  const r = inv.replication;
  out.push(
    `wal_level ${r.walLevel}; replication slots ${r.usedReplicationSlots}/${r.maxReplicationSlots} used; WAL senders ${r.usedWalSenders}/${r.maxWalSenders} used`,
  );
  out.push(r.available ? 'Logical replication: available (pgshift replicate can stream changes)' : `Logical replication: ${r.reason}`);
  const d = inv.pgDump;
  const forTarget =
    d.fitsTarget === null
      ? ''
      : d.fitsTarget
        ? `; as new as the target's ${inv.target!.major}`
        : `; OLDER than the target's ${inv.target!.major} (see warnings)`;
  out.push(
    d.path
      ? `pg_dump ${d.version} at ${d.path} (with pg_restore from the same folder): ${d.canDump ? 'can' : 'CANNOT'} dump this server${forTarget}`
      : 'pg_dump: not found',
  );
  out.push('');
  out.push(`Tables (${inv.tables.length})`);
  out.push(
    renderTable(
      ['table', 'kind', 'rows', 'data', 'toast', 'indexes', 'primary key', 'replica id', 'upd/del'],
      inv.tables.map((t) => [
        `${t.schema}.${t.name}`,
        t.kind,
        rowsText(t),
        formatBytes(t.tableBytes),
        formatBytes(t.toastBytes),
        formatBytes(t.indexBytes),
        t.primaryKey ? t.primaryKey.join(', ') : '— none —',
        t.replicaIdentity,
        t.replicable ? 'ok' : 'NO',
      ]),
      [false, false, true, true, true, true],
    ),
  );
  const special = inv.tables.filter((t) => t.generatedColumns.length || t.identityColumns.length);
  for (const t of special) {
    const parts = [];
    if (t.generatedColumns.length) parts.push(`generated: ${t.generatedColumns.join(', ')}`);
    if (t.identityColumns.length) parts.push(`identity: ${t.identityColumns.join(', ')}`);
    out.push(`  ${t.schema}.${t.name} — ${parts.join('; ')}`);
  }
  out.push('');
  out.push(`Sequences (${inv.sequences.length})${inv.sequences.length ? ': ' + inv.sequences.map((q) => `${q.schema}.${q.name}`).join(', ') : ''}`);
  out.push(
    `Extensions (${inv.extensions.length})${inv.extensions.length ? ': ' + inv.extensions.map((e) => `${e.name} ${e.version}${e.onTarget ? ` (${ON_TARGET[e.onTarget]})` : ''}`).join(', ') : ''}`,
  );
  const lo = inv.largeObjects;
  out.push(lo.count === 0 ? 'Large objects: none' : `Large objects: ${formatCount(lo.count)}, ${formatBytes(lo.bytes)} stored`);
  out.push(
    `Materialized views (${inv.materializedViews.length})${inv.materializedViews.length ? ': ' + inv.materializedViews.map((m) => `${m.schema}.${m.name}${m.populated ? '' : ' (not populated)'}`).join(', ') : ''}`,
  );
  out.push(
    `Triggers (${inv.triggers.length})${inv.triggers.length ? ': ' + inv.triggers.map((t) => `${t.name} on ${t.schema}.${t.table}${t.enabled ? '' : ' (disabled)'}`).join(', ') : ''}`,
  );
  out.push('');
  if (inv.warnings.length === 0) out.push('No warnings.');
  else {
    out.push(`Warnings (${inv.warnings.length})`);
    for (const w of inv.warnings) out.push(`  ! ${w.message}\n    → ${w.remedy}`);
  }
  return out.join('\n');
}
