// `pgshift verify --source FILE --target URL`: the restored database against what the archive holds — the
// "restore tested" step. Per table: the rows of its data entry (streamed from pg_restore, never held) against
// the target's, as an order-independent sum of per-row MD5s over the COPY text. pg_dump wrote that text under
// its own session's TimeZone, which the archive does not record: when the sums differ on a table, the archive's
// rows are loaded into a temporary table on the target and both are rendered in ONE session, which decides.
// Sequences: the values the archive sets; large objects: how many.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { ConnectionSpec } from '../config.js';
import { withClient, type Client } from '../db/connect.js';
import { copyOut } from '../db/copy-out.js';
import { PgshiftError } from '../errors.js';
import { libpqEnv } from '../schema/run.js';
import { DUMP_EXCLUDED_SCHEMAS } from '../catalog/system.js';
import type { TableFilter } from '../catalog/filter.js';
import { selectArchive } from './filter.js';
import { compareArchiveSchema, type ArchiveSchemaCheck } from './schema-verify.js';
import { describeEntry } from './blocks.js';
import { ScriptSplitter } from './table-data.js';
import { archiveRowsReadable } from './rows.js';
import type { ArchiveEntry } from './format.js';
import { openArchive, pgRestoreFor, writeEntryList, type Archive } from './index.js';

export interface TableCheck {
  table: string;
  archiveRows: number;
  targetRows: number;
  equal: boolean;
  /** How equality was decided: the COPY text sums, or both rendered in one session on the target. */
  by: 'text' | 'session';
}

export interface ArchiveVerifyResult {
  ok: boolean;
  archive: string;
  tables: TableCheck[];
  sequences: Array<{ sequence: string; archive: string; target: string | null; equal: boolean }>;
  largeObjects: { archive: number; target: number; equal: boolean };
  /** The schema objects pg_restore would create from the archive, against the target's (schema-verify.ts). */
  schema: ArchiveSchemaCheck;
  seconds: number;
}

/** Order-independent digest of COPY text rows: four 32-bit sums of each row's MD5, and the row count. */
class RowDigest extends Writable {
  private carry: Buffer = Buffer.alloc(0);
  readonly sums = new Uint32Array(4);
  rows = 0;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
      const line = buf.subarray(start, nl);
      start = nl + 1;
      const h = createHash('md5').update(line).digest();
      for (let i = 0; i < 4; i++) this.sums[i] = (this.sums[i]! + h.readUInt32LE(i * 4)) >>> 0;
      this.rows++;
    }
    this.carry = Buffer.from(buf.subarray(start));
    done();
  }
  get value(): string {
    return `${this.rows}:${[...this.sums].map((n) => n.toString(16)).join('.')}`;
  }
}

/** "COPY public.t (a, b) FROM stdin;" → the table as written and the column list (null: no columns). */
export function parseCopyStatement(stmt: string): { table: string; columns: string | null } {
  const m = /^COPY ((?:"(?:[^"]|"")*"|[^ ."(]+)(?:\.(?:"(?:[^"]|"")*"|[^ ."(]+))?) (?:\((.*)\) )?FROM stdin;/s.exec(stmt.trim());
  if (!m) throw new PgshiftError(`cannot read the archive's COPY statement: ${stmt.slice(0, 120)}`, { phase: 'verify' });
  return { table: m[1]!, columns: m[2] ?? null };
}

