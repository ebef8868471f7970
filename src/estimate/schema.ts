// The schema phase measured, not guessed: the same pg_dump --schema-only copy runs (under the estimate's
// snapshot), the TOC listing and the rendering of the pre-data and post-data SQL. Reads the source only; the
// dump lives in a private temp folder that is removed at once. Applying the SQL on the target is timed by the
// probe (probe-schema.ts) on a prefix of the pre-data SQL returned here.
import type { ConnectionSpec } from '../config.js';
import type { CopyPlan } from '../copy/plan.js';
import { DumpFile, dumpSchema, listToc, sectionSql, type TocEntry } from '../schema/dump.js';
import { keepEntry } from '../schema/filter.js';
import { pickPgTools } from '../schema/pgdump.js';
import { batchSizeFor } from '../copy/restore.js';

export interface SchemaTiming {
  /** pg_dump --schema-only plus pg_restore -l, seconds. */
  dump: number;
  /** Rendering the pre-data SQL (pg_restore), seconds. */
  preData: number;
  /** Rendering the post-data SQL, seconds. */
  postData: number;
  dumpBytes: number;
  /** Statements in each section: what the target will apply. */
  preStatements: number;
  postStatements: number;
  tool: string;
  /** Transactions the restore commits (copy restores in batches sized from the target's lock table). */
  batches: number;
  /** Finding pg_dump (copy runs each candidate's --version once), seconds. */
  discovery: number;
  /** The first pre-data entries' SQL as copy would send it: the probe applies it on the target and rolls back. */
  sample?: SchemaSample;
}

export interface SchemaSample {
  sql: string;
  statements: number;
  /** Pre-data entries in the sample, and in the whole section. */
  entries: number;
  of: number;
}

/** Entries in the probe's schema sample: enough to average over, few enough to take a fraction of a second. */
const SAMPLE_ENTRIES = 400;

const statements = (sql: string) => (sql.match(/;\s*$/gm) ?? []).length;

/** Batch size of copy's restore on a server with default settings (max_locks_per_transaction 64 × 100 connections). */
const DEFAULT_BATCH = batchSizeFor(64 * 100);

export async function timeSchema(o: {
  source: ConnectionSpec;
  snapshotId: string;
  serverMajor: number;
  plan: CopyPlan;
  pgBin?: string;
  signal?: AbortSignal;
  /** copy's restore batch size for the target, when known. */
  batchSize?: number;
  /** Render the pre-data sample the probe applies on the target (only when there is a target). */
  withSample?: boolean;
}): Promise<SchemaTiming> {
  const seconds = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;
  const d0 = process.hrtime.bigint();
  const tools = pickPgTools(o.serverMajor, o.pgBin);
  const discovery = seconds(d0);
  const t0 = process.hrtime.bigint();
  const bytes = await dumpSchema(tools, o.source, { snapshot: o.snapshotId, signal: o.signal, excludeTables: o.plan.excluded.tables });
  const dumpSeconds = seconds(t0);
  const dump = new DumpFile(bytes);
  try {
    const own = o.plan.builds.ownOids;
    const keep = (e: TocEntry) => keepEntry(o.plan.excluded, e);
    const keepPost = (e: TocEntry) => keep(e) && !(['INDEX', 'CONSTRAINT', 'FK CONSTRAINT'].includes(e.desc) && own.has(e.oid));
    // As copy's restoreSection: list the section, then render it (once per batch of entries).
    const section = async (
      name: 'pre-data' | 'post-data',
      filter: (e: TocEntry) => boolean,
    ): Promise<{ seconds: number; statements: number; batches: number; sample?: SchemaSample }> => {
      const s0 = process.hrtime.bigint();
      const entries = (await listToc(tools, dump, o.source, name)).filter(filter);
      const listed = seconds(s0);
      const r0 = process.hrtime.bigint();
      const sql = entries.length ? await sectionSql(tools, dump, o.source, entries, { section: name, signal: o.signal }) : '';
      const rendered = seconds(r0);
      const size = o.batchSize ?? DEFAULT_BATCH;
      const nBatches = Math.max(1, Math.ceil(entries.length / size));
      const out = { seconds: listed + rendered * nBatches, statements: statements(sql), batches: nBatches };
      if (!o.withSample || name === 'post-data' || entries.length === 0) return out;
      // A prefix of the section, never a pick: pg_restore's order puts every dependency before its dependants.
      const prefix = entries.slice(0, Math.min(size, SAMPLE_ENTRIES));
      const sampleSql = prefix.length === entries.length ? sql : await sectionSql(tools, dump, o.source, prefix, { section: name, signal: o.signal });
      return { ...out, sample: { sql: sampleSql, statements: statements(sampleSql), entries: prefix.length, of: entries.length } };
    };
    const pre = await section('pre-data', keep);
    const post = await section('post-data', keepPost);
    return {
      dump: dumpSeconds,
      preData: pre.seconds,
      postData: post.seconds,
      dumpBytes: bytes.length,
      preStatements: pre.statements,
      postStatements: post.statements,
      batches: pre.batches + post.batches,
      tool: `${tools.version} (${tools.dir})`,
      discovery,
      ...(pre.sample ? { sample: pre.sample } : {}),
    };
  } finally {
    dump.dispose();
  }
}
