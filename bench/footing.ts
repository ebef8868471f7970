// The roles a bench peer connects as (issue #28): by default the superuser on both sides; with
// --source-tls-owner a Heroku-like source credential (a non-superuser role owning the database and every object
// in it, NOREPLICATION unless asked, reached over TLS: the embedded servers' self-signed certificate and
// pg_hba.conf admit non-superusers over TLS only, test/support/cluster.ts); with --target-nonsuper an RDS-like
// target (a NOCREATEDB, non-superuser role owning a database created for it, over TLS). The superuser URLs stay
// for setup and for the independent checks.
import { randomBytes } from 'node:crypto';
import { parseConnectionUrl } from '../src/config.js';
import { connect } from '../src/db/connect.js';
import { quoteIdent, quoteLiteral } from '../src/db/ident.js';
import { withDatabase } from './servers.js';

export interface RoleFooting {
  /** Source: a database-owner role over TLS (Heroku-like); its REPLICATION attribute. */
  sourceOwner?: { replication: boolean };
  /** Target: a non-superuser owner of the target database (RDS-like). */
  targetNonSuper?: boolean;
}

export const SOURCE_OWNER_ROLE = 'bench_source_owner';
export const TARGET_OWNER_ROLE = 'bench_target_owner';
/** One password per run, for both roles: random, never printed (the peers' commands show $SOURCE/$TARGET). */
const PASSWORD = `bench-${randomBytes(12).toString('hex')}`;

async function run(url: string, statements: string[]): Promise<void> {
  const c = await connect(parseConnectionUrl(url, 'source'), { applicationName: 'pgshift-bench-footing' });
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** A login role (created or reset) with the given attributes and this run's password. */
async function ensureRole(adminUrl: string, role: string, attributes: string): Promise<void> {
  const r = quoteIdent(role);
  await run(adminUrl, [
    `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${quoteLiteral(role)}) THEN CREATE ROLE ${r} LOGIN; END IF; END $$`,
    `ALTER ROLE ${r} LOGIN NOSUPERUSER NOCREATEROLE ${attributes} PASSWORD ${quoteLiteral(PASSWORD)}`,
  ]);
}

/** `url` with the role's credentials and sslmode=require (the servers admit non-superusers over TLS only). */
function asRole(url: string, role: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(role);
  u.password = encodeURIComponent(PASSWORD);
  u.searchParams.set('sslmode', 'require');
  return u.toString();
}

/**
 * Make `role` the owner of `database` and of everything in it, as on Heroku, where the one credential created every
 * object: schemas, relations (their indexes and owned sequences follow), free-standing sequences, routines, types.
 */
export async function sourceAsOwner(adminUrl: string, database: string, replication: boolean): Promise<string> {
  await ensureRole(adminUrl, SOURCE_OWNER_ROLE, `NOCREATEDB ${replication ? 'REPLICATION' : 'NOREPLICATION'}`);
  const db = withDatabase(adminUrl, database);
  const role = quoteIdent(SOURCE_OWNER_ROLE);
  const user = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'`;
  await run(adminUrl, [`ALTER DATABASE ${quoteIdent(database)} OWNER TO ${role}`]);
  await run(db, [
    `DO $$ DECLARE r record; BEGIN
       FOR r IN SELECT n.nspname FROM pg_namespace n WHERE ${user} LOOP
         EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, ${quoteLiteral(SOURCE_OWNER_ROLE)}); END LOOP;
       FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE ${user} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') LOOP
         EXECUTE format('ALTER TABLE %s OWNER TO %I', r.rel, ${quoteLiteral(SOURCE_OWNER_ROLE)}); END LOOP;
       -- Sequences owned by a column moved with their table; the free-standing ones now.
       FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE ${user} AND c.relkind = 'S'
                   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')) LOOP
         EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', r.rel, ${quoteLiteral(SOURCE_OWNER_ROLE)}); END LOOP;
       FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE ${user} AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
         EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.fn, ${quoteLiteral(SOURCE_OWNER_ROLE)}); END LOOP;
     END $$`,
  ]);
  return asRole(db, SOURCE_OWNER_ROLE);
}

/** A fresh target database owned by a non-superuser, NOCREATEDB role (RDS-like); its URL as that role over TLS. */
export async function nonSuperTarget(adminUrl: string, database: string): Promise<string> {
  await ensureRole(adminUrl, TARGET_OWNER_ROLE, 'NOCREATEDB NOREPLICATION');
  await run(adminUrl, [
    `DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`,
    `CREATE DATABASE ${quoteIdent(database)} OWNER ${quoteIdent(TARGET_OWNER_ROLE)}`,
  ]);
  return asRole(withDatabase(adminUrl, database), TARGET_OWNER_ROLE);
}

/** How each side was reached, for the record and the report. */
export function roleNote(f: RoleFooting): string {
  const src = f.sourceOwner
    ? `the source as a non-superuser database owner over TLS (${f.sourceOwner.replication ? 'with' : 'no'} REPLICATION, Heroku-like)`
    : 'the source as superuser';
  const dst = f.targetNonSuper
    ? 'the target as a non-superuser, NOCREATEDB owner of a database created for it, over TLS (RDS-like)'
    : 'the target as superuser';
  return `Every tool reached ${src} and ${dst}`;
}
