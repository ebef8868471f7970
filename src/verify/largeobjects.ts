// Large objects: same OIDs, same contents. Each object is hashed on its server one slice at a time (lo_get of
// 1 MB, md5 per slice, md5 of the slice hashes), both sides stream (oid, bytes, hash) in OID order through
// cursors and the client merges them: no object, and no list of all objects, is ever held in memory.
import { CursorReader } from './pool.js';
import type { VerifySession } from './session.js';
import type { LargeObjectDifference, LargeObjectReport } from './types.js';

const SLICE = 1024 * 1024;

/**
 * One row per large object: its size and a hash of its contents. The recursive query keeps only (offset,
 * length, md5) of each slice; lo_get needs SELECT on the object (the owner has it) and reads the snapshot.
 */
export const LARGE_OBJECTS_SQL = `
SELECT l.oid::int8::text AS oid, h.bytes::text AS bytes, h.hash
  FROM pg_catalog.pg_largeobject_metadata l
  CROSS JOIN LATERAL (
    WITH RECURSIVE s(off, len, md) AS (
      SELECT 0::int8, length(x.d), md5(x.d) FROM (SELECT pg_catalog.lo_get(l.oid, 0, ${SLICE}) AS d) x
      UNION ALL
      SELECT s.off + ${SLICE}, length(x.d), md5(x.d)
        FROM s CROSS JOIN LATERAL (SELECT pg_catalog.lo_get(l.oid, s.off + ${SLICE}, ${SLICE}) AS d) x
       WHERE s.len = ${SLICE})
    SELECT sum(s.len) AS bytes, md5(string_agg(s.md, '' ORDER BY s.off)) AS hash FROM s) h
 ORDER BY l.oid`;

interface LoRow {
  oid: string;
  bytes: string;
  hash: string;
}

export async function compareLargeObjects(ss: VerifySession, ts: VerifySession, max: number): Promise<LargeObjectReport> {
  const out: LargeObjectReport = { match: true, sourceCount: 0, targetCount: 0, missing: 0, extra: 0, different: 0, differences: [], truncated: false };
  const [s, t] = await Promise.all([CursorReader.open<LoRow>(ss, LARGE_OBJECTS_SQL, [], 200), CursorReader.open<LoRow>(ts, LARGE_OBJECTS_SQL, [], 200)]);
  try {
    let a = await s.next();
    let b = await t.next();
    while (a || b) {
      const cmp = !a ? 1 : !b ? -1 : Math.sign(Number(BigInt(a.oid) - BigInt(b.oid)));
      let d: LargeObjectDifference | undefined;
      if (cmp < 0) {
        out.sourceCount++;
        out.missing++;
        d = { kind: 'missing', oid: a!.oid, sourceBytes: Number(a!.bytes), targetBytes: null };
        a = await s.next();
      } else if (cmp > 0) {
        out.targetCount++;
        out.extra++;
        d = { kind: 'extra', oid: b!.oid, sourceBytes: null, targetBytes: Number(b!.bytes) };
        b = await t.next();
      } else {
        out.sourceCount++;
        out.targetCount++;
        if (a!.hash !== b!.hash || a!.bytes !== b!.bytes) {
          out.different++;
          d = { kind: 'different', oid: a!.oid, sourceBytes: Number(a!.bytes), targetBytes: Number(b!.bytes), sourceMd5: a!.hash, targetMd5: b!.hash };
        }
        [a, b] = await Promise.all([s.next(), t.next()]);
      }
      if (!d) continue;
      out.match = false;
      // Counts stay exact; only the list is capped.
      if (out.differences.length < max) out.differences.push(d);
      else out.truncated = true;
    }
  } finally {
    await Promise.all([s.close(), t.close()]);
  }
  return out;
}
