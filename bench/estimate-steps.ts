// Finer actuals for the estimate benchmark: copy's debug log (--log-level debug) names every chunk, index build
// and overlapping ANALYZE with its duration; set side by side with the estimate's simulated schedule, per kind
// of step, they show which part of the model is off (not just that the total is).
import { readFileSync } from 'node:fs';

export interface StepTimes {
  /** Summed seconds per kind of step ("chunk", "index", "foreign key", "analyze") and per table. */
  byKind: Record<string, number>;
  count: Record<string, number>;
  /** Seconds from the first to the last step of the data phase. */
  span: number;
}

const kindOf = (msg: string): string | undefined => {
  if (msg.startsWith('data: copied')) return 'chunk';
  // A key's ALTER TABLE half counts with the indexes, as the estimate's schedule counts it.
  if (msg.startsWith('indexes: built index') || msg.startsWith('indexes: attached')) return 'index';
  if (msg.startsWith('indexes: built foreign key')) return 'foreign key';
  if (msg.startsWith('analyze: analyzed (overlapping')) return 'analyze';
  return undefined;
};

/** Steps of copy's data phase from its JSON log lines. */
export function actualSteps(logFile: string): StepTimes {
  const out: StepTimes = { byKind: {}, count: {}, span: 0 };
  let first = Infinity;
  let last = 0;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { msg?: string; seconds?: number; time?: number };
    try {
      rec = JSON.parse(line);
    } catch {
      continue;
    }
    const kind = rec.msg ? kindOf(rec.msg) : undefined;
    if (!kind || typeof rec.seconds !== 'number' || typeof rec.time !== 'number') continue;
    out.byKind[kind] = (out.byKind[kind] ?? 0) + rec.seconds;
    out.count[kind] = (out.count[kind] ?? 0) + 1;
    first = Math.min(first, rec.time - rec.seconds * 1000);
    last = Math.max(last, rec.time);
  }
  out.span = Number.isFinite(first) ? (last - first) / 1000 : 0;
  return out;
}

/** The same from the estimate's --json schedule. */
export function predictedSteps(schedule: { kind: string; start: number; end: number }[]): StepTimes {
  const out: StepTimes = { byKind: {}, count: {}, span: 0 };
  for (const s of schedule) {
    out.byKind[s.kind] = (out.byKind[s.kind] ?? 0) + (s.end - s.start);
    out.count[s.kind] = (out.count[s.kind] ?? 0) + 1;
  }
  const starts = schedule.map((s) => s.start);
  out.span = schedule.length ? Math.max(...schedule.map((s) => s.end)) - Math.min(...starts) : 0;
  return out;
}
