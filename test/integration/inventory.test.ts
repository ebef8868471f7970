import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('pgshift inventory (TLS, non-superuser source on PostgreSQL 15)', () => {
  let src: TestDatabase;
  let tgt: TestDatabase;
  beforeAll(async () => {
    const { pg15, pg17 } = inject('clusters');
    [src, tgt] = await Promise.all([createDatabase(pg15, { label: 'inv_src' }), createDatabase(pg17, { label: 'inv_tgt' })]);
    await src.admin(`CREATE EXTENSION IF NOT EXISTS pgcrypto`);
    // Untrusted: the package is on the target server, but only a superuser may create it there.
    await src.admin(`CREATE EXTENSION IF NOT EXISTS postgres_fdw`);
    await src.owner(`
      CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL,
                             email_lower text GENERATED ALWAYS AS (lower(email)) STORED);
      INSERT INTO accounts (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 500) g;
      CREATE TABLE events (at timestamptz, payload jsonb);
      CREATE TABLE "Mixed Case" (a int, b int, PRIMARY KEY (a, b));
      CREATE TABLE measurements (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      CREATE TABLE parent_inh (id int PRIMARY KEY);
      CREATE TABLE child_inh (extra text) INHERITS (parent_inh);
      CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text);
      CREATE TABLE nothing_ri (id int PRIMARY KEY); ALTER TABLE nothing_ri REPLICA IDENTITY NOTHING;
      CREATE TABLE tenants (id int PRIMARY KEY); ALTER TABLE tenants ENABLE ROW LEVEL SECURITY; ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
      CREATE SEQUENCE invoice_no;
      CREATE MATERIALIZED VIEW account_count AS SELECT count(*) FROM accounts;
      CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
      CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
      SELECT lo_from_bytea(0, 'hello large object');
      CREATE MATERIALIZED VIEW never_refreshed AS SELECT 1 AS one WITH NO DATA;
      ANALYZE;
      -- Created after ANALYZE: reltuples is -1 (never analyzed), as in a fresh restore.
      CREATE TABLE fresh (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false); -- stays never analyzed
      INSERT INTO fresh SELECT g, 'note ' || g FROM generate_series(1, 5000) g;
      CREATE TABLE fresh_empty (id int) WITH (autovacuum_enabled = false);
    `);
    // A table the owner role cannot read (created by the superuser).
    await src.admin(`CREATE TABLE secret_stuff (id int PRIMARY KEY)`);
  });
  afterAll(async () => Promise.all([src?.drop(), tgt?.drop()]));

  it('describes the source in JSON', async () => {
    const r = await runCli(['inventory', '--source', src.url, '--target', tgt.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const inv = parseJson(r);
    const t = (name: string) => inv.tables.find((x: any) => x.name === name);
    expect(inv.source.major).toBe(15);
    expect(inv.target.major).toBe(17);
    expect(inv.role).toMatchObject({ superuser: false, replication: false, databaseOwner: true });
    expect(t('accounts')).toMatchObject({
      schema: 'public',
      rows: 500,
      primaryKey: ['id'],
      kind: 'table',
      generatedColumns: ['email_lower'],
      identityColumns: ['id'],
      replicable: true,
    });
    expect(t('accounts').bytes).toBeGreaterThan(0);
    expect(t('events')).toMatchObject({ primaryKey: null, replicable: false, replicaIdentity: 'default' });
    expect(t('Mixed Case').primaryKey).toEqual(['a', 'b']);
    expect(t('measurements').kind).toBe('partitioned');
    expect(t('measurements_2026')).toMatchObject({ kind: 'partition', parent: 'public.measurements' });
    expect(t('child_inh')).toMatchObject({ kind: 'inheritance-child', parent: 'public.parent_inh' });
    expect(t('cache').kind).toBe('unlogged');
    expect(t('nothing_ri')).toMatchObject({ replicaIdentity: 'nothing', replicable: false });
    expect(t('secret_stuff').readable).toBe(false);
    expect(inv.sequences.map((s: any) => s.name)).toEqual(expect.arrayContaining(['invoice_no', 'accounts_id_seq']));
    expect(inv.extensions).toEqual([
      expect.objectContaining({ name: 'pgcrypto', availableOnTarget: true, onTarget: 'creatable' }),
      expect.objectContaining({ name: 'postgres_fdw', availableOnTarget: false, onTarget: 'not-creatable' }),
    ]);
    expect(inv.warnings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'extension-not-creatable',
          object: 'postgres_fdw',
          message: expect.stringContaining(`${tgt.role} cannot create it`),
          remedy: expect.stringContaining('CREATE EXTENSION postgres_fdw'),
        }),
      ]),
    );
    expect(inv.warnings.map((w: any) => w.object)).not.toContain('pgcrypto');
    expect(inv.largeObjects.count).toBe(1);
    expect(inv.materializedViews.map((m: any) => m.name)).toEqual(['account_count', 'never_refreshed']);
    // Only the populated one is refreshed on the target; the other is said to stay unpopulated.
    const mv = inv.warnings.find((w: any) => w.code === 'materialized-views');
    expect(mv.message).toMatch(/^1 materialized views are refreshed/);
    expect(inv.warnings.find((w: any) => w.code === 'materialized-views-unpopulated').message).toContain('public.never_refreshed');
    // Never analyzed: estimated from its pages (not 0), and said so; an empty one is 0 for sure.
    expect(t('fresh')).toMatchObject({ rowsSource: 'pages' });
    expect(t('fresh').rows).toBeGreaterThan(1000);
    expect(t('fresh_empty')).toMatchObject({ rows: 0, rowsSource: 'empty' });
    expect(t('accounts')).toMatchObject({ rows: 500, rowsSource: 'statistics' });
    expect(t('measurements')).toMatchObject({ rows: null });
    expect(inv.triggers).toEqual([expect.objectContaining({ table: 'accounts', name: 'accounts_touch' })]);
    expect(inv.replication.available).toBe(false);
    expect(inv.replication.reason).toMatch(/lacks REPLICATION/);
    expect(inv.pgDump.canDump).toBe(true);
    const codes = inv.warnings.map((w: any) => `${w.code}:${w.object ?? ''}`);
    expect(codes).toEqual(
      expect.arrayContaining([
        'no-primary-key:public.events',
        'replication-unavailable:',
        'unlogged-table:public.cache',
        'large-objects:',
        'table-unreadable:public.secret_stuff',
        'replica-identity:public.nothing_ri',
        'row-level-security:public.tenants',
      ]),
    );
    expect(t('tenants').rowSecurityHidesRows).toBe(true);
    expect(t('accounts').rowSecurityHidesRows).toBe(false);
    for (const w of inv.warnings) expect(w.remedy.length).toBeGreaterThan(10);
    expect(r.stdout + r.stderr).not.toContain(src.password);
    expect(r.stdout + r.stderr).not.toContain(encodeURIComponent(src.password));
  });

  it('prints a human report with warnings and remedies', async () => {
    const r = await runCli(['inventory', '--source', src.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PostgreSQL 15\./);
    expect(r.stdout).toMatch(/public\.events\s+table\s+.*— none —/);
    expect(r.stdout).toContain('logical replication is not available from this source: the role lacks REPLICATION');
    expect(r.stdout).toMatch(/public\.events has no primary key[^\n]*\n\s+→ add a primary key/);
    expect(r.stdout).toMatch(/public\.fresh\s+table\s+~[\d,]+\s/);
    expect(r.stdout).toMatch(/Large objects: 1, [\d.]+ kB stored/);
    expect(r.stdout + r.stderr).not.toContain(src.password);
  });

  it('says "none" for no large objects, and remedies name only commands that exist', async () => {
    const r = await runCli(['inventory', '--source', tgt.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Large objects: none');
    const help = await runCli(['--help']);
    const commands = new Set([...help.stdout.split('Commands:')[1]!.matchAll(/^\s{2}([a-z]+)\b/gm)].map((m) => m[1]));
    expect(commands).toContain('copy');
    const inv = parseJson(await runCli(['inventory', '--source', src.url, '--target', tgt.url, '--json']));
    const named = inv.warnings.flatMap((w: any) => [...`${w.message} ${w.remedy}`.matchAll(/pgshift ([a-z]+)/g)].map((m) => m[1]));
    expect(named.length).toBeGreaterThan(0);
    for (const c of named) expect(commands, c).toContain(c);
  });

  it('lists replication slots with the WAL they keep, and warns about leftover trigger capture', async () => {
    await src.admin(`SELECT pg_create_logical_replication_slot('pgshift_inv_test', 'pgoutput')`);
    await src.admin(`CREATE SCHEMA _pgshift`);
    try {
      const r = await runCli(['inventory', '--source', src.url, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const inv = parseJson(r);
      const slot = inv.replication.slots.find((x: any) => x.name === 'pgshift_inv_test');
      expect(slot).toMatchObject({ plugin: 'pgoutput', active: false });
      expect(typeof slot.retainedBytes).toBe('number');
      expect(inv.captureInstalled).toBe(true);
      expect(inv.warnings.find((w: any) => w.code === 'capture-installed').remedy).toMatch(/pgshift cleanup --source/);
    } finally {
      await src.admin(`SELECT pg_drop_replication_slot('pgshift_inv_test')`);
      await src.admin(`DROP SCHEMA _pgshift`);
    }
  });

  it('warns about objects only a superuser can create when the target role is not one', async () => {
    await src.admin(`
      CREATE FUNCTION public.raw_int4in(cstring) RETURNS int4 AS 'int4in' LANGUAGE internal STRICT IMMUTABLE;
      CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
      CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION public.on_ddl();`);
    // Language internal too, but created as the owner: an aggregate, a range type's constructors.
    await src.owner(`
      CREATE FUNCTION public.add_step(numeric, numeric) RETURNS numeric LANGUAGE sql IMMUTABLE RETURN coalesce($1, 0) + $2;
      CREATE AGGREGATE public.plus(numeric) (SFUNC = public.add_step, STYPE = numeric);
      CREATE TYPE public.numrange2 AS RANGE (subtype = numeric);`);
    try {
      const r = await runCli(['inventory', '--source', src.url, '--target', tgt.url, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const inv = parseJson(r);
      expect(inv.target.superuser).toBe(false);
      expect(inv.privileged).toEqual({
        count: 1,
        examples: ['function raw_int4in(cstring) (language internal)'],
        eventTriggers: ['audit_ddl'],
        securityDefiner: [],
      });
      const w = inv.warnings.find((x: any) => x.code === 'superuser-objects');
      expect(w.message).toMatch(
        /^1 object of the schema can only be created by a superuser \(function raw_int4in\(cstring\) \(language internal\)\); the target role \S+ is not a superuser/,
      );
      const e = inv.warnings.find((x: any) => x.code === 'event-triggers-skipped');
      expect(e.message).toMatch(/^1 event trigger \(audit_ddl\) can only be created by a superuser; the target role \S+ is not a superuser, so copy skips it/);
      // pgcrypto's C functions belong to their extension: not listed.
      expect(JSON.stringify(inv.privileged)).not.toMatch(/digest|crypt|plus|numrange2/);
    } finally {
      await src.admin(`DROP EVENT TRIGGER audit_ddl; DROP FUNCTION public.on_ddl(); DROP FUNCTION public.raw_int4in(cstring)`);
      await src.owner(`DROP AGGREGATE public.plus(numeric); DROP FUNCTION public.add_step(numeric, numeric); DROP TYPE public.numrange2`);
    }
  });

  it('what inventory says of an event trigger, an aggregate and a range type is what copy does', async () => {
    const { pg15, pg17 } = inject('clusters');
    const [from, to] = await Promise.all([createDatabase(pg15, { label: 'evt_src' }), createDatabase(pg17, { label: 'evt_tgt' })]);
    try {
      await from.owner(`
        CREATE TABLE t (id int PRIMARY KEY, n numeric); INSERT INTO t VALUES (1, 2.5), (2, 4);
        CREATE FUNCTION add_step(numeric, numeric) RETURNS numeric LANGUAGE sql IMMUTABLE RETURN coalesce($1, 0) + $2;
        CREATE AGGREGATE plus(numeric) (SFUNC = add_step, STYPE = numeric);
        CREATE TYPE numrange2 AS RANGE (subtype = numeric);
        CREATE FUNCTION on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;`);
      await from.admin(`CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION public.on_ddl()`);
      const inv = parseJson(await runCli(['inventory', '--source', from.url, '--target', to.url, '--json']));
      expect(inv.warnings.map((w: any) => w.code)).not.toContain('superuser-objects');
      expect(inv.warnings.find((w: any) => w.code === 'event-triggers-skipped').message).toMatch(
        /copy skips it with a warning and the target will not have it \(pgshift verify reports it missing/,
      );

      const r = await runCli(['copy', '--source', from.url, '--target', to.url]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/can only be created by a superuser/);
      expect(r.stderr).toMatch(/copy: skipped event trigger audit_ddl \(needs superuser on the target\)/);
      // The aggregate and the range type were restored as the owner; the event trigger was not.
      expect((await to.owner(`SELECT plus(n)::text AS s, numrange2(1, 2)::text AS r FROM t`)).rows).toEqual([{ s: '6.5', r: '[1,2)' }]);
      expect((await to.admin(`SELECT count(*)::int AS n FROM pg_event_trigger`)).rows).toEqual([{ n: 0 }]);
      const v = await runCli(['verify', '--source', from.url, '--target', to.url, '--json']);
      expect(v.code, v.stderr).toBe(1);
      expect(parseJson(v).schema.map((d: any) => `${d.kind} ${d.object}: ${d.difference}`)).toEqual(['event trigger audit_ddl: missing']);
    } finally {
      await Promise.all([from.drop(), to.drop()]);
    }
  });

  it('copy says so before its schema step, and its failure there points to inventory', async () => {
    const { pg15, pg17 } = inject('clusters');
    const [from, to] = await Promise.all([createDatabase(pg15, { label: 'priv_src' }), createDatabase(pg17, { label: 'priv_tgt' })]);
    try {
      await from.owner(`CREATE TABLE t (id int PRIMARY KEY)`);
      await from.admin(`CREATE FUNCTION public.raw_int4in(cstring) RETURNS int4 AS 'int4in' LANGUAGE internal STRICT IMMUTABLE`);
      const r = await runCli(['copy', '--source', from.url, '--target', to.url]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(
        /copy: 1 object of the schema can only be created by a superuser \(function public\.raw_int4in\(cstring\) \(language internal\)\)/,
      );
      expect(r.stderr).toMatch(/next: .*an object only a superuser may create: pgshift inventory/);
    } finally {
      await Promise.all([from.drop(), to.drop()]);
    }
  });

  it('reads the source URL from PGSHIFT_SOURCE_URL', async () => {
    const r = await runCli(['inventory', '--json', '--include', 'public.acc*'], { env: { PGSHIFT_SOURCE_URL: src.url } });
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r).tables.map((t: any) => t.name)).toEqual(['accounts']);
  });
});
