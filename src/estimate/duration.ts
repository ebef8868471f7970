// --downtime-budget: "15m", "1h30m", "90s", "2h", or plain seconds.
import { UsageError } from '../errors.js';

export function parseDuration(flag: string, value: string): number {
  const v = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const re = /(\d+(?:\.\d+)?)\s*(h|m|s|min)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 's' ? 1 : 60);
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== v.length || total <= 0) {
    throw new UsageError(`${flag}: cannot read the duration "${value}"`, { hint: `write it like 15m, 1h30m, 90s or a number of seconds (e.g. ${flag} 15m)` });
  }
  return total;
}
