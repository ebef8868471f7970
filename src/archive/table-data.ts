// One table's rows from a pg_dump archive into the target: pg_restore renders that one TOC entry as a script
// (its session settings, then `COPY … FROM stdin;`, the rows, `\.`), and pgshift streams the rows into COPY on
// its own connection, in one transaction with the entry's "done" mark: a crash leaves the table either loaded
// and marked, or empty and unmarked — never half — so a resume reloads exactly what is missing.
import { spawn } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import type { ConnectionSpec } from '../config.js';
import type { Client } from '../db/connect.js';
import { PgshiftError } from '../errors.js';
import { libpqEnv } from '../schema/run.js';
import { redact } from '../redact.js';
import * as state from '../state/store.js';
import { describeEntry } from './blocks.js';
import type { ArchiveEntry } from './format.js';
import { writeEntryList } from './index.js';

/** A `\\.` line after a newline: the end of COPY data. */
const END_LINE = Buffer.from('\n\\.\n', 'latin1');

/**
 * Splits pg_restore's script of one data entry: the statements before the COPY line (SET …, set_config) and the
 * COPY statement go to `onCopy` once; the row bytes after it are passed on unchanged, up to the `\.` line.
 * Bytes are handled as latin1 strings (one char per byte), so no character is ever split or re-encoded.
 */
export class ScriptSplitter extends Transform {
  private head = '';
  private inData: boolean;
  private ended = false;
  private carry: Buffer = Buffer.alloc(0);
  rows = 0;
  bytes = 0;
  onCopy: (settings: string, copy: string) => void = () => undefined;
  /** @param rowsOnly the input is already the rows (an archive's data block, which pg_dump ends with `\.` too) */
  constructor(private readonly rowsOnly = false) {
    super();
    this.inData = rowsOnly;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.ended) return done();
    if (this.inData) return this.data(chunk, done);
    this.head += chunk.toString('latin1');
    const m = /^COPY .+ FROM stdin;\n/m.exec(this.head);
    if (!m) {
      if (this.head.length > 1 << 20)
        return done(new PgshiftError('pg_restore wrote no COPY statement in the first megabyte of a table data entry', { phase: 'data' }));
      return done();
    }
    this.inData = true;
    const utf8 = (t: string) => Buffer.from(t, 'latin1').toString('utf8');
    this.onCopy(utf8(this.head.slice(0, m.index)), utf8(m[0].slice(0, -2)));
    const rest = this.head.slice(m.index + m[0].length);
    this.head = '';
    return this.data(Buffer.from(rest, 'latin1'), done);
  }
  /** Passes row bytes through up to the `\.` line; only whole lines are inspected, a partial one waits. */
  private data(chunk: Buffer, done: TransformCallback): void {
    const all = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const lastNl = all.lastIndexOf(10);
    if (lastNl < 0) {
      this.carry = Buffer.from(all);
      return done();
    }
    // `whole` starts at a line start (the carry holds only a partial line): the marker is at 0 or after a newline.
    const whole = all.subarray(0, lastNl + 1);
    this.carry = Buffer.from(all.subarray(lastNl + 1));
    const endAt = whole.length >= 3 && whole[0] === 0x5c && whole[1] === 0x2e && whole[2] === 10 ? 0 : whole.indexOf(END_LINE);
    const upto = endAt < 0 ? whole : whole.subarray(0, endAt === 0 ? 0 : endAt + 1);
    if (endAt >= 0) this.ended = true;
    if (upto.length) {
      this.bytes += upto.length;
      for (let i = upto.indexOf(10); i >= 0; i = upto.indexOf(10, i + 1)) this.rows++;
      this.push(upto);
    }
    done();
  }
  override _flush(done: TransformCallback): void {
    if (!this.inData) return done();
    if (!this.ended && !this.rowsOnly) return done(new PgshiftError("pg_restore stopped before the end of a table's rows (no \\. line)", { phase: 'data' }));
    if (!this.ended && this.carry.length) return done(new PgshiftError('an archive data block ends inside a row', { phase: 'data' }));
    done();
  }
}

