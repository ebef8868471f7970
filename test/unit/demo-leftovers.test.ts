// The demo leaves nothing behind (issue #29.5): the server-binary copies it made are removed, those that were
// there before and one another process runs from are kept; its estimate line reads plainly.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { binaryCopies, estimateLine, keepRequested, removeNewBinaryCopies } from '../../demo/leftovers.js';

describe('demo leftovers', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('removes only the copies made since the start, and keeps one a process runs from', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'demo-leftovers-'));
    dirs.push(tmp);
    const old = join(tmp, 'pgshift-pg-15-aaaa');
    mkdirSync(join(old, 'bin'), { recursive: true });
    const before = binaryCopies(tmp);
    const fresh = join(tmp, 'pgshift-pg-17-bbbb');
    const busy = join(tmp, 'pgshift-pg-15-cccc');
    mkdirSync(join(fresh, 'bin'), { recursive: true });
    mkdirSync(join(busy, 'bin'), { recursive: true });
    copyFileSync('/bin/sleep', join(busy, 'bin', 'sleep'));
    const child = spawn(join(busy, 'bin', 'sleep'), ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const said: string[] = [];
      expect(removeNewBinaryCopies(before, (l) => said.push(l), tmp)).toEqual([fresh]);
      expect(existsSync(fresh)).toBe(false);
      expect(existsSync(old)).toBe(true);
      expect(existsSync(busy)).toBe(true);
      expect(said.join('\n')).toMatch(new RegExp(`kept ${busy}: process\\(es\\) ${child.pid}`));
    } finally {
      child.kill();
    }
  });

  it('--keep or PGSHIFT_DEMO_KEEP=1 keeps everything', () => {
    expect(keepRequested(['node', 'demo.js', '--keep'], {})).toBe(true);
    expect(keepRequested(['node', 'demo.js'], { PGSHIFT_DEMO_KEEP: '1' })).toBe(true);
    expect(keepRequested(['node', 'demo.js'], {})).toBe(false);
  });

  it('the estimate line says what it compared', () => {
    expect(estimateLine(2.4, 3.8)).toBe('predicted 2.4 s, took 3.8 s: 37 % under');
    expect(estimateLine(5, 4)).toBe('predicted 5.0 s, took 4.0 s: 25 % over');
  });
});
