// docs/commands/<command>.md documents every flag the command's --help lists, and shows its current help text
// (usage, description and examples) — the page is derived from the code, and this keeps it so.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// The built program (npm test builds first): src/cli/main.ts finds package.json relative to dist/.
const { program } = (await import(new URL('../../dist/src/cli/main.js', import.meta.url).href)) as typeof import('../../src/cli/main.js');

const page = (name: string) => readFileSync(new URL(`../../docs/commands/${name}.md`, import.meta.url), 'utf8');

describe('docs/commands pages', () => {
  for (const cmd of program().commands.filter((c) => c.name() !== 'help')) {
    it(`${cmd.name()}: every flag in the Flags table, the help text in the synopsis`, () => {
      const md = page(cmd.name());
      const table = md.split('## Flags')[1]?.split('\n## ')[0] ?? '';
      for (const o of cmd.options) expect(table, `docs/commands/${cmd.name()}.md lists ${o.flags}`).toContain(`| \`${o.flags}\``);
      // The description as --help prints it (hand-wrapped lines, examples included).
      for (const line of cmd
        .description()
        .split('\n')
        .filter((l) => l.trim()))
        expect(md.includes(line), `docs/commands/${cmd.name()}.md shows: ${line}\n(npm run build && node docs/sync-help.mjs rewrites the synopses)`).toBe(true);
    });
  }
});

// Every relative link in the README, CONTRIBUTING, CHANGELOG, bench/README and docs/ reaches a file, and its #anchor a heading.
describe('links between the docs', () => {
  const root = new URL('../../', import.meta.url).pathname;
  const files = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'bench/README.md', ...walk('docs')];
  function walk(dir: string): string[] {
    return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
    );
  }
  /** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
  const anchors = (md: string) =>
    new Set(
      [...md.matchAll(/^#{1,6}\s+(.*)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      ),
    );

  for (const file of files) {
    it(file, () => {
      const md = readFileSync(join(root, file), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of md.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1]!;
        if (/^(https?:|mailto:)/.test(link)) continue;
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const to = path ? resolve(dirname(join(root, file)), path) : join(root, file);
        expect(existsSync(to), `${file}: ${link} → ${to}`).toBe(true);
        if (anchor && to.endsWith('.md')) expect([...anchors(readFileSync(to, 'utf8'))], `${file}: ${link}`).toContain(anchor);
      }
    });
  }
});
