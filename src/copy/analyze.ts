// ANALYZE on the target, so the application's first queries have statistics. Three choices (--analyze):
//   overlap (default)  each plain table is analyzed on an index-build connection as soon as its data and every
//                      index on it are in, while other tables are still copying; the rest at the end
//   end                every table after all data, indexes and post-data (the whole ANALYZE on the critical path)
//   none               skipped: the target's autovacuum analyzes later; until then plans are guesses
import type { ConnectionSpec } from '../config.js';
import { tableKey } from '../catalog/table-id.js';
import type { TableInfo } from '../catalog/tables.js';
import { withClient } from '../db/connect.js';
import type { Logger } from '../log.js';
import { ownerKey, type BuildJob } from './schedule.js';

export const ANALYZE_MODES = ['overlap', 'end', 'none'] as const;
export type AnalyzeMode = (typeof ANALYZE_MODES)[number];

/**
 * One ANALYZE job per plain table for the data phase's builders (--analyze overlap). It waits for the table's
 * data and for every index build on it: ANALYZE and CREATE INDEX on one table exclude each other, and
 * expression indexes get their statistics only once they exist.
 */
export function analyzeJobs(tables: TableInfo[], builds: BuildJob[]): BuildJob[] {
  const indexed = new Set(builds.filter((b) => b.kind === 'index').map(ownerKey));
  return tables
    .filter((t) => t.relkind === 'r' && t.kind !== 'partition')
    .map((t) => ({
      kind: 'analyze' as const,
      schema: t.schema,
      table: t.name,
      name: 'statistics',
      stateName: '',
      statements: [`ANALYZE ${t.qualified}`],
      needsData: [tableKey(t)],
      needsKeys: [],
      needsIndexes: indexed.has(tableKey(t)) ? [tableKey(t)] : [],
    }));
}

/** ANALYZE the tables on `workers` connections (largest first: they take longest). */
export async function analyzeTables(target: ConnectionSpec, tables: TableInfo[], workers: number, logger: Logger, onDone: () => void): Promise<void> {
  const queue = [...tables].sort((a, b) => b.tableBytes + b.toastBytes - (a.tableBytes + a.toastBytes));
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(workers, queue.length)) }, () =>
      withClient(
        target,
        async (c) => {
          for (let t = queue.shift(); t; t = queue.shift()) {
            const t0 = Date.now();
            await c.query(`ANALYZE ${t.qualified}`);
            logger.debug({ table: t.display, seconds: (Date.now() - t0) / 1000 }, 'analyze: analyzed');
            onDone();
          }
        },
        { applicationName: 'pgshift analyze' },
      ),
    ),
  );
}
