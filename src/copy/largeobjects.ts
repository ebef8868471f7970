// Large objects (pg_dump --schema-only leaves them out; logical replication never carries them): copied with
// their OIDs, in slices, so memory stays flat whatever their size.
import { withTransaction, type Client } from '../db/connect.js';

const SLICE = 1024 * 1024;

/** OIDs of the source's large objects (their sizes need superuser to read pg_largeobject, so none are given). */
export async function listLargeObjects(src: Client): Promise<number[]> {
  const { rows } = await src.query<{ oid: string }>(`SELECT oid::int8 AS oid FROM pg_catalog.pg_largeobject_metadata ORDER BY oid`);
  return rows.map((r) => Number(r.oid));
}

/** Copy one large object; idempotent (an object left by an interrupted run is replaced). */
export async function copyLargeObject(src: Client, tgt: Client, oid: number, onBytes?: (n: number) => void): Promise<number> {
  let total = 0;
  await withTransaction(tgt, async () => {
    await tgt.query(`SELECT pg_catalog.lo_unlink($1::oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = $1::oid`, [oid]);
    await tgt.query(`SELECT pg_catalog.lo_create($1::oid)`, [oid]);
    for (let offset = 0; ; offset += SLICE) {
      const { rows } = await src.query<{ data: Buffer }>(`SELECT pg_catalog.lo_get($1::oid, $2::int8, $3::int4) AS data`, [oid, offset, SLICE]);
      const data = rows[0]!.data;
      if (data.length > 0) {
        await tgt.query(`SELECT pg_catalog.lo_put($1::oid, $2::int8, $3::bytea)`, [oid, offset, data]);
        total += data.length;
        onBytes?.(data.length);
      }
      if (data.length < SLICE) break;
    }
  });
  return total;
}
