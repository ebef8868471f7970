import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { formatBytes, formatCount, formatDuration } from '../../src/format.js';
import { Progress } from '../../src/progress.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger({ stream, pretty: false }) };
}

describe('progress', () => {
  it('formats sizes and durations for people', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 kB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GB');
    expect(formatDuration(42)).toBe('42s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3 * 3600 + 60)).toBe('3h01m');
    expect([0, 999, 1000, 1234567, -20000].map(formatCount)).toEqual(['0', '999', '1,000', '1,234,567', '-20,000']);
  });

  it('without a TTY, logs each phase once done, with rows, bytes and time', () => {
    const { lines, logger } = capture();
    const p = new Progress({ logger });
    const data = p.phase('data', { bytes: 1000, items: 2 });
    data.add({ bytes: 600, rows: 10, items: 1 });
    data.add({ bytes: 400, rows: 5, items: 1 });
    data.done('15 rows');
    p.close();
    const rec = JSON.parse(lines.at(-1)!);
    expect(rec).toMatchObject({ phase: 'data', rows: 15, bytes: 1000 });
    expect(rec.msg).toMatch(/^data: done in \d+s — 15 rows$/);
  });

  it('masks passwords in every log line', () => {
    const { lines, logger } = capture();
    logger.info({ url: 'postgres://u:hunter22@h/db' }, 'connecting to postgres://u:hunter22@h/db');
    expect(lines.join('\n')).not.toContain('hunter22');
    expect(lines.join('\n')).toContain('postgres://u:***@h/db');
  });
});
