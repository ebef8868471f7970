// docker/Dockerfile checked where no Docker engine runs (docker/build-and-smoke.sh builds and runs it where one
// does): hadolint's rules that matter here, the PostgreSQL client major (pg_dump must read PostgreSQL 17), and
// shellcheck on every RUN step and on the scripts in docker/. The rules are first shown to catch the image
// this replaced (Debian 12's pg_dump 15, root user).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Instructions with continuation lines joined and comments dropped. */
function parse(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (!buf && (l === '' || l.startsWith('#'))) return;
    if (!buf) start = i + 1;
    if (l.startsWith('#')) return;
    buf += (buf ? ' ' : '') + l.replace(/\\$/, '').trim();
    if (!l.endsWith('\\')) {
      const m = /^(\w+)\s+([\s\S]*)$/.exec(buf)!;
      out.push({ op: m[1]!.toUpperCase(), args: m[2]!, line: start });
      buf = '';
    }
  });
  return out;
}

/** Every rule broken, as "line N: what" — empty when the Dockerfile is fine. */
function lint(text: string): string[] {
  const ins = parse(text);
  const bad: string[] = [];
  const say = (i: Instruction, what: string) => bad.push(`line ${i.line}: ${what}`);
  const args = new Map<string, string>();
  const stages = new Set<string>();
  let pipefail = false;
  let lastStageStart = 0;
  ins.forEach((i, n) => {
    if (i.op === 'FROM') lastStageStart = n;
  });
  for (const i of ins) {
    const a = i.args;
    switch (i.op) {
      case 'ARG': {
        const [k, v] = a.split('=');
        if (v !== undefined) args.set(k!, v);
        break;
      }
      case 'FROM': {
        const [image, as, name] = a.split(/\s+/);
        if (!/:[\w.-]+$|@sha256:/.test(image!)) say(i, `FROM ${image}: pin the base image's tag (DL3006)`);
        if (/:latest$/.test(image!)) say(i, `FROM ${image}: not latest (DL3007)`);
        if (as?.toUpperCase() === 'AS' && name) stages.add(name);
        break;
      }
      case 'SHELL':
        pipefail = /pipefail/.test(a);
        break;
      case 'RUN':
        if (/\|(?!\|)/.test(a.replace(/\|\|/g, '')) && !pipefail) say(i, 'a pipe in RUN needs SHELL ["/bin/bash", "-o", "pipefail", "-c"] (DL4006)');
        if (/\bsudo\b/.test(a)) say(i, 'no sudo (DL3004)');
        if (/(^|&&|;)\s*cd\s/.test(a)) say(i, 'use WORKDIR, not cd (DL3003)');
        if (/\bapt\s/.test(a)) say(i, 'apt-get, not apt (DL3027)');
        if (/apt-get (dist-)?upgrade/.test(a)) say(i, 'no apt-get upgrade (DL3005)');
        if (/\bnpm install\b/.test(a)) say(i, 'npm ci, from the lockfile (DL3016)');
        if (/apt-get install/.test(a)) {
          if (!/apt-get update[\s\S]*&&[\s\S]*apt-get install/.test(a)) say(i, 'apt-get update && apt-get install in the same RUN (DL3009)');
          if (!/--no-install-recommends/.test(a)) say(i, 'apt-get install --no-install-recommends (DL3015)');
          if (!/install\s+(-\S+\s+)*-y\b|install -y|-y\s/.test(a)) say(i, 'apt-get install -y (DL3014)');
          if (!/rm -rf \/var\/lib\/apt\/lists\/\*/.test(a)) say(i, 'rm -rf /var/lib/apt/lists/* after installing (DL3009)');
        }
        break;
      case 'ADD':
        if (!/^https?:/.test(a)) say(i, 'COPY, not ADD, for local files (DL3020)');
        break;
      case 'COPY': {
        const from = /--from=(\S+)/.exec(a)?.[1];
        if (from && !stages.has(from)) say(i, `COPY --from=${from}: no stage of that name (DL3022)`);
        break;
      }
      case 'WORKDIR':
        if (!a.startsWith('/')) say(i, 'WORKDIR must be absolute (DL3000)');
        break;
      case 'ENTRYPOINT':
      case 'CMD':
        if (!a.startsWith('[')) say(i, `${i.op} in exec form, JSON array (DL3025)`);
        break;
    }
  }
  const runtime = ins.slice(lastStageStart);
  const user = runtime.filter((i) => i.op === 'USER').pop();
  if (!user || /^(root|0)(:|$)/.test(user.args)) bad.push('the final stage must end with a USER that is not root (DL3002)');
  // The PostgreSQL client: postgresql-client-N with N ≥ 17 (ARG defaults resolved), and its version checked.
  const install = runtime
    .filter((i) => i.op === 'RUN' && /postgresql-client/.test(i.args))
    .map((i) => i.args.replace(/\$\{?(\w+)\}?/g, (m, k: string) => args.get(k) ?? m))
    .join(' ');
  const major = Number(/postgresql-client-(\d+)/.exec(install)?.[1] ?? 0);
  if (major < 17) bad.push(`the final stage must install postgresql-client-17 or newer (found ${major || 'none, or the distribution default'})`);
  if (!/pg_dump --version/.test(install)) bad.push('the final stage must check pg_dump --version where it installs the client');
  return bad;
}

