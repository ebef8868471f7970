#!/usr/bin/env node
/* global process, console, URL */
// Rewrites the synopsis of every docs/commands/<command>.md from the built CLI's own --help (usage, description,
// examples), so the pages say what the code prints. Run after `npm run build`:  node docs/sync-help.mjs
// (test/unit/docs.test.ts fails when a page and --help disagree, and names this script).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/pgshift.js', import.meta.url));
for (const command of ['inventory', 'estimate', 'copy', 'verify', 'replicate', 'cutover', 'rollback', 'cleanup']) {
  const help = execFileSync(process.execPath, [bin, command, '--help'], { encoding: 'utf8' }).split('\nOptions:')[0].trim();
  const page = fileURLToPath(new URL(`commands/${command}.md`, import.meta.url));
  const text = readFileSync(page, 'utf8');
  const start = text.indexOf('```\nUsage:');
  const end = text.indexOf('\n```', start + 4);
  if (start < 0 || end < 0) throw new Error(`${page}: no synopsis block (a code block starting with "Usage:")`);
  writeFileSync(page, `${text.slice(0, start)}\`\`\`\n${help}${text.slice(end)}`);
  console.log(`${page}: synopsis from pgshift ${command} --help`);
}
