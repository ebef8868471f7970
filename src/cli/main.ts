// The commander program: parse, then hand over to one file per command. No logic here.
import './navigator.js';
import { Command, CommanderError, Help } from 'commander';
import { createRequire } from 'node:module';
import { ExitCode } from '../errors.js';
import { redact } from '../redact.js';
import { terminalSafe } from '../terminal.js';
import { reportError, usageFromCommander } from './context.js';
import { cleanupCommand } from './cleanup.js';
import { copyCommand } from './copy.js';
import { cutoverCommand } from './cutover.js';
import { rollbackCommand } from './rollback.js';
import { estimateCommand } from './estimate.js';
import { replicateCommand } from './replicate.js';
import { inventoryCommand } from './inventory.js';
import { verifyCommand } from './verify.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

export function program(): Command {
  const prog = new Command('pgshift')
    .description(
      [
        'Move a live PostgreSQL database to a new server: predict the window,',
        'copy fast, stream changes, prove nothing was lost.',
        '',
        'Typical migration, the application writing until the switch:',
        '  pgshift inventory --source $SRC --target $DST  # what will get in the way',
        '  pgshift estimate  --source $SRC --target $DST  # how long, and the freeze',
        '  pgshift replicate --source $SRC --target $DST --until-caught-up # copy live',
        '  pgshift replicate --source $SRC --target $DST --until-caught-up # after freeze',
        '  pgshift verify    --source $SRC --target $DST  # nothing lost',
        '  pgshift cleanup   --source $SRC --target $DST  # slot, publication, state',
        '(No REPLICATION privilege, as on Heroku classic: add --capture triggers.)',
        '',
        'Or with writes frozen for the whole copy (dump/restore):',
        '  pgshift copy      --source $SRC --target $DST  # schema + data + indexes',
        '  pgshift verify    --source $SRC --target $DST  # nothing lost',
        "  pgshift cleanup   --target $DST                # remove pgshift's state",
        '',
        'URLs come from --source/--target or PGSHIFT_SOURCE_URL/PGSHIFT_TARGET_URL.',
        'sslmode follows libpq: disable, prefer (default on localhost only),',
        'require (default elsewhere: encrypt, do not verify, as Heroku needs),',
        'verify-ca, verify-full (sslrootcert=FILE or ~/.postgresql/root.crt).',
        'A password is never sent in clear without TLS unless sslmode=disable.',
        '',
        'Keep passwords off the command line (ps shows it to every user):',
        '  export PGSHIFT_SOURCE_URL="$(heroku config:get DATABASE_URL -a myapp)"',
        '  export PGSHIFT_TARGET_URL=postgres://app@new-db:5432/app',
        '  echo "new-db:5432:app:app:PASSWORD" >> ~/.pgpass; chmod 0600 ~/.pgpass',
        '  pgshift copy    # PGPASSFILE names another password file',
        '',
        'Exit codes: 0 success; 1 negative answer (differences, not caught up);',
        '2 usage or configuration error; 3 connection, authentication or',
        'permission error; 4 any other failure.',
      ].join('\n'),
    )
    .version(pkg.version, '-V, --version')
    .exitOverride();
  prog.addCommand(inventoryCommand());
  prog.addCommand(estimateCommand());
  prog.addCommand(copyCommand());
  prog.addCommand(replicateCommand());
  prog.addCommand(verifyCommand());
  prog.addCommand(cutoverCommand());
  prog.addCommand(rollbackCommand());
  prog.addCommand(cleanupCommand());
  // Descriptions are wrapped by hand (≤ 80 columns); commander would re-wrap them to the terminal's width and
  // break an example across lines, which then fails when pasted. Option descriptions still wrap.
  const boxWrap = (str: string, width: number) => (/\n\s/.test(str) ? str : new Help().boxWrap(str, width));
  for (const cmd of [prog, ...prog.commands])
    cmd
      .exitOverride()
      .configureOutput({ outputError: () => undefined })
      .configureHelp({ boxWrap });
  return prog;
}

/** Parse and run; resolves to the exit code. */
let guarded = false;

/**
 * Last-resort handlers. A promise that failed with nothing awaiting it is a follow-up of an error already on its
 * way to the user (or a bug): it is said on stderr, and the command's own outcome stands. Node's default would
 * crash with exit 1, which in pgshift's contract means a negative answer (not caught up, differences found).
 * An exception nothing caught ends the run with exit 4 (failure); the state on the target is transactional.
 */
function guardProcess(): void {
  if (guarded) return;
  guarded = true;
  const text = (e: unknown) => terminalSafe(redact(e instanceof Error ? e.message : String(e)));
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`pgshift: warning: internal: an operation failed with nothing waiting for it: ${text(reason)}\n`);
  });
  process.on('uncaughtException', (err) => {
    process.stderr.write(
      `pgshift: internal error: ${text(err)}\n${redact(err.stack ?? '')}\n  next: run the same command again (what was committed is kept); if it recurs, report it with this output\n`,
    );
    process.exit(ExitCode.failure);
  });
}

export async function main(argv: string[]): Promise<number> {
  guardProcess();
  const prog = program();
  try {
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
