// What `pgshift cleanup --source --target` removes for trigger capture: every capture trigger, function and the
// _pgshift schema on the source (with its log), what the applier switched off on the target (put back), and
// the capture state. Idempotent: safe to run twice, after a crash, or after a half-done install (a capture is
// recorded on the target before it is installed). Refused while a replicate runs.
import type { ConnectionSpec } from '../../config.js';
import { connect, type Client } from '../../db/connect.js';
import { UsageError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { restoreSwitches } from '../apply/switches.js';
import { acquireRunLock } from '../../db/lock.js';
import { captureInstalled, removeCapture } from './source.js';
import { dropCaptureState, loadCapture } from '../../state/replication.js';

export interface CaptureCleanup {
  capture: boolean;
  removed: string[];
  /** Captured changes dropped with the log that the target had not applied (null: no log was there). */
  unapplied: number | null;
}

export async function cleanupCapture(
  ctl: Client,
  target: ConnectionSpec,
  source: ConnectionSpec | undefined,
  opts: { force?: boolean; logger?: Logger } = {},
): Promise<CaptureCleanup> {
  void opts.force;
  const logger = opts.logger ?? silentLogger;
  // Refused while a replicate (or copy) holds the target; re-entrant when the caller holds it on `ctl` already.
  await acquireRunLock(ctl, { command: 'cleanup', side: 'target', display: target.display });
  const state = await loadCapture(ctl);
  const removed: string[] = [];
  let unapplied: number | null = null;
  if (state && !source) {
    throw new UsageError(
      `cleanup: ${target.display} is fed by trigger capture on ${state.source}: its triggers, functions and the schema _pgshift live on the source; nothing was removed`,
      {
        hint: 'pass --source with the source URL so the capture (which logs every write on the source) is removed too',
      },
    );
  }
  if (state && source && state.source !== source.display) {
    throw new UsageError(`cleanup: the capture feeding ${target.display} is on ${state.source}, not ${source.display}; nothing was removed`, {
      hint: 'pass the same --source as the replicate run',
    });
  }
  if (source) {
    const src = await connect(source, { applicationName: 'pgshift cleanup' });
    try {
      // A source left read-only by pgshift cutover (ALTER DATABASE … default_transaction_read_only) still drops the capture.
      await src.query(`SET default_transaction_read_only = off`);
      const there = await captureInstalled(src);
      const comment = there.comment ?? '';
      // Ours when its comment is the marker this target recorded, or (a state lost with the target) when it says
      // pgshift made it to feed this target. A capture feeding another target is that target's to remove.
      const ours =
        there.schema &&
        (state ? comment === String(state.options.marker) : comment.startsWith('pgshift trigger capture') && comment.endsWith(` feeding ${target.display}`));
      if (there.schema && !ours) {
        const other = /^pgshift trigger capture \S+ feeding (.+)$/.exec(comment)?.[1];
        throw new UsageError(
          other
            ? `cleanup: the capture on ${source.display} feeds ${other}, not ${target.display}; nothing was removed`
            : `cleanup: the schema _pgshift on ${source.display} was not made by pgshift trigger capture for ${target.display} (${comment || 'no comment'}); nothing was removed`,
          { hint: other ? `run pgshift cleanup --source … --target ${other} to remove that capture` : 'look at it, and drop it yourself if it is not needed' },
        );
      }
      if (ours || state) {
        const r = await removeCapture(src, logger, state?.appliedSnapshot ?? null);
        unapplied = r.unapplied;
        if (r.triggers) removed.push(`${r.triggers} capture triggers on the source`);
        if (r.functions) removed.push(`${r.functions} capture functions on the source`);
        if (r.schema)
          removed.push(
            `schema _pgshift (with its change log${r.unapplied ? `: ${r.unapplied} captured changes the target had not applied were dropped` : ''}) on the source`,
          );
        if (r.unapplied)
          logger.warn(
            `cleanup: dropped ${r.unapplied} captured changes the target ${target.display} had not applied; the target may differ from the source (pgshift verify tells)`,
          );
      }
    } finally {
      await src.end().catch(() => undefined);
    }
  }
  if (state) {
    const r = await restoreSwitches(ctl);
    if (r.triggers + r.foreignKeys + r.identities)
      removed.push(`restored on the target: ${r.triggers} triggers, ${r.foreignKeys} foreign keys, ${r.identities} identity columns`);
    await dropCaptureState(ctl);
    removed.push('capture state on the target');
  }
  return { capture: Boolean(state) || removed.length > 0, removed, unapplied };
}
