// A table's definition as the source announces it (a Relation message: the columns of the changes that follow)
// against the target, and what to do about the difference: the exact statements for the target, and which of them
// --apply-ddl runs by itself. Pure: the writer reads both sides and runs (or names) the statements.
import { quoteIdent } from '../../db/ident.js';
import type { CurrentColumn, RelationEvent } from '../change.js';
import type { TargetTable } from './catalog.js';

const FIRST_USER_OID = 16384;

export interface RelationDiff {
  /** The source's catalog was read (else `dropped` rests on the previous announcement only). */
  catalogRead: boolean;
  /** Sent, but on neither the target nor the source any more (dropped on both since these changes): not written. */
  ignored: string[];
  /** Sent, not on the target; `cur`: the source's column now (null: not known). */
  added: { name: string; cur: CurrentColumn | null }[];
  /** On the target, not sent, and not on the source now (or, unknown, sent by the previous announcement). */
  dropped: { name: string; type: string; announcedBefore: boolean }[];
  /** A built-in type that differs. */
  retyped: { name: string; sourceOid: number; target: string; cur: CurrentColumn | null }[];
}

/** Do the announcement and the target disagree at all (only then is the source's catalog read)? */
export function disagrees(t: TargetTable, ev: RelationEvent): boolean {
  const sent = new Set(ev.columns.map((c) => c.name));
  return (
    ev.columns.some((c) => !t.columns.has(c.name) || retyped(c.typeOid, t.columns.get(c.name)!.typeOid)) ||
    [...t.columns.values()].some((c) => !c.generated && !sent.has(c.name))
  );
}

function retyped(sourceOid: number, targetOid: number): boolean {
  return sourceOid > 0 && sourceOid < FIRST_USER_OID && targetOid < FIRST_USER_OID && sourceOid !== targetOid;
}

/** `now`: the source's columns now, null when unknown. */
export function diffRelation(t: TargetTable, ev: RelationEvent, now: Map<string, CurrentColumn> | null): RelationDiff {
  const d: RelationDiff = { catalogRead: now !== null, ignored: [], added: [], dropped: [], retyped: [] };
  for (const c of ev.columns) {
    const tc = t.columns.get(c.name);
    if (!tc) {
      const cur = now?.get(c.name) ?? null;
      if (now && !cur) d.ignored.push(c.name);
      else d.added.push({ name: c.name, cur });
    } else if (retyped(c.typeOid, tc.typeOid)) {
      d.retyped.push({ name: c.name, sourceOid: c.typeOid, target: tc.type, cur: now?.get(c.name) ?? null });
    }
  }
  const sent = new Set(ev.columns.map((c) => c.name));
  const before = new Set(ev.previous?.map((c) => c.name));
  for (const tc of t.columns.values()) {
    if (sent.has(tc.name) || tc.generated || (now ? now.has(tc.name) : !before.has(tc.name))) continue;
    d.dropped.push({ name: tc.name, type: tc.type, announcedBefore: before.has(tc.name) });
  }
  return d;
}

export interface DdlPlan {
  /** What differs, for the message; empty when nothing stops the run. */
  problems: string[];
  /** The statements for the target that resolve `problems` (fewer when one has no exact statement). */
  fixes: string[];
  /** --apply-ddl: statements run on the target now. */
  auto: string[];
}

/**
 * --apply-ddl runs ADD COLUMN of a nullable column without a default (the rows already there are NULL on both
 * sides: exact) and DROP COLUMN; anything else is named. One column gone and one of the same type come is a
 * rename, never run by itself: the advice is RENAME (ADD + DROP would lose the column's values on the target).
 */
export function planDdl(t: TargetTable, d: RelationDiff, applyDdl: boolean): DdlPlan {
  const p: DdlPlan = { problems: [], fixes: [], auto: [] };
  const table = t.qualified;
  const [a] = d.added;
  const [x] = d.dropped;
  if (d.added.length === 1 && d.dropped.length === 1 && a!.cur && a!.cur.type === x!.type) {
    p.problems.push(`column ${x!.name} is on the target, ${a!.name} (same type) on the source: renamed on the source?`);
    p.fixes.push(`ALTER TABLE ${table} RENAME COLUMN ${quoteIdent(x!.name)} TO ${quoteIdent(a!.name)}`);
  } else {
    for (const { name, cur } of d.added) {
      const add = cur
        ? `ALTER TABLE ${table} ADD COLUMN ${quoteIdent(name)} ${cur.type}${cur.default === null ? '' : ` DEFAULT ${cur.default}`}${cur.notNull ? ' NOT NULL' : ''}`
        : null;
      if (add && applyDdl && !cur!.notNull && cur!.default === null) p.auto.push(add);
      else {
        p.problems.push(`column ${name} exists on the source but not on the target`);
        if (add) p.fixes.push(add);
      }
    }
    for (const { name, announcedBefore } of d.dropped) {
      const drop = `ALTER TABLE ${table} DROP COLUMN ${quoteIdent(name)}`;
      // Run only when the source's catalog confirmed it (not on the strength of an earlier announcement alone).
      if (applyDdl && d.catalogRead) p.auto.push(drop);
      else {
        p.problems.push(
          `column ${name} is on the target but ${announcedBefore ? 'was dropped on the source' : 'not on the source (drop it on the target, or add it on the source)'}`,
        );
        p.fixes.push(drop);
      }
    }
  }
  for (const r of d.retyped) {
    p.problems.push(`column ${r.name} has type OID ${r.sourceOid} on the source but ${r.target} on the target`);
    if (r.cur) p.fixes.push(`ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(r.name)} TYPE ${r.cur.type} USING ${quoteIdent(r.name)}::${r.cur.type}`);
  }
  return p;
}
