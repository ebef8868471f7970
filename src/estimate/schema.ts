// The schema phase measured, not guessed: the same pg_dump --schema-only copy runs (under the estimate's
// snapshot), the TOC listing and the rendering of the pre-data and post-data SQL. Reads the source only; the
// dump lives in a private temp folder that is removed at once. Applying the SQL on the target stays modelled.
import type { ConnectionSpec } from '../config.js';
import type { CopyPlan } from '../copy/plan.js';
import { DumpFile, dumpSchema, listToc, sectionSql } from '../schema/dump.js';
import { keepEntry } from '../schema/filter.js';
import { pickPgTools } from '../schema/pgdump.js';

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
  /** Finding pg_dump (copy runs each candidate's --version once), seconds. */
  discovery: number;
}

const statements = (sql: string) => (sql.match(/;\s*$/gm) ?? []).length;

export async function timeSchema(o: { source: ConnectionSpec; snapshotId: string; serverMajor: number; plan: CopyPlan; pgBin?: string; signal?: AbortSignal }): Promise<SchemaTiming> {
  const seconds = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;
  const d0 = process.hrtime.bigint();
  const tools = pickPgTools(o.serverMajor, o.pgBin);
  const discovery = seconds(d0);
  const t0 = process.hrtime.bigint();
  const bytes = await dumpSchema(tools, o.source, { snapshot: o.snapshotId, signal: o.signal });
  const dump = new DumpFile(bytes);
  try {
    const toc = await listToc(tools, dump, o.source);
    const dumpSeconds = seconds(t0);
    const keep = (e: Parameters<typeof keepEntry>[1]) => keepEntry(o.plan.excluded, e);
    const t1 = process.hrtime.bigint();
    const pre = await sectionSql(tools, dump, o.source, toc, { section: 'pre-data', keep, signal: o.signal });
    const preSeconds = seconds(t1);
    const own = o.plan.builds.ownOids;
    const t2 = process.hrtime.bigint();
    const post = await sectionSql(tools, dump, o.source, toc, {
      section: 'post-data',
      keep: (e) => keep(e) && !(['INDEX', 'CONSTRAINT', 'FK CONSTRAINT'].includes(e.desc) && own.has(e.oid)),
      signal: o.signal,
    });
    return {
      dump: dumpSeconds,
      preData: preSeconds,
      postData: seconds(t2),
      dumpBytes: bytes.length,
      preStatements: statements(pre),
      postStatements: statements(post),
      tool: `${tools.version} (${tools.dir})`,
      discovery,
    };
  } finally {
    dump.dispose();
  }
}
