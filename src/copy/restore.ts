// Restoring a schema section (pre-data, post-data) in batches. One transaction for a whole section takes a lock
// per object and runs out of the server's lock table on schema-per-tenant databases ("out of shared memory" at a
// few thousand tables); pg_restore avoids it by committing object by object. pgshift commits batches sized from
// the target's lock table, each with the dump ids it restored, so --resume continues after the last batch.
import type { ConnectionSpec } from '../config.js';
import { withTransaction, type Client } from '../db/connect.js';
import { classifyError, errorCode } from '../errors.js';
import type { DumpFile, TocEntry } from '../schema/dump.js';
import { listToc, sectionSql } from '../schema/dump.js';
import type { PgTools } from '../schema/pgdump.js';
import { START_OVER_HINT } from '../schema/hints.js';
import * as state from '../state/store.js';

export type Section = 'pre-data' | 'post-data';

/** Locks a restored entry may hold (a table with a serial column: table, sequence, TOAST table and index, …). */
const LOCKS_PER_ENTRY = 16;

/** Entries per transaction: a share of the server's lock table (max_locks_per_transaction × connections). */
export function batchSizeFor(lockSlots: number): number {
  return Math.max(50, Math.min(2000, Math.floor(lockSlots / LOCKS_PER_ENTRY)));
}

export async function lockSlots(c: Client): Promise<number> {
  const { rows } = await c.query<{ n: number }>(
    `SELECT (current_setting('max_locks_per_transaction')::int
             * (current_setting('max_connections')::int + current_setting('max_prepared_transactions')::int)) AS n`,
  );
  return rows[0]!.n;
}

export function batches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface RestoreSectionInput {
  tools: PgTools;
  dump: DumpFile;
  target: ConnectionSpec;
  ctl: Client;
  section: Section;
  keep: (e: TocEntry) => boolean;
  keepOwner?: boolean;
  keepAcl?: boolean;
  /** The role the source was dumped as (its default privileges become the target role's without --keep-owner). */
  sourceRole?: string;
  signal?: AbortSignal;
  onBatch?: (entries: number) => void;
}

/** Restore the kept entries of a section not restored yet; returns how many entries this call restored. */
export async function restoreSection(input: RestoreSectionInput): Promise<number> {
  const { ctl, section } = input;
  const done = await state.doneTocEntries(ctl);
  const entries = (await listToc(input.tools, input.dump, input.target, section)).filter((e) => input.keep(e) && !done.has(e.dumpId));
  // PGSHIFT_SCHEMA_BATCH: entries per batch, for tests that put a batch boundary before every entry.
  const forced = Number(process.env.PGSHIFT_SCHEMA_BATCH);
  const size = Number.isInteger(forced) && forced > 0 ? forced : batchSizeFor(await lockSlots(ctl));
  let restored = 0;
  for (const batch of batches(entries, size)) {
    if (input.signal?.aborted) throw input.signal.reason;
    const sql = await sectionSql(input.tools, input.dump, input.target, batch, {
      section,
      keepOwner: input.keepOwner,
      keepAcl: input.keepAcl,
      sourceRole: input.sourceRole,
      signal: input.signal,
    });
    try {
      await withTransaction(ctl, async () => {
        await ctl.query(sql);
        await state.markTocEntriesDone(ctl, section, batch.map((e) => e.dumpId));
      });
    } catch (err) {
      throw classifyError(err, `schema ${section}: restoring the schema on the target`, {
        phase: `schema ${section}`,
        object: describeBatch(batch),
        hint: `nothing of this batch was applied (earlier batches are kept); fix the cause (often a missing extension or role on the target${
          errorCode(err) === '42501' ? ', or an object only a superuser may create: pgshift inventory --source … --target … lists them' : ''
        }), then re-run with --resume — ${START_OVER_HINT}`,
      });
    } finally {
      // The dump's SET statements are session settings: never let them leak into the next batch or phase.
      await ctl.query('RESET ALL').catch(() => undefined);
    }
    restored += batch.length;
    input.onBatch?.(batch.length);
  }
  return restored;
}

function describeBatch(batch: TocEntry[]): string {
  const first = batch[0];
  return first ? `${batch.length} entries from ${first.desc} ${first.schema} ${first.rest.split(' ')[0]}` : 'no entries';
}
