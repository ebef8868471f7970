// `pgshift cleanup --source OLD --target NEW` after a cutover --reverse: the reverse stream ends too — its capture
// on NEW (slot and publication, or capture triggers and log) and its state on OLD (the pgshift schema there),
// removed by the same cleanup with the sides swapped. A freeze is never lifted: cleanup refuses while a rollback is
// under way (its record is what unfreezes), and names the statement that makes a frozen side writable again.
import type { ConnectionSpec } from '../config.js';
import { withClient } from '../db/connect.js';
import { UsageError } from '../errors.js';
import type { CleanupReport } from '../state/cleanup.js';
import { sideAs, writable } from '../cutover/reverse.js';
import { undoFreezeStatement } from './index.js';
import { loadReverse } from './state.js';

type Cleanup = (target: ConnectionSpec, opts: { force?: boolean; source?: ConnectionSpec }) => Promise<CleanupReport>;

export async function cleanupReverse(
  old: ConnectionSpec,
  neu: ConnectionSpec,
  o: { force?: boolean; cleanup: Cleanup },
): Promise<{ removed: string[]; stillFrozen: string[] } | null> {
  const oldSpec = writable(sideAs(old, 'target'));
  const rev = await withClient(oldSpec, (c) => loadReverse(c), { applicationName: 'pgshift cleanup' });
  if (!rev || rev.newSide !== neu.display) return null;
  const underWay = rev.newFrozen && rev.step !== 'done' && rev.step !== 'aborted';
  if (underWay && !o.force)
    throw new UsageError(
      `cleanup: a rollback froze the target ${neu.display} and has not finished (step ${rev.step}); removing its record would leave nobody to unfreeze it; nothing was removed`,
      {
        phase: 'cleanup',
        hint: 'finish it (run the same pgshift rollback again) or undo it (pgshift rollback --abort --source … --target …) first; --force removes everything anyway and prints the statement that unfreezes the target',
      },
    );
  const inner = await o.cleanup(oldSpec, { source: sideAs(neu, 'source'), force: o.force });
  return {
    // The inner cleanup's "source" is the new side (this command's --target), and the other way round.
    removed: inner.removed.map(
      (r) => `reverse stream: ${r.replace(/on the (source|target)/g, (_, side: string) => `on the ${side === 'source' ? 'target' : 'source'}`)}`,
    ),
    stillFrozen: rev.newFrozen
      ? [
          `the target ${neu.display} stays read-only (frozen by pgshift rollback); to make it writable, on the target: ${undoFreezeStatement(rev.newDatabase, rev.newReadOnlyBefore)}`,
        ]
      : [],
  };
}
