// At the end of a live migration (--until-caught-up's finish): materialized views are not replicated, so the
// target's are as old as the initial copy while the application kept refreshing the source's. The finish
// refreshes, on the target, every view populated on the source (dependency order: a view built on one not yet
// refreshed is retried after it), and says how long it took — time spent inside the freeze at a cutover.
import type { Client } from '../db/connect.js';
import { populatedMatviews, refreshMatviews } from '../copy/finish.js';
import { classifyError } from '../errors.js';

export interface MatviewRefresh {
  views: number;
  seconds: number;
}

export async function refreshAtFinish(src: Client, tgt: Client): Promise<MatviewRefresh> {
  const started = Date.now();
  const onSource = await populatedMatviews(src);
  // Only those of the migration (an --exclude'd one is not on the target).
  const { rows } = await tgt.query<{ i: number }>(
    `SELECT i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS v(s, n, i) WHERE to_regclass(format('%I.%I', s, n)) IS NOT NULL ORDER BY i`,
    [onSource.map((v) => v.schema), onSource.map((v) => v.name)],
  );
  const views = rows.map((r) => onSource[Number(r.i) - 1]!);
  try {
    await refreshMatviews(tgt, views);
  } catch (err) {
    throw classifyError(err, 'finish: refreshing materialized views on the target', {
      phase: 'finish',
      hint: 'everything was applied; fix the cause and run the same command again, or skip this step with --no-refresh-matviews and REFRESH MATERIALIZED VIEW on the target yourself',
    });
  }
  return { views: views.length, seconds: (Date.now() - started) / 1000 };
}