const OLD = `FROM node:20-bookworm-slim
RUN apt-get update \\
 && apt-get install -y --no-install-recommends postgresql-client ca-certificates openssl \\
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/pgshift
RUN npm ci --no-audit --no-fund && npm prune --omit=dev
ENTRYPOINT ["node", "/opt/pgshift/bin/pgshift.js"]
`;

function shellcheck(files: string[], shell = 'sh'): string {
  try {
    execFileSync('shellcheck', ['-s', shell, ...files], { encoding: 'utf8' });
    return '';
  } catch (err) {
    const e = err as { code?: string; stdout?: string };
    if (e.code === 'ENOENT') throw new Error('shellcheck is not installed: apt-get install shellcheck (.ci/run installs it)');
    return e.stdout ?? String(err);
  }
}

describe('docker/Dockerfile', () => {
  const dockerfile = read('docker/Dockerfile');

  it('the rules catch the image this replaced: pg_dump 15, root', () => {
    const bad = lint(OLD);
    expect(bad.join('\n')).toMatch(/postgresql-client-17 or newer/);
    expect(bad.join('\n')).toMatch(/USER that is not root/);
    expect(bad.join('\n')).toMatch(/pg_dump --version/);
    expect(lint('FROM node\nRUN apt-get install foo\nUSER node\n').length).toBeGreaterThanOrEqual(4);
  });

  it('follows the rules: pinned bases, one apt-get RUN with cleanup, pg_dump 17 checked, non-root user', () => {
    expect(lint(dockerfile)).toEqual([]);
  });

  it('its RUN steps and the scripts in docker/ pass shellcheck', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgshift-dockerfile-'));
    try {
      let shell = 'sh';
      const runs: string[] = [];
      for (const i of parse(dockerfile)) {
        if (i.op === 'SHELL') shell = /bash/.test(i.args) ? 'bash' : 'sh';
        if (i.op === 'RUN') {
          const f = join(dir, `run-${i.line}.${shell}`);
          writeFileSync(f, `#!/bin/${shell}\n${i.args}\n`);
          runs.push(f);
        }
      }
      for (const f of runs) expect(shellcheck([f], f.endsWith('bash') ? 'bash' : 'sh'), readFileSync(f, 'utf8')).toBe('');
      const scripts = ['docker', 'docker/pg-bin'].flatMap((d) =>
        readdirSync(join(ROOT, d))
          .map((f) => join(ROOT, d, f))
          .filter((f) => statSync(f).isFile() && /^#!.*\b(ba)?sh\b/.test(readFileSync(f, 'utf8'))),
      );
      expect(scripts.length).toBeGreaterThanOrEqual(4);
      for (const s of scripts) expect(shellcheck([s], /bash/.test(readFileSync(s, 'utf8').split('\n')[0]!) ? 'bash' : 'sh'), s).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the build context leaves out node_modules and dist', () => {
    const ignore = read('.dockerignore').split('\n');
    expect(ignore).toContain('node_modules');
    expect(ignore).toContain('dist');
  });
});