export interface TableLoad {
  rows: number;
  bytes: number;
}

/**
 * Loads the rows of `entry` (a TABLE DATA entry of the archive at `archivePath`) into the target over `client`,
 * in one transaction that also marks the entry done. `listDir` is a private folder for pg_restore's list file.
 */
export async function loadTableData(
  pgRestore: string,
  archivePath: string,
  listDir: string,
  entry: ArchiveEntry,
  target: ConnectionSpec,
  client: Client,
  signal?: AbortSignal,
): Promise<TableLoad> {
  const what = describeEntry(entry);
  const list = writeEntryList(listDir, `entry-${entry.dumpId}.list`, entry);
  const child = spawn(pgRestore, ['-L', list, '--file=-', archivePath], { env: libpqEnv(target), stdio: ['ignore', 'pipe', 'pipe'], signal });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.on('error', () => undefined);
  const splitter = new ScriptSplitter();
  // The script's head comes first: the COPY statement, or the end of pg_restore's output without one.
  const found = new Promise<{ settings: string; copy: string } | null>((resolve, reject) => {
    splitter.onCopy = (settings, copy) => resolve({ settings, copy });
    splitter.once('finish', () => resolve(null));
    splitter.once('error', reject);
  });
  // Read pg_restore's output from the start: when a child exits before its stdout has a reader, Node resumes
  // the stream and its bytes are dropped — a small table's rows would be lost while BEGIN was on its way.
  child.stdout.pipe(splitter);
  try {
    await client.query('BEGIN');
    const script = await found;
    if (!script) {
      const code = await exited;
      throw new PgshiftError(`data: pg_restore rendered no rows for ${what} (exit ${code}): ${redact(stderr.trim().split('\n').slice(-3).join(' '))}`, {
        phase: 'data',
        object: what,
      });
    }
    // Its own session settings (encoding, standard_conforming_strings, …), as pg_restore would have set them.
    const settings = script.settings.replace(/^\\(un)?restrict .*$/gm, '');
    if (settings.trim()) await client.query(settings);
    await pipeline(splitter, client.query(copyFrom(script.copy)));
    const code = await exited;
    if (code !== 0)
      throw new PgshiftError(`data: pg_restore failed on ${what} (exit ${code}): ${redact(stderr.trim().split('\n').slice(-3).join(' '))}`, {
        phase: 'data',
        object: what,
      });
    await state.markTocEntriesDone(client, 'data', [entry.dumpId]);
    await client.query('COMMIT');
    return { rows: splitter.rows, bytes: splitter.bytes };
  } catch (err) {
    child.kill();
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.query('RESET ALL').catch(() => undefined);
  }
}

/**
 * The tables whose rows can be written frozen (load-group.ts): plain tables this role may truncate whose
 * archive COPY statement loads that very table (not its partition root, as --load-via-partition-root writes),
 * by TABLE DATA dump id → the table's name as the server quotes it. One query for them all.
 */
export async function freezableTables(client: Client, entries: ArchiveEntry[]): Promise<Map<number, string>> {
  if (!entries.length) return new Map();
  const { rows } = await client.query<{ i: number; name: string }>(
    `SELECT t.i::int AS i, format('%I.%I', n.nspname, c.relname) AS name
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(nsp, rel, i)
       JOIN pg_catalog.pg_namespace n ON n.nspname = t.nsp
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.rel
      WHERE c.relkind = 'r' AND pg_catalog.has_table_privilege(c.oid, 'TRUNCATE')`,
    [entries.map((e) => e.namespace ?? ''), entries.map((e) => e.tag)],
  );
  const out = new Map<number, string>();
  for (const r of rows) {
    const e = entries[r.i - 1]!;
    if ((e.copyStmt ?? '').startsWith(`COPY ${r.name} `)) out.set(e.dumpId, r.name);
  }
  return out;
}
