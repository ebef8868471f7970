// Start with no gap and no overlap: publication → slot (exported snapshot) → the whole initial copy reads that
// snapshot → streaming starts at the slot's consistent point.
//
// An interrupted initial copy (SIGKILL, lost connection): a slot's exported snapshot dies with the connection
// that exported it and cannot be imported again. Two cases:
// - the copy's data phase had finished: every row is as of the slot's snapshot; the copy is finished with
//   --resume (schema steps, large objects, sequences) and streaming starts at the ORIGINAL consistent point;
// - it had not: the rows already copied are as of the old snapshot, the rest would come from a new one. Rather
//   than apply changes "idempotently" up to the new snapshot's position (impossible to make exact for tables
//   without a key: duplicate rows cannot be told apart), the old slot is dropped, a new slot + snapshot is
//   created, the copied tables are emptied and their data copied again (schema and built indexes are kept).
//   Exact for every table, at the price of recopying the data — said in a warning.
import type { ConnectionSpec } from '../config.js';
import type { CopyOptions, CopySummary } from '../copy/index.js';
import type { Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import type { Logger } from '../log.js';
import { loadRun } from '../state/store.js';
import { formatLsn, parseLsn } from './pgoutput/lsn.js';
import { createPublication, createSlot, dropSlot, slotInfo } from './pgoutput/slot.js';
import { adoptSnapshot } from '../db/snapshot.js';
import { markCopyDone, recordSlot, type ReplicationState } from '../state/replication.js';

export interface InitialInput {
  source: ConnectionSpec;
  target: ConnectionSpec;
  src: Client;
  ctl: Client;
  state: ReplicationState;
  relations: string[];
  copy: Omit<CopyOptions, 'resume' | 'mode' | 'snapshot' | 'runLockHeld'>;
  logger: Logger;
}

export interface InitialResult {
  copy: CopySummary | null;
  /** 'fresh' | 'finished-interrupted-copy' | 'recopied-after-interruption' | 'none' (copy was complete). */
  how: 'fresh' | 'resumed' | 'recopied' | 'none';
}

export async function initialCopy(i: InitialInput): Promise<InitialResult> {
  const { state, logger } = i;
  if (state.copyDone) return { copy: null, how: 'none' };
  const copyRun = await loadRun(i.ctl);
  if (state.consistentPoint && copyRun?.steps.data) {
    logger.warn(
      'replicate: the initial copy was interrupted after all its data was in; finishing it (schema steps, large objects, sequences) and streaming from the original slot',
    );
    const copy = await (await copyEngine())(i.source, i.target, { ...i.copy, resume: true, mode: 'full', runLockHeld: true });
    await markCopyDone(i.ctl, parseLsn(state.consistentPoint));
    return { copy, how: 'resumed' };
  }
  const interrupted = state.consistentPoint !== null;
  if (interrupted) {
    logger.warn(
      `replicate: the initial copy was interrupted before its data was complete; a slot's snapshot cannot be imported again, so slot ${state.slot} is recreated and the data is copied again from its new snapshot (schema and built indexes are kept)`,
    );
  }
  // A slot or publication by our recorded names is ours (recorded before it was created).
  if (await slotInfo(i.src, state.slot)) await dropSlot(i.src, state.slot);
  await createPublication(i.src, state.publication, i.relations);
  const slot = await createSlot(i.source, state.slot);
  const snapshot = await adoptSnapshot(i.source, slot.snapshotName, slot.holder).catch(async (err) => {
    await slot.holder.end().catch(() => undefined);
    throw err;
  });
  try {
    await recordSlot(i.ctl, slot.consistentPointText);
    logger.info(`replicate: slot ${state.slot} created at ${slot.consistentPointText}; initial copy reads its snapshot ${slot.snapshotName}`);
    if (copyRun) await emptyCopiedTables(i.ctl);
    const copy = await (await copyEngine())(i.source, i.target, { ...i.copy, resume: copyRun !== null, mode: 'full', snapshot, runLockHeld: true });
    await markCopyDone(i.ctl, slot.consistentPoint);
    return { copy, how: interrupted ? 'recopied' : 'fresh' };
  } finally {
    await snapshot.close();
  }
}

/** Empty every table the interrupted copy planned, and mark its chunks to do again. */
async function emptyCopiedTables(ctl: Client): Promise<void> {
  const { rows } = await ctl.query(`SELECT DISTINCT table_schema, table_name FROM pgshift.copy_chunk ORDER BY 1, 2`);
  await ctl.query('BEGIN');
  try {
    const present: string[] = [];
    for (const r of rows) {
      const q = `${quoteIdent(r.table_schema)}.${quoteIdent(r.table_name)}`;
      const { rows: ok } = await ctl.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [q]);
      if (ok[0].ok) present.push(`ONLY ${q}`);
    }
    if (present.length) await ctl.query(`TRUNCATE ${present.join(', ')}`);
    await ctl.query(`UPDATE pgshift.copy_chunk SET done_at = NULL, rows = NULL, bytes = NULL`);
    await ctl.query('COMMIT');
  } catch (err) {
    await ctl.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export { formatLsn };

/** The copy engine is loaded only when a copy runs: a resumed replication starts without it (start-up time). */
async function copyEngine(): Promise<typeof import('../copy/index.js').copyDatabase> {
  return (await import('../copy/index.js')).copyDatabase;
}
