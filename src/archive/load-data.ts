// The data phase of copy --source FILE: every table's rows, `jobs` sessions at a time, largest first; tables
// already marked done (a resume) are skipped. Tables pgshift reads itself go in groups of small ones (load-group.ts:
// one transaction and two round trips for up to 50 of them), the rest one by one; tables it cannot read (lz4/zstd,
// an archive written to a pipe) through pg_restore (table-data.ts).
import type { ConnectionSpec } from '../config.js';
import { withClient, type Client } from '../db/connect.js';
import type { Progress } from '../progress.js';
import type { PgTools } from '../schema/pgdump.js';
import type { CopySummary } from '../copy/summary.js';
import * as state from '../state/store.js';
import type { Archive } from './index.js';
import { loadTableGroup, takeGroup } from './load-group.js';
import { archiveRowsOpener } from './rows.js';
import { freezableTables, loadTableData } from './table-data.js';

export async function loadData(
  archive: Archive,
  tools: PgTools,
  listDir: string,
  target: ConnectionSpec,
  ctl: Client,
  jobs: number,
  progress: Progress,
  summary: CopySummary,
  signal: AbortSignal,
  onTablesLoaded: (dataDumpIds: number[]) => void,
): Promise<void> {
  const done = await state.doneTocEntries(ctl);
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  const queue = archive.tables.filter((t) => !done.has(t.dumpId)).sort((a, b) => b.bytes - a.bytes);
  const ph = progress.phase('data', { bytes: queue.reduce((n, t) => n + t.bytes, 0), items: queue.length });
  const freezable = await freezableTables(
    ctl,
    queue.map((t) => byId.get(t.dumpId)!),
  );
  // Read by pgshift itself where it can (no process per table), else rendered by pg_restore.
  const openers = new Map(queue.map((t) => [t.dumpId, archiveRowsOpener(archive, byId.get(t.dumpId)!)]));
  const readable = (t: { dumpId: number }) => openers.get(t.dumpId) !== null;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(jobs, queue.length)) }, () =>
      withClient(
        target,
        async (c) => {
          await c.query(`SET session_replication_role = replica`).catch(() => undefined);
          for (let group = takeGroup(queue, jobs, readable); group.length && !signal.aborted; group = takeGroup(queue, jobs, readable)) {
            const loads = readable(group[0]!)
              ? await loadTableGroup(
                  c,
                  group.map((t) => ({ entry: byId.get(t.dumpId)!, rows: openers.get(t.dumpId)!, freeze: freezable.get(t.dumpId) })),
                  archive.encoding,
                )
              : [await loadTableData(tools.pgRestore, archive.path, listDir, byId.get(group[0]!.dumpId)!, target, c, signal)];
            for (const [i, t] of group.entries()) {
              summary.rows += loads[i]!.rows;
              summary.bytes += loads[i]!.bytes;
              ph.add({ bytes: t.bytes, items: 1, rows: loads[i]!.rows });
            }
            onTablesLoaded(group.map((t) => t.dumpId));
          }
        },
        { applicationName: 'pgshift copy data', phase: 'data' },
      ),
    ),
  );
  ph.done();
}
