// Before anything is written, for every command that restores the schema with pg_dump/pg_restore (copy,
// replicate's initial copy): the pair to use and whether it fits both ends (#23.2), and the objects pg_dump writes in
// a form no server restores (#23.6) — refused here, with the object and the fix, instead of midway through the
// schema step.
import { selfReferencingViewAdvice, selfReferencingViews } from '../catalog/views.js';
import { serverMajor, type Client } from '../db/connect.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { olderThanTarget, pickPgTools, type PgTools } from '../schema/pgdump.js';

/** The chosen pair as copy's --json reports it. */
export interface PgDumpChoice {
  path: string;
  dir: string;
  version: string;
  major: number;
  /** Older than the target's major: a warning was logged (the schema it writes may not restore there). */
  olderThanTarget: boolean;
}

export async function schemaPreflight(
  src: Client,
  tgt: Client,
  opts: { pgBin?: string; command: string; logger: Logger },
): Promise<{ tools: PgTools; choice: PgDumpChoice }> {
  const targetMajor = await serverMajor(tgt);
  const tools = pickPgTools(await serverMajor(src), opts.pgBin, undefined, targetMajor);
  const risk = olderThanTarget(tools, targetMajor);
  if (risk) opts.logger.warn(`${opts.command}: ${risk.message}. To avoid it: ${risk.remedy}`);
  await refuseSelfReferencingViews(src);
  return { tools, choice: { path: tools.pgDump, dir: tools.dir, version: tools.version, major: tools.major, olderThanTarget: risk !== undefined } };
}

export async function refuseSelfReferencingViews(src: Client): Promise<void> {
  const views = await selfReferencingViews(src);
  if (views.length === 0) return;
  const advice = views.map(selfReferencingViewAdvice);
  throw new UsageError(`preflight: ${advice.map((a) => a.message).join('; ')}; nothing was changed`, {
    phase: 'preflight',
    object: `view ${advice[0]!.object}`,
    hint: advice.map((a) => a.remedy).join('; '),
  });
}
