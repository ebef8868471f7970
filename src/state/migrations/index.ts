// The state migrations, in order. Append a new numbered file at the END; never edit, renumber or reorder one that has
// shipped (targets in the field hold its SQL, recorded by id in pgshift.schema_migrations).
import { migration as m001 } from './001-copy-run.js';
import { migration as m002 } from './002-data-only-switches.js';
import { migration as m003 } from './003-copy-source-identity.js';
import { migration as m004 } from './004-copy-toc.js';
import { migration as m005 } from './005-replication.js';
import { migration as m006 } from './006-capture.js';
import { migration as m007 } from './007-switch-facts.js';
import { migration as m008 } from './008-verify-point.js';
import { migration as m009 } from './009-cutover.js';
import { migration as m010 } from './010-reverse.js';
import type { Migration } from './types.js';

export type { Migration };

export const MIGRATIONS: readonly Migration[] = [m001, m002, m003, m004, m005, m006, m007, m008, m009, m010];
