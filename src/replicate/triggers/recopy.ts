// An initial copy interrupted during its data phase, under trigger capture. The rerun reads a NEW snapshot, so
// the chunks copied before (first snapshot) and after (new one) would mix two moments: a unique value that moved
// from a copied chunk to one still to copy is then held twice and the unique index can never be built (issue 21
// item 8), and a row referencing one created in between can break a foreign key. The applier would converge
// the rows, but only after the copy has built those indexes and keys. So, as the pgoutput path does, every table
// the interrupted copy loaded is emptied and copied again from the new snapshot (schema and indexes already
// built are kept): the copy reads one snapshot, and the log since the first one is applied again (it converges).
import type { Client } from '../../db/connect.js';
import { displayName, qualify } from '../../db/ident.js';
import { PgshiftError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { loadChunks, resetTableChunks } from '../../state/store.js';

export async function recopyLoadedTables(ctl: Client, logger: Logger): Promise<string[]> {
  const chunks = await loadChunks(ctl);
  const loaded = new Map<string, { schema: string; name: string }>();
  for (const c of chunks) if (c.done) loaded.set(qualify(c.schema, c.name), { schema: c.schema, name: c.name });
  const names: string[] = [];
  for (const [q, t] of loaded) {
    const { rows } = await ctl.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [q]);
    if (!rows[0].ok) continue;
    await resetTableChunks(ctl, t, q);
    names.push(displayName(t.schema, t.name));
  }
  if (names.length) {
    logger.warn(
      `replicate: the initial copy was interrupted before its data was complete; copying ${names.join(', ')} again from the new snapshot (one snapshot for every table, so unique indexes and foreign keys can be built)`,
    );
  }
  return names;
}

/** The copy engine's hints name `copy --resume`; inside replicate the way on is to run replicate again. */
export function withReplicateHint(err: unknown): unknown {
  if (err instanceof PgshiftError && err.hint && /--resume/.test(err.hint)) {
    (err as { hint?: string }).hint = 'fix the cause, then run the same pgshift replicate --capture triggers command again (it finishes the initial copy)';
  }
  return err;
}