/** The archive's rows of one entry, streamed from pg_restore into `sink` (the script's COPY data only). */
async function archiveRows(archive: Archive, pgRestore: string, listDir: string, e: ArchiveEntry, target: ConnectionSpec, sink: Writable): Promise<void> {
  // Read by pgshift itself where it can (rows.ts: no process per table); pg_dump's `\.` end line dropped.
  const direct = archiveRowsReadable(archive, e);
  if (direct) return pipeline(direct, new ScriptSplitter(true), sink);
  const path = archive.path;
  const list = writeEntryList(listDir, `v-${e.dumpId}.list`, e);
  const child = spawn(pgRestore, ['-L', list, '--file=-', path], { env: libpqEnv(target), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  // The script's head (settings, the COPY line) and its end marker are dropped: only the rows reach `sink`.
  await pipeline(child.stdout, new ScriptSplitter(), sink);
  const code = await exited;
  if (code !== 0)
    throw new PgshiftError(`verify: pg_restore failed reading ${describeEntry(e)} (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ')}`, {
      phase: 'verify',
    });
}

async function targetDigest(c: Client, select: string): Promise<RowDigest> {
  const d = new RowDigest();
  await copyOut(c, `COPY (${select}) TO STDOUT`, [d]);
  return d;
}

/** Both sides rendered in one session: the archive's rows loaded into a temporary copy of the table. */
async function sessionCheck(
  c: Client,
  archive: Archive,
  pgRestore: string,
  listDir: string,
  e: ArchiveEntry,
  target: ConnectionSpec,
  table: string,
  columns: string | null,
): Promise<boolean> {
  await c.query('BEGIN');
  try {
    await c.query(`CREATE TEMP TABLE pgshift_verify_rows ON COMMIT DROP AS SELECT ${columns ?? ''} FROM ONLY ${table} WITH NO DATA`);
    await archiveRows(archive, pgRestore, listDir, e, target, c.query(copyFrom(`COPY pgshift_verify_rows FROM STDIN`)));
    const a = await targetDigest(c, `SELECT t::text FROM pgshift_verify_rows t`);
    const b = await targetDigest(c, `SELECT t::text FROM (SELECT ${columns ?? ''} FROM ONLY ${table}) t`);
    return a.value === b.value;
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
  }
}

export async function verifyArchive(
  path: string,
  target: ConnectionSpec,
  opts: { pgBin?: string; jobs: number; filter?: Partial<TableFilter> },
): Promise<ArchiveVerifyResult> {
  const started = Date.now();
  const archive: Archive = openArchive(path);
  const tools = pgRestoreFor(archive, opts.pgBin);
  const listDir = mkdtempSync(join(tmpdir(), 'pgshift-archive-'));
  const byId = new Map(archive.entries.map((e) => [e.dumpId, e]));
  // The tables copy restored with the same --include/--exclude (archive/filter.ts).
  const selection = selectArchive(archive, opts.filter, 'verify');
  const queue = [...selection.tables].sort((a, b) => b.bytes - a.bytes);
  const tables: TableCheck[] = [];
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, Math.min(opts.jobs, queue.length)) }, () =>
        withClient(
          target,
          async (c) => {
            // pg_dump's own output settings (pg_dump.c setup_connection): the same text for the same values.
            await c.query(`SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3`);
            for (let t = queue.shift(); t; t = queue.shift()) {
              const e = byId.get(t.dumpId)!;
              const { table, columns } = parseCopyStatement(e.copyStmt ?? '');
              const fromArchive = new RowDigest();
              await archiveRows(archive, tools.pgRestore, listDir, e, target, fromArchive);
              const onTarget = await targetDigest(c, `SELECT ${columns ?? ''} FROM ONLY ${table}`);
              let equal = fromArchive.value === onTarget.value;
              let by: TableCheck['by'] = 'text';
              if (!equal && fromArchive.rows === onTarget.rows) {
                equal = await sessionCheck(c, archive, tools.pgRestore, listDir, e, target, table, columns);
                by = 'session';
              }
              tables.push({ table: `${t.schema}.${t.name}`, archiveRows: fromArchive.rows, targetRows: onTarget.rows, equal, by });
            }
          },
          { applicationName: 'pgshift verify' },
        ),
      ),
    );
    return await withClient(target, async (c) => {
      const sequences = await checkSequences(c, archive, selection.keep);
      const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_catalog.pg_largeobject_metadata`);
      const lo = { archive: archive.largeObjects, target: rows[0]!.n, equal: archive.largeObjects === rows[0]!.n };
      tables.sort((a, b) => a.table.localeCompare(b.table));
      const ok = tables.every((t) => t.equal) && sequences.every((s) => s.equal) && lo.equal;
      return { ok, archive: archive.path, tables, sequences, largeObjects: lo, seconds: 0 };
    }).then(async (r) => {
      const schema = await compareArchiveSchema(archive, selection.keep, target, listDir, opts.pgBin);
      const ok = r.ok && schema.differences.every((x) => x.severity !== 'difference');
      return { ...r, ok, schema, seconds: (Date.now() - started) / 1000 };
    });
  } finally {
    rmSync(listDir, { recursive: true, force: true });
  }
}

/** SEQUENCE SET entries: "SELECT pg_catalog.setval('public.s', 42, true);" against the target's state. */
async function checkSequences(c: Client, archive: Archive, keep: (e: ArchiveEntry) => boolean): Promise<ArchiveVerifyResult['sequences']> {
  const out: ArchiveVerifyResult['sequences'] = [];
  for (const e of archive.entries.filter((x) => x.desc === 'SEQUENCE SET' && !DUMP_EXCLUDED_SCHEMAS.includes(x.namespace ?? '') && keep(x))) {
    const m = /setval\('((?:[^']|'')+)', (-?\d+), (true|false)\)/.exec(e.defn ?? '');
    if (!m) continue;
    const name = m[1]!.replace(/''/g, "'");
    const want = `${m[2]}/${m[3] === 'true'}`;
    const { rows: found } = await c.query<{ q: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS q FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = pg_catalog.to_regclass($1) AND c.relkind = 'S'`,
      [name],
    );
    // The name comes back from format('%I.%I'): quoted by the server, safe to put in the statement.
    const got = found[0] ? (await c.query<{ v: string }>(`SELECT last_value::text || '/' || is_called::text AS v FROM ${found[0].q}`)).rows[0]!.v : null;
    // setval(…, false) leaves is_called false with last_value at the given value: compared as written.
    const equal = got === want;
    out.push({ sequence: name, archive: want, target: got, equal });
  }
  return out;
}
