// When the pretty log printer paints (src/log.ts useColor): FORCE_COLOR wins as in Node, then NO_COLOR, then the TTY.
import { describe, expect, it } from 'vitest';
import { useColor } from '../../src/log.js';

const tty = { isTTY: true } as unknown as NodeJS.WritableStream;
const pipe = {} as NodeJS.WritableStream;

describe('useColor', () => {
  it('a terminal is coloured, a pipe is not', () => {
    expect(useColor(tty, {})).toBe(true);
    expect(useColor(pipe, {})).toBe(false);
  });
  it('NO_COLOR (any non-empty value) turns colour off; an empty one does not', () => {
    expect(useColor(tty, { NO_COLOR: '1' })).toBe(false);
    expect(useColor(tty, { NO_COLOR: '' })).toBe(true);
  });
  it('FORCE_COLOR turns it on even under NO_COLOR; FORCE_COLOR=0 or false turns it off', () => {
    expect(useColor(pipe, { FORCE_COLOR: '1' })).toBe(true);
    expect(useColor(tty, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(true);
    expect(useColor(tty, { FORCE_COLOR: '0' })).toBe(false);
    expect(useColor(tty, { FORCE_COLOR: 'false' })).toBe(false);
  });
});
