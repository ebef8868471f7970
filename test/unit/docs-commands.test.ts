// docs/commands/<command>.md documents every flag the command's --help lists, and shows its current help text
// (usage, description and examples) — the page is derived from the code, and this keeps it so.
import { readFileSync } from 'node:fs';
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
      for (const line of cmd.description().split('\n').filter((l) => l.trim())) expect(md, `docs/commands/${cmd.name()}.md shows: ${line}`).toContain(line);
    });
  }
});
