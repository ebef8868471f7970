// Helpers for replicate tests: the slot/publication a run recorded, waiting on target state, a writer loop.
import type { TestDatabase } from './fixtures.js';

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 120_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v as T;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The replication recorded on the target (read as the superuser, independent of pgshift's code). */
export async function recorded(tgt: TestDatabase): Promise<{ slot: string; publication: string; copy_done: boolean; applied: string | null } | null> {
  const { rows } = await tgt.admin(`SELECT to_regclass('pgshift.replication') IS NOT NULL AS ok`);
  if (!rows[0].ok) return null;
  const r = await tgt.admin(`SELECT slot, publication, copy_done_at IS NOT NULL AS copy_done, applied_position::text AS applied FROM pgshift.replication`);
  return r.rows[0] ?? null;
}

export async function slotsAndPublications(src: TestDatabase): Promise<{ slots: string[]; publications: string[] }> {
  const s = await src.admin(`SELECT slot_name FROM pg_replication_slots WHERE database = current_database() ORDER BY 1`);
  const p = await src.admin(`SELECT pubname FROM pg_publication ORDER BY 1`);
  return { slots: s.rows.map((r) => r.slot_name), publications: p.rows.map((r) => r.pubname) };
}

/** Small write transactions against the source until stopped: inserts, updates, deletes, a trigger table. */
export function startWriter(src: TestDatabase, table: string): { stop(): Promise<number> } {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      n++;
      await src.owner(
        `BEGIN;
         INSERT INTO ${table} (v, n) VALUES (md5(random()::text), ${n});
         UPDATE ${table} SET n = n + 1, v = v || 'u' WHERE id = (SELECT id FROM ${table} ORDER BY random() LIMIT 1);
         DELETE FROM ${table} WHERE id = (SELECT id FROM ${table} WHERE n % 7 = 0 ORDER BY id LIMIT 1);
         INSERT INTO payments VALUES (100000 + ${n}, ${n}.25);
         COMMIT;`,
      );
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return n;
    },
  };
}
