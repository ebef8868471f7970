// The applier trusts only log rows pgshift's capture can have written (issue 22): a known table, a known
// operation, a key of the table's key shape that reads as its key types, a committed transaction id. The log is
// reachable by its owner only (acl.ts), so a row failing this was written by that role or a superuser by hand —
// or the capture is broken: the run stops naming the row, and nothing of the batch is applied.
import type { Client } from '../../db/connect.js';
import { displayName } from '../../db/ident.js';
import { PgshiftError } from '../../errors.js';
import { LOG, type CapturedTable } from './install.js';

const LOG_NAME = '_pgshift.log';

/** A log row pgshift's capture did not write: the run stops, nothing of the batch applied. */
export class CaptureLogError extends PgshiftError {}

/**
 * A pending log row (l, joined LEFT to s(tbl, width) of the captured tables) the capture cannot have written: an
 * unknown table or operation, a transaction that is not a committed one of the batch snapshot ($3) — a row the
 * batch can read was committed before it, unless its xid was forged —, a TRUNCATE with a key, or a key not of the
 * table's shape (s.width values, none NULL).
 */
export const SUSPECT = `s.tbl IS NULL OR l.op NOT IN ('I', 'U', 'D', 'T')
  OR NOT pg_catalog.pg_visible_in_snapshot(l.xid, $3::pg_catalog.pg_snapshot)
  OR (l.op = 'T' AND l.key IS NOT NULL)
  OR (l.op <> 'T' AND (l.key IS NULL OR pg_catalog.array_ndims(l.key) <> 1 OR pg_catalog.array_lower(l.key, 1) <> 1
      OR pg_catalog.cardinality(l.key) <> s.width OR pg_catalog.array_position(l.key, NULL) IS NOT NULL))`;

function refusal(r: { id: string; xid: string; at: Date }, reason: string, table: string | null): CaptureLogError {
  return new CaptureLogError(
    `apply: the capture log row id ${r.id} (xid ${r.xid}, written ${new Date(r.at).toISOString()}) was not written by pgshift's capture: ${reason}; nothing of this batch was applied and replication stopped`,
    {
      phase: 'apply',
      object: table ?? `${LOG_NAME} id ${r.id}`,
      hint: `only the owner of ${LOG_NAME} can write it: find who did (a superuser, or a member of that role), then start over (pgshift cleanup --source … --target …, then pgshift replicate --capture triggers into an empty target), since rows may also have been removed from the log`,
    },
  );
}

/** Name a suspect log row (see SUSPECT) and why; inside the batch's source transaction. */
export async function refuseRow(src: Client, byOid: Map<number, CapturedTable>, id: string, snapshot: string): Promise<CaptureLogError> {
  const { rows } = await src.query(
    `SELECT l.id::text AS id, l.xid::text AS xid, l.tbl::int8 AS tbl, l.op::text AS op, l.at, pg_catalog.cardinality(l.key) AS width, l.key IS NULL AS nokey,
            pg_catalog.array_position(l.key, NULL) IS NOT NULL AS nulls, pg_catalog.pg_visible_in_snapshot(l.xid, $2::pg_catalog.pg_snapshot) AS committed
       FROM ${LOG} l WHERE l.id = $1::int8`,
    [id, snapshot],
  );
  const r = rows[0];
  const t = byOid.get(Number(r.tbl));
  const shape = t ? (t.key ? `key (${t.key.length} column${t.key.length === 1 ? '' : 's'}, never NULL)` : 'row image (1 value)') : '';
  const reason = !t
    ? `it names table oid ${r.tbl}, which this replication does not capture`
    : !['I', 'U', 'D', 'T'].includes(r.op)
      ? `its operation ${JSON.stringify(r.op)} is none of I, U, D, T`
      : !r.committed
        ? `its transaction id ${r.xid} is not a committed transaction of the source (in the future, or never committed)`
        : r.op === 'T'
          ? 'a TRUNCATE row carries a key'
          : `its key (${r.nokey ? 'none' : `${r.width} value${r.width === 1 ? '' : 's'}${r.nulls ? ' with NULLs' : ''}`}) does not have the shape of ${displayName(t.schema, t.name)}'s ${shape}`;
  return refusal(r, reason, t ? displayName(t.schema, t.name) : null);
}

/**
 * After a batch failed with a data exception while reading `t`'s keys: the first pending log row of `t` whose key
 * does not read as the key types, found by bisecting the id range (each probe in a savepoint; CASE keeps the cast
 * from running on rows outside the probed range). Null when none is found (the error was something else).
 */
export async function findUncastableKey(src: Client, t: CapturedTable, applied: string): Promise<CaptureLogError | null> {
  if (!t.key) return null;
  const pending = `l.tbl = ${t.oid} AND l.op <> 'T' AND NOT pg_catalog.pg_visible_in_snapshot(l.xid, $1::pg_catalog.pg_snapshot)`;
  const casts = `(${t.keyTypes.map((ty, i) => `l.key[${i + 1}]::${ty}`).join(', ')}) IS NOT NULL`;
  await src.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const { rows } = await src.query(`SELECT min(l.id)::text AS lo, max(l.id)::text AS hi FROM ${LOG} l WHERE ${pending}`, [applied]);
    if (rows[0].lo === null) return null;
    const fails = async (lo: bigint, hi: bigint): Promise<boolean> => {
      await src.query('SAVEPOINT pgshift_probe');
      try {
        await src.query(`SELECT count(*) FROM ${LOG} l WHERE ${pending} AND CASE WHEN l.id BETWEEN $2::int8 AND $3::int8 THEN ${casts} END`, [
          applied,
          String(lo),
          String(hi),
        ]);
        await src.query('RELEASE SAVEPOINT pgshift_probe');
        return false;
      } catch {
        await src.query('ROLLBACK TO SAVEPOINT pgshift_probe');
        return true;
      }
    };
    let lo = BigInt(rows[0].lo);
    let hi = BigInt(rows[0].hi);
    if (!(await fails(lo, hi))) return null;
    while (lo < hi) {
      const mid = lo + (hi - lo) / 2n;
      if (await fails(lo, mid)) hi = mid;
      else lo = mid + 1n;
    }
    const { rows: row } = await src.query(`SELECT l.id::text AS id, l.xid::text AS xid, l.at FROM ${LOG} l WHERE l.id = $1::int8`, [String(lo)]);
    const label = displayName(t.schema, t.name);
    return refusal(row[0], `its key does not read as ${label}'s key (${t.key.join(', ')}: ${t.keyTypes.join(', ')})`, label);
  } finally {
    await src.query('ROLLBACK').catch(() => undefined);
  }
}
