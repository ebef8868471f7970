// bench:estimate's summary per case (issue #28): ten single rounds are judged on the median |error|, the worst
// |error| and the copies inside the printed range; part by part, actual / predicted over the rounds.
import { describe, expect, it } from 'vitest';
import { medianErrors, summaryMarkdown, type CaseResult } from '../../bench/estimate-report.js';

const round = (n: number, predicted: number, actual: number, low: number, high: number, load: number): CaseResult =>
  ({
    case: 'dominant',
    round: n,
    predicted,
    actual,
    actuals: [actual],
    low,
    high,
    error: (predicted - actual) / actual,
    inRange: [low <= actual && actual <= high],
    loadBefore: load,
    phases: { predicted: { schema: 1 }, actual: { schema: 1.5 } },
    steps: { predicted: { byKind: { chunk: 4 }, count: { chunk: 3 }, span: 5 }, actual: { byKind: { chunk: 2 }, count: { chunk: 3 }, span: 5 } },
  }) as unknown as CaseResult;

describe('bench:estimate summary', () => {
  const rs = [round(1, 11, 10, 8, 14, 3), round(2, 8, 10, 6, 9.5, 9), round(3, 13, 10, 10, 17, 4)];

  it('judges a case on the sizes of its errors, not their signs, and counts copies inside the range', () => {
    const [m] = medianErrors(rs);
    // Errors +10 %, −20 %, +30 %: the signed median is +10 %, the median |error| 20 %, the worst 30 %.
    expect(m!.median).toBeCloseTo(0.1);
    expect(m!.medianAbs).toBeCloseTo(0.2);
    expect(m!.worst).toBeCloseTo(0.3);
    expect([m!.inside, m!.copies]).toEqual([2, 3]);
    expect(m!.loads).toEqual([3, 9, 4]);
  });

  it('reports actual / predicted per part over the rounds', () => {
    const [m] = medianErrors(rs);
    expect(m!.ratios.schema!.median).toBeCloseTo(1.5);
    expect(m!.ratios['step: chunk']!.median).toBeCloseTo(0.5);
    expect(m!.ratios['step: span of the data phase']!.every).toEqual([1, 1, 1]);
    const text = summaryMarkdown(rs).join('\n');
    expect(text).toContain('| dominant | 3 | 20.0 % | 30.0 % | 2/3 | +10.0 % |');
    expect(text).toContain('-20.0 % (9.0)');
  });
});
