// Restoring a schema section (pre-data, post-data) in batches. One transaction for a whole section takes a lock
// per object and runs out of the server's lock table on schema-per-tenant databases ("out of shared memory" at a
// few thousand tables); pg_restore avoids it by committing object by object. pgshift commits batches sized from
// the target's lock table, each with the dump ids it restored, so --resume continues after the last batch.
import type { ConnectionSpec } from '../config.js';
import { serverMajor, withTransaction, type Client } from '../db/connect.js';
import { classifyError, errorCode } from '../errors.js';
import type { DumpFile, TocEntry } from '../schema/dump.js';
import { listToc, sectionSql } from '../schema/dump.js';
import type { PgTools } from '../schema/pgdump.js';
import { START_OVER_HINT } from '../schema/hints.js';
import * as state from '../state/store.js';
import { keywordOnTarget, locateFailure } from './restore-failure.js';

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
        await state.markTocEntriesDone(
          ctl,
          section,
          batch.map((e) => e.dumpId),
        );
      });
    } catch (err) {
      throw await batchError(input, sql, batch, err);
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

/** The batch's failure, naming the statement that failed (the TOC entry and its first line) when it can be told. */
async function batchError(input: RestoreSectionInput, sql: string, batch: TocEntry[], err: unknown): Promise<Error> {
  const { ctl, section } = input;
  const failed = input.signal?.aborted ? undefined : await locateFailure(ctl, sql, err).catch(() => undefined);
  const keyword = await keywordOnTarget(ctl, err);
  const targetMajor = keyword ? await serverMajor(ctl) : 0;
  const cause = keyword
    ? `"${keyword.word}" is a keyword on the target's PostgreSQL ${targetMajor} (${keyword.category}) and the dump writes it unquoted. ` +
      `A pg_dump ${targetMajor} or newer${input.tools.major < targetMajor ? ` (this one is ${input.tools.version})` : ''} quotes it in the names pg_dump writes itself (tables, columns, types); ` +
      `in text the source server prints (a function's parameter list, a view's query, a default or check expression) no pg_dump quotes it: rename it on the source ` +
      `(a function parameter: DROP FUNCTION and CREATE it again with another name, since CREATE OR REPLACE cannot rename parameters)`
    : `fix the cause (often a missing extension or role on the target${
        errorCode(err) === '42501' ? ', or an object only a superuser may create: pgshift inventory --source … --target … lists them' : ''
      })`;
  const what = failed
    ? `schema ${section}: restoring the schema on the target failed on ${failed.label} (${failed.statement})`
    : `schema ${section}: restoring the schema on the target`;
  return classifyError(err, what, {
    phase: `schema ${section}`,
    object: failed?.label ?? describeBatch(batch),
    hint: keyword
      ? `nothing of this batch was applied (earlier batches are kept); ${cause}. A resume restores the same schema dump, so start over: ` +
        'pgshift cleanup --target <same URL> --force, empty the target (drop and re-create the database), then pgshift copy again'
      : `nothing of this batch was applied (earlier batches are kept); ${cause}, then re-run with --resume — ${START_OVER_HINT}`,
  });
}
