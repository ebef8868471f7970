// Which statement of a restore batch failed (issue #23.2): a batch is one query string of many TOC entries, and the
// server's error names none of them. A syntax error carries its position in that string; any other error is found
// by replaying the batch entry by entry in a transaction that is always rolled back. The user then reads the TOC
// entry and the first line of its statement instead of a guessed cause.
import type { Client } from '../db/connect.js';
import { errorCode } from '../errors.js';

export interface ScriptEntry {
  /** "FUNCTION public.f(json)", from pg_restore's "-- Name: f(json); Type: FUNCTION; Schema: public; …" header. */
  label: string;
  /** Offset of the entry's SQL (header included) in the script, in UTF-16 units. */
  start: number;
  sql: string;
}

const HEADER = /^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: .*$/gm;

/** A pg_restore script cut into its leading settings (`prefix`) and one piece per TOC entry. */
export function splitScript(sql: string): { prefix: string; entries: ScriptEntry[] } {
  const marks: { at: number; label: string }[] = [];
  for (const m of sql.matchAll(HEADER)) {
    // The entry begins at the "--" line above its header.
    const above = sql.lastIndexOf('--\n', m.index! - 1);
    const at = above >= 0 && above === sql.lastIndexOf('\n', m.index! - 2) + 1 ? above : m.index!;
    const schema = m[3] === '-' ? '' : `${m[3]}.`;
    marks.push({ at, label: `${m[2]} ${schema}${m[1]}` });
  }
  const entries = marks.map((mk, i) => ({ label: mk.label, start: mk.at, sql: sql.slice(mk.at, marks[i + 1]?.at ?? sql.length) }));
  return { prefix: sql.slice(0, marks[0]?.at ?? sql.length), entries };
}

/** The first line of the statement at `offset` in `entry` (or its first statement): what the user looks for. */
export function statementAt(entry: ScriptEntry, offset?: number): string {
  const lines = entry.sql.split('\n');
  let pos = entry.start;
  let first: string | undefined;
  for (const line of lines) {
    const t = line.trim();
    const isSql = t !== '' && !t.startsWith('--');
    if (isSql && first === undefined) first = t;
    if (offset !== undefined && offset < pos + line.length + 1) break;
    pos += line.length + 1;
    // A statement ends with ";" at the end of a line: the next SQL line starts the next one.
    if (offset !== undefined && isSql && t.endsWith(';')) first = undefined;
  }
  const line = first ?? lines.find((l) => l.trim() && !l.trim().startsWith('--'))?.trim() ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** The server's error position (1-based, in characters) as an offset in the JavaScript string. */
function offsetOf(sql: string, position: number): number {
  let chars = 0;
  let i = 0;
  while (i < sql.length && chars < position - 1) {
    const cp = sql.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    chars++;
  }
  return i;
}

export interface FailedStatement {
  label: string;
  statement: string;
}

// Errors a replay would not locate (the session, the server's resources, a conflict with another session).
const NOT_REPLAYED = /^(08|25|40|53|54|55|57|58|XX)/;

/**
 * The entry and statement of `sql` that raised `err`, or undefined when it cannot be told. May replay the batch on
 * `ctl` inside a transaction it rolls back (the caller's transaction has already ended).
 */
export async function locateFailure(ctl: Client, sql: string, err: unknown): Promise<FailedStatement | undefined> {
  const { prefix, entries } = splitScript(sql);
  if (entries.length === 0) return undefined;
  const position = Number((err as { position?: string }).position);
  if (Number.isInteger(position) && position > 0) {
    const at = offsetOf(sql, position);
    const entry = [...entries].reverse().find((e) => e.start <= at);
    if (entry) return { label: entry.label, statement: statementAt(entry, at) };
  }
  const code = errorCode(err);
  if (!code || NOT_REPLAYED.test(code)) return undefined;
  await ctl.query('BEGIN');
  try {
    if (prefix.trim()) await ctl.query(prefix);
    for (const entry of entries) {
      await ctl.query('SAVEPOINT pgshift_entry');
      try {
        await ctl.query(entry.sql);
      } catch (again) {
        const p = Number((again as { position?: string }).position);
        if (Number.isInteger(p) && p > 0) return { label: entry.label, statement: statementAt(entry, entry.start + offsetOf(entry.sql, p)) };
        await ctl.query('ROLLBACK TO SAVEPOINT pgshift_entry');
        return { label: entry.label, statement: (await failingStatement(ctl, entry.sql)) ?? statementAt(entry) };
      }
    }
    return undefined;
  } finally {
    await ctl.query('ROLLBACK').catch(() => undefined);
  }
}

/** An error that only says the text given was not a whole statement (cut inside a quoted body). */
function incomplete(err: unknown): boolean {
  return errorCode(err) === '42601' && /at end of input|unterminated/.test(err instanceof Error ? err.message : '');
}

/**
 * The first line of the statement of one entry that fails: its lines are sent a piece at a time, each piece ending
 * with a line that ends in ";" (a piece cut inside a quoted body fails as incomplete and takes the next lines too).
 */
async function failingStatement(ctl: Client, sql: string): Promise<string | undefined> {
  let piece = '';
  for (const line of sql.split('\n')) {
    piece += `${line}\n`;
    if (!line.trimEnd().endsWith(';')) continue;
    await ctl.query('SAVEPOINT pgshift_statement');
    try {
      await ctl.query(piece);
      await ctl.query('RELEASE SAVEPOINT pgshift_statement');
      piece = '';
    } catch (err) {
      await ctl.query('ROLLBACK TO SAVEPOINT pgshift_statement');
      if (incomplete(err)) continue;
      return statementAt({ label: '', start: 0, sql: piece });
    }
  }
  return undefined;
}

/**
 * A word the target's server treats as a keyword where the dump wrote it bare ("syntax error at or near "json"").
 * Returns the keyword's category on the target, or undefined.
 */
export async function keywordOnTarget(ctl: Client, err: unknown): Promise<{ word: string; category: string } | undefined> {
  if (errorCode(err) !== '42601') return undefined;
  const m = /at or near "([^"]+)"/.exec(err instanceof Error ? err.message : '');
  if (!m) return undefined;
  const { rows } = await ctl
    .query<{ catdesc: string }>(`SELECT catdesc FROM pg_get_keywords() WHERE word = lower($1) AND catcode <> 'U'`, [m[1]])
    .catch(() => ({ rows: [] as { catdesc: string }[] }));
  return rows[0] ? { word: m[1]!, category: rows[0].catdesc } : undefined;
}
