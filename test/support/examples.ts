// The examples pgshift teaches — in each command's --help and in the README's runnable blocks — extracted as
// shell text and run in bash as a user would paste them (issue #29): `pgshift` on PATH is the built CLI, the
// example URLs are replaced by real ones, `heroku config:get DATABASE_URL` answers with the source's URL.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './cli.js';

/** One example: its shell text (continuation lines joined as bash reads them) and the block it came from. */
export interface Example {
  block: string;
  text: string;
}

/**
 * Examples of a help text: every block under a heading line ending in ':' (`Examples:`, the main help's
 * `Typical migration …:`), up to the next blank line; its indented lines are commands or comments, a line ending
 * in `\` continues on the next. Unindented lines in a block are prose. Stops at `Options:`.
 */
export function helpExamples(help: string): Example[] {
  return parseHelp(help).examples;
}

/**
 * Lines of an example block that are neither an indented command nor prose in parentheses: the tail of a command
 * that was wrapped onto a line of its own, which a shell would run as a command (`--until-caught-up`, `catch up`).
 * In an `Examples:` block every line is an example.
 */
export function helpFragments(help: string): string[] {
  return parseHelp(help).fragments;
}

function parseHelp(help: string): { examples: Example[]; fragments: string[] } {
  const lines = help.split('\n');
  const end = lines.findIndex((l) => /^(Options|Commands):/.test(l));
  const out: Example[] = [];
  const fragments: string[] = [];
  let block: string | undefined;
  let pending: string[] = [];
  const body = lines.slice(0, end < 0 ? undefined : end);
  body.forEach((l, i) => {
    if (l.trim() === '') {
      block = undefined;
      return;
    }
    // A heading ends in ':' and its block starts with an indented line (prose can end in ':' too).
    if (/^\S.*:\s*$/.test(l) && /^\s+\S/.test(body[i + 1] ?? '')) {
      block = l.trim();
      return;
    }
    if (!block) return;
    if (!/^\s/.test(l)) {
      if (block === 'Examples:' || !/^\(.*\)\.?$/.test(l)) fragments.push(l);
      return;
    }
    pending.push(l.trim());
    if (!l.trimEnd().endsWith('\\')) {
      out.push({ block, text: pending.join('\n') });
      pending = [];
    }
  });
  if (pending.length) out.push({ block: block ?? '', text: pending.join('\n') });
  return { examples: out, fragments };
}

/** Code blocks of a markdown file preceded by `<!-- runnable: NAME -->`. */
export function runnableBlocks(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markdown.matchAll(/<!-- runnable: ([\w-]+) -->\s*\n```\w*\n([\s\S]*?)\n```/g)) out.set(m[1]!, m[2]!);
  return out;
}

/** The program an example starts (`pgshift copy …` → `copy`), or undefined for a comment or another tool. */
export function commandOf(text: string): string | undefined {
  return /^pgshift\s+(\w+)/.exec(text)?.[1];
}

/**
 * A folder for PATH (`pgshift` runs the built CLI, `heroku config:get DATABASE_URL` prints HEROKU_STUB_URL), a
 * HOME, and the folder examples run in (where a `latest.dump` they name is put).
 */
export function examplesBin(): { dir: string; home: string; work: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-examples-'));
  const bin = join(dir, 'bin');
  const home = join(dir, 'home');
  const work = join(dir, 'work');
  for (const d of [bin, home, work]) mkdirSync(d);
  const write = (name: string, text: string) => {
    writeFileSync(join(bin, name), text);
    chmodSync(join(bin, name), 0o755);
  };
  // estimate's probe is shortened (the example's point is that it runs, not how long it samples).
  write(
    'pgshift',
    `#!/bin/sh\nif [ "$1" = estimate ]; then case " $* " in *" --probe-seconds "*) ;; *) set -- "$@" --probe-seconds 2 ;; esac; fi\nexec '${process.execPath}' '${BIN}' "$@"\n`,
  );
  write(
    'heroku',
    '#!/bin/sh\nif [ "$1" = config:get ] && [ "$2" = DATABASE_URL ]; then printf \'%s\\n\' "$HEROKU_STUB_URL"; exit 0; fi\necho "heroku (test stub): not supported: $*" >&2; exit 1\n',
  );
  return { dir: bin, home, work, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The example with the URLs it names replaced: `postgres://app@new-db…` is the target. */
export function substituteUrls(text: string): string {
  return text.replace(/'?postgres:\/\/app@new-db[^\s'"]*'?/g, '"$DST"');
}

export interface ShellRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run shell text in bash (`set -eo pipefail`, as pasted into a careful terminal) with SRC/DST set. With
 * `interrupt`, the command is still running when it resolves: it then gets SIGINT, as from Ctrl-C.
 */
export interface ShellOptions {
  src: string;
  dst: string;
  bin: { dir: string; home: string; work: string };
  env?: Record<string, string>;
  /** Resolves when the running command is to get SIGINT (as from Ctrl-C); `out` is what it printed so far. */
  interrupt?: (out: () => string) => Promise<void>;
  timeoutMs?: number;
}

export function runShell(text: string, o: ShellOptions): Promise<ShellRun> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGSHIFT_SOURCE_URL: undefined,
    PGSHIFT_TARGET_URL: undefined,
    PGPASSFILE: undefined,
    ...o.env,
    SRC: o.src,
    DST: o.dst,
    HEROKU_STUB_URL: o.src,
    HOME: o.bin.home,
    PATH: `${o.bin.dir}:${process.env.PATH ?? ''}`,
  };
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -eo pipefail\n${substituteUrls(text)}`], {
      env,
      cwd: o.bin.work,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const group = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      stderr += `\n[test harness] still running after ${(o.timeoutMs ?? 100_000) / 1000}s: killed\n`;
      group('SIGKILL');
    }, o.timeoutMs ?? 100_000);
    let exited = false;
    o.interrupt?.(() => stdout + stderr).then(
      () => !exited && group('SIGINT'),
      (err: unknown) => {
        stderr += `\n[test harness] ${String(err)}\n`;
        group('SIGKILL');
      },
    );
    child.on('error', reject);
    child.on('close', (code) => {
      exited = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Resolves once `test` holds (polled every 250 ms), or rejects after `ms`. */
export async function until(test: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms / 1000}s waiting for ${what}`);
}
