// Merge the result files of several bench:estimate runs of one footing (ten rounds split over locked runs of
// at most 15 minutes each) and print issue #28's yardstick per case: median |error|, worst, inside the range.
//
//   node dist/bench/estimate-summary.js bench/results/estimate-heroku-rds-pg15-a.json bench/results/…-b.json
import { readFileSync } from 'node:fs';
import { summaryMarkdown, type CaseResult } from './estimate-report.js';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: node dist/bench/estimate-summary.js RESULT.json [RESULT.json …]\n');
  process.exitCode = 2;
} else {
  const runs = files.map(
    (f) => JSON.parse(readFileSync(f, 'utf8')) as { date: string; roles: unknown; targetMajor: number; scale: number; results: CaseResult[] },
  );
  const results = runs.flatMap((r) => r.results);
  process.stdout.write(
    `${runs.map((r, i) => `- ${files[i]}: ${r.date}, PG${r.targetMajor} target, scale ${r.scale}, ${JSON.stringify(r.roles)}`).join('\n')}\n\n`,
  );
  process.stdout.write(`${summaryMarkdown(results).join('\n')}\n`);
}
