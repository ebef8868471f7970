// verify's next steps fit the state the target is in (issue #29.4): an empty target is copied, an interrupted copy
// is resumed, a replication is caught up, and a finished copy reloads exactly the tables that differ — emptied
// first (with the tables whose foreign keys reference them), then `copy --data-only --include …`, which refuses
// tables that still hold rows. Each step is printed as a statement or a command that works when run as written
// (the URLs in place of `…`). Only catalog reads: verify changes nothing.
import type { TableFilter } from '../catalog/filter.js';
import { STATE_SCHEMA } from '../catalog/system.js';
import { targetObjects } from '../copy/preflight.js';
import type { Client } from '../db/connect.js';
import { displayName } from '../db/ident.js';
import { describeHolder, targetRunHolder } from '../db/lock.js';
import { terminalSafe } from '../terminal.js';
import type { DerivedReport, NextStep, SequenceReport, TableReport, TargetState } from './types.js';

/** What pgshift left on the target, read before verify's snapshot (a failed read here must not abort it). */
export async function readTargetState(c: Client): Promise<TargetState> {
  try {
    const { rows } = await c.query<{ copy: boolean; repl: boolean; capture: boolean }>(
      `SELECT to_regclass($1 || '.copy_run') IS NOT NULL AS copy, to_regclass($1 || '.replication') IS NOT NULL AS repl,
              to_regclass($1 || '.capture') IS NOT NULL AS capture`,
      [STATE_SCHEMA],
    );
    const has = rows[0]!;
    const holder = await targetRunHolder(c);
    const running = holder ? terminalSafe(describeHolder(holder)) : null; // application_name: anyone's text
    for (const [present, table, capture] of [
      [has.capture, 'capture', 'triggers'],
      [has.repl, 'replication', 'pgoutput'],
    ] as const) {
      if (!present) continue;
      const { rows: r } = await c.query<{ copy_done: boolean; caught_up: boolean }>(
        `SELECT copy_done_at IS NOT NULL AS copy_done, caught_up_at IS NOT NULL AS caught_up FROM ${STATE_SCHEMA}.${table} WHERE id = 1`,
      );
      if (r[0]) return { kind: 'replication', capture, copyDone: r[0].copy_done, caughtUp: r[0].caught_up, running };
    }
    if (has.copy) {
      const { rows: r } = await c.query<{ finished: boolean; options: { mode?: string; filter?: Partial<TableFilter> } }>(
        `SELECT finished_at IS NOT NULL AS finished, options FROM ${STATE_SCHEMA}.copy_run WHERE id = 1`,
      );
      if (r[0]) {
        const mode = r[0].options?.mode === 'schema-only' || r[0].options?.mode === 'data-only' ? r[0].options.mode : 'full';
        const f = r[0].options?.filter ?? {};
        return { kind: 'copy', finished: r[0].finished, mode, filter: { include: strings(f.include), exclude: strings(f.exclude) }, running };
      }
    }
    // No recorded run (a crash before the first record leaves at most the state schema): copy starts over.
    return (await targetObjects(c)).count === 0 ? { kind: 'empty' } : { kind: 'unmanaged' };
  } catch (err) {
    return { kind: 'unknown', reason: err instanceof Error ? err.message : String(err) };
  }
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/**
 * The tables to empty and reload: the differing ones plus, on the target, every table whose foreign key references
 * one of them (recursively) — TRUNCATE refuses a referenced table alone, and CASCADE would empty those silently.
 */
export async function reloadSet(c: Client, tables: { schema: string; name: string }[]): Promise<{ schema: string; name: string }[]> {
  if (tables.length === 0) return [];
  const { rows } = await c.query<{ schema: string; name: string }>(
    `WITH RECURSIVE s(oid) AS (
       SELECT c.oid FROM unnest($1::text[], $2::text[]) AS u(s, n)
         JOIN pg_catalog.pg_namespace ns ON ns.nspname = u.s JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND c.relname = u.n
       UNION
       SELECT k.conrelid FROM pg_catalog.pg_constraint k JOIN s ON k.confrelid = s.oid WHERE k.contype = 'f'
     )
     SELECT n.nspname AS schema, c.relname AS name FROM s JOIN pg_catalog.pg_class c ON c.oid = s.oid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  return rows;
}

/** One shell word: as it is when it is plain, else in single quotes. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_.,:=/@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const filterFlags = (f: Partial<TableFilter>) =>
  [...(f.include ?? []).map((p) => `--include ${shellWord(p)}`), ...(f.exclude ?? []).map((p) => `--exclude ${shellWord(p)}`)].join(' ');
const cmd = (...parts: string[]) => parts.filter(Boolean).join(' ');

export interface RemedyInput {
  state: TargetState;
  /** verify's own --include/--exclude. */
  filter: Partial<TableFilter>;
  tables: TableReport[];
  derived: DerivedReport[];
  /** What reloadSet() returned for the tables that differ and exist on both sides. */
  reload: { schema: string; name: string }[];
  sequences: SequenceReport[];
  /** Sequences (display names) the source says the reloaded tables own: the reload sets them. */
  ownedByReload: string[];
  schemaDifferences: number;
  largeObjectsDiffering: number;
}

const list = (names: string[]) => names.slice(0, 5).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');

export function nextSteps(x: RemedyInput): NextStep[] {
  const s = x.state;
  const bad = x.tables.filter((t) => !t.match);
  if (s.kind === 'empty') {
    return [
      {
        about: 'target',
        text: 'the target holds no tables yet: nothing was copied into it. Copy the source (for a live migration: pgshift replicate --source … --target … --until-caught-up instead), then verify again',
        command: cmd('pgshift copy --source … --target …', filterFlags(x.filter)),
      },
    ];
  }
  // A run in progress holds the target: a second one would be refused (exit 2). Let it end first.
  if (s.kind === 'copy' && !s.finished && s.running) {
    return [
      {
        about: 'target',
        text: `a pgshift copy is still running into this target (${s.running}): let it finish (it says "Next: pgshift verify"), then verify again`,
      },
    ];
  }
  if (s.kind === 'copy' && !s.finished) {
    return [
      {
        about: 'target',
        text: 'a pgshift copy into this target was interrupted: finish it (it keeps the --include/--exclude of its first run), then verify again',
        command: 'pgshift copy --source … --target … --resume',
      },
    ];
  }
  if (s.kind === 'replication') {
    const replicate = cmd('pgshift replicate --source … --target …', s.capture === 'triggers' ? '--capture triggers' : '', '--until-caught-up');
    if (s.running) {
      return [
        {
          about: 'target',
          text:
            `a pgshift replicate is running against this target (${s.running}): freeze writes to the source and let it catch up — ` +
            'run with --until-caught-up it finishes by itself; otherwise stop it (Ctrl-C) and run the command below — then verify again',
          command: replicate,
        },
      ];
    }
    if (!s.copyDone) {
      return [
        {
          about: 'target',
          text: 'the initial copy of a pgshift replicate into this target did not finish: run replicate again (it redoes the copy and catches up), then verify again',
          command: replicate,
        },
      ];
    }
    const steps: NextStep[] = [];
    if (bad.length || x.derived.some((d) => !d.match) || x.sequences.some((q) => !q.match)) {
      steps.push({
        about: 'tables',
        text:
          `a pgshift replicate feeds this target${bad.length ? ` (${bad.length} table(s) differ: ${list(bad.map((t) => t.table))})` : ''}: freeze writes to the source, then catch up — ` +
          'the finish applies what is left, sets the sequences and refreshes the materialized views — and verify again. ' +
          'If tables still differ with everything applied, start over: pgshift cleanup --source … --target …, empty the target, and replicate again',
        command: replicate,
      });
    }
    return [...steps, ...common(x, { tables: false, derived: !steps.length, sequences: false })];
  }
  // A finished copy, or a target loaded some other way: reload what differs.
  if (s.kind === 'copy' && s.mode === 'schema-only' && bad.length) {
    return [
      {
        about: 'tables',
        text: 'the target holds a schema-only copy: load the data (the tables must be empty; it sets the sequences too, and leaves materialized views to REFRESH), then verify again',
        command: cmd('pgshift copy --source … --target … --data-only', filterFlags(s.filter)),
      },
      ...common(x, { tables: false, derived: true, sequences: false }),
    ];
  }
  return common(x, { tables: true, derived: true, sequences: true });
}

function common(x: RemedyInput, what: { tables: boolean; derived: boolean; sequences: boolean }): NextStep[] {
  const out: NextStep[] = [];
  const bad = x.tables.filter((t) => !t.match);
  const both = bad.filter((t) => t.comparedAs !== 'not compared');
  const missing = bad.filter((t) => t.notes.includes('missing on the target'));
  const extra = bad.filter((t) => t.notes.includes('exists only on the target'));
  if (what.tables && both.length) {
    const names = x.reload.map((t) => displayName(t.schema, t.name));
    const added = names.filter((n) => !both.some((t) => t.table === n));
    out.push({
      about: 'tables',
      text:
        `${both.length} table(s) differ: ${list(both.map((t) => t.table))} — if writes to the source were still running, freeze them and verify again; ` +
        `otherwise empty ${added.length ? `them and the tables whose foreign keys reference them (${list(added)})` : 'them'} on the target and reload them from the source ` +
        '(the reload also sets the sequences they own), or investigate the rows above',
      sql: `TRUNCATE ONLY ${names.join(', ')};`,
      command: cmd('pgshift copy --source … --target … --data-only', x.reload.map((t) => `--include ${shellWord(`${t.schema}.${t.name}`)}`).join(' ')),
    });
  }
  if (what.tables && missing.length) {
    out.push({
      about: 'tables',
      text: `${missing.length} table(s) are missing on the target: ${list(missing.map((t) => t.table))} — create them from the source definition (Schema objects), then load them with pgshift copy --source … --target … --data-only --include <table>`,
    });
  }
  if (what.tables && extra.length)
    out.push({
      about: 'tables',
      text: `${extra.length} table(s) exist only on the target: ${list(extra.map((t) => t.table))} — drop them there if they are not part of the application`,
    });
  const covered = new Set(what.tables ? x.ownedByReload : []);
  const seqs = x.sequences.filter((q) => !q.match && !covered.has(q.sequence));
  if (what.sequences && seqs.length) {
    const settable = seqs.filter((q) => q.source && q.target);
    const literal = (v: string) => `'${v.replace(/'/g, "''")}'`;
    out.push({
      about: 'sequences',
      text: `${seqs.length} sequence(s) differ: ${list(seqs.map((q) => q.sequence))} — set ${settable.length === seqs.length ? 'them' : 'those on both sides'} to the source's value${settable.length < seqs.length ? ' (create the others from the source definition first)' : ''}`,
      sql: settable.length
        ? `SELECT ${settable.map((q) => `setval(${literal(q.sequence)}, ${q.source!.lastValue}, ${q.source!.isCalled})`).join(', ')};`
        : undefined,
    });
  }
  if (what.derived) {
    for (const d of x.derived.filter((v) => !v.match && v.remedy)) out.push({ about: 'derived', text: `materialized view ${d.table}: ${d.remedy}` });
  }
  if (x.schemaDifferences)
    out.push({ about: 'schema', text: `${x.schemaDifferences} schema object(s) differ: recreate them on the target from the source definition shown` });
  if (x.largeObjectsDiffering) {
    out.push({
      about: 'large objects',
      text: `${x.largeObjectsDiffering} large object(s) differ: if large-object writes were still running, freeze them and verify again; otherwise copy them again (lo_unlink the target's, then lo_import/lo_put from the source)`,
    });
  }
  return out;
}
