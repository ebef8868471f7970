// After post-data: refresh the materialized views that were populated on the source (in creation order).
import type { Client } from '../db/connect.js';
import { qualify } from '../db/ident.js';
import { errorCode } from '../errors.js';
import { userSchemaSql } from '../catalog/system.js';

export async function populatedMatviews(src: Client): Promise<{ schema: string; name: string }[]> {
  const { rows } = await src.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'm' AND c.relispopulated AND ${userSchemaSql('n.nspname')}
      ORDER BY c.oid`,
  );
  return rows;
}

/** Refresh in creation order; a view built on another not-yet-refreshed view is retried after it. */
export async function refreshMatviews(tgt: Client, views: { schema: string; name: string }[], onDone?: () => void): Promise<void> {
  let pending = [...views];
  while (pending.length > 0) {
    const failed: typeof pending = [];
    let lastErr: unknown;
    for (const v of pending) {
      try {
        await tgt.query(`REFRESH MATERIALIZED VIEW ${qualify(v.schema, v.name)}`);
        onDone?.();
      } catch (err) {
        if (errorCode(err) !== '55000') throw err; // only "has not been populated" is worth a retry
        failed.push(v);
        lastErr = err;
      }
    }
    if (failed.length === pending.length) throw lastErr;
    pending = failed;
  }
}
