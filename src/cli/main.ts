// The commander program: parse, then hand over to one file per command. No logic here.
import './navigator.js';
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { reportError, usageFromCommander } from './context.js';

// Each command's module (and everything it imports) loads only when that command runs: a `pgshift copy` does not
// parse verify's, replicate's or estimate's modules (≈ 70 ms of CPU on every start). `pgshift --help` and an
// unknown command load them all.
const COMMANDS: Record<string, () => Promise<Command>> = {
  inventory: async () => (await import('./inventory.js')).inventoryCommand(),
  estimate: async () => (await import('./estimate.js')).estimateCommand(),
  copy: async () => (await import('./copy.js')).copyCommand(),
  replicate: async () => (await import('./replicate.js')).replicateCommand(),
  verify: async () => (await import('./verify.js')).verifyCommand(),
  cleanup: async () => (await import('./cleanup.js')).cleanupCommand(),
};

/** The command named on the command line (the root has no options taking a value), if it is one of ours. */
function invokedCommand(argv: string[]): string | undefined {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? first : undefined;
}

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

export async function program(argv: string[] = []): Promise<Command> {
  const prog = new Command('pgshift')
    .description(
      [
        'Move a live PostgreSQL database to a new server: predict the window,',
        'copy fast, stream changes, prove nothing was lost.',
        '',
        'Typical migration:',
        '  pgshift inventory --source $SRC --target $DST  # what will get in the way',
        '  pgshift estimate  --source $SRC --target $DST  # how long, and the freeze',
        '  pgshift copy      --source $SRC --target $DST  # schema + data + indexes',
        '  pgshift replicate --source $SRC --target $DST --until-caught-up  # live',
        '  pgshift verify    --source $SRC --target $DST  # after freezing writes',
        '  pgshift cleanup   --target $DST                # remove pgshift\'s state',
        '',
        'URLs come from --source/--target or PGSHIFT_SOURCE_URL/PGSHIFT_TARGET_URL.',
        'sslmode follows libpq: disable, prefer (default), require (encrypt, do',
        'not verify: Heroku), verify-ca, verify-full (honours sslrootcert=FILE).',
        '',
        'Exit codes: 0 success; 1 negative answer (differences, not caught up);',
        '2 usage or configuration error; 3 connection, authentication or',
        'permission error; 4 any other failure.',
      ].join('\n'),
    )
    .version(pkg.version, '-V, --version')
    .exitOverride();
  const invoked = invokedCommand(argv);
  const names = invoked ? [invoked] : Object.keys(COMMANDS);
  for (const cmd of await Promise.all(names.map((n) => COMMANDS[n]!()))) prog.addCommand(cmd);
  for (const cmd of [prog, ...prog.commands]) cmd.exitOverride().configureOutput({ outputError: () => undefined });
  return prog;
}

/** Parse and run; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const prog = await program(argv);
    await prog.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      return await reportError(usageFromCommander(err.message), { json: argv.includes('--json'), debug: false });
    }
    return await reportError(err, { json: argv.includes('--json'), debug: argv.includes('debug') });
  }
}
