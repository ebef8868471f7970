// estimate --source FILE: the restore of a pg_dump archive by copy --source FILE, estimated from the archive's
// sizes and the target's measured rates (src/estimate/archive.ts).
import { parsePositiveInt, requireUrl } from '../config.js';
import { COPY_DEFAULTS } from '../copy/index.js';
import { UsageError } from '../errors.js';
import type { Context } from './context.js';
import type { EstimateFlags } from './estimate.js';

export async function estimateArchiveCommand(flags: EstimateFlags, ctx: Context): Promise<{ json: unknown }> {
  if (!flags.target)
    throw new UsageError('estimate --source FILE measures the target the archive will be restored into: give --target URL of the new (empty) database', {
      phase: 'preflight',
      hint: 'pgshift estimate --source latest.dump --target "$DST" (a short probe runs there in a transaction that is rolled back)',
    });
  const target = requireUrl('target', flags.target);
  if (flags.downtimeBudget !== undefined)
    throw new UsageError('--downtime-budget compares dump/restore with replication of a live source; an archive is restored, not replicated', {
      phase: 'preflight',
      hint: 'drop --downtime-budget: the estimate of an archive is the restore window itself',
    });
  const probeSeconds = Number(flags.probeSeconds ?? 10);
  if (!Number.isFinite(probeSeconds) || probeSeconds < 1 || probeSeconds > 300)
    throw new UsageError(`--probe-seconds must be between 1 and 300, not ${flags.probeSeconds}`, { hint: 'e.g. --probe-seconds 10 (the default)' });
  const { estimateArchive } = await import('../estimate/archive.js');
  const { renderArchiveEstimate } = await import('../estimate/archive-render.js');
  const report = await estimateArchive(flags.source!, target, {
    jobs: parsePositiveInt('--jobs', flags.jobs, COPY_DEFAULTS.jobs),
    indexJobs: parsePositiveInt('--index-jobs', flags.indexJobs, COPY_DEFAULTS.indexJobs),
    probeSeconds,
    pgBin: flags.pgBin,
    analyze: flags.analyze,
    filter: { include: flags.include, exclude: flags.exclude },
    signal: ctx.signal,
  });
  ctx.print(renderArchiveEstimate(report));
  return { json: report };
}
