// Is the "target" the source itself? Comparing a database with itself proves nothing, so verify refuses it
// (copy does the same): the server says which database a connection reached, whatever the URL spelled.
import { sameDatabase, type ServerIdentity } from '../db/identity.js';
import { UsageError } from '../errors.js';

/** Refuse (exit 2) when source and target are one database. */
export function requireDistinctDatabases(s: ServerIdentity, t: ServerIdentity, command: string, targetDisplay: string): void {
  if (!sameDatabase(s, t)) return;
  throw new UsageError(
    `${command}: --source and --target are the same database (${t.database} on one server, reached as ${targetDisplay}); comparing it with itself proves nothing`,
    {
      phase: 'preflight',
      hint: 'pass the URL of the new database as --target',
    },
  );
}
