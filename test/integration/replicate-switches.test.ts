// The finish of replicate --until-caught-up (and cleanup) restores what apply switched off on the target. Foreign
// keys come back NOT VALID, then are validated on parallel connections: these tests check the end state is the
// original catalog (every key validated, triggers and identities back), that a check interrupted by bad data
// leaves a resumable state (the key NOT VALID, its VALIDATE owed in pgshift.replication_switch), and that the
// rerun finishes it. Real PostgreSQL, a non-superuser table owner.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config.js';
import { connect, type Client } from '../../src/db/connect.js';
import { migrateState } from '../../src/state/migrations.js';
import { restoreSwitches, switchOff } from '../../src/replicate/apply/switches.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

const SEED = `
  CREATE TABLE users (id int PRIMARY KEY, name text);
  INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 5000) g;
  CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id int NOT NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED);
  CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users (id) ON DELETE CASCADE);
  CREATE TABLE likes (post_id int REFERENCES posts (id), user_id int REFERENCES users (id));
  ALTER TABLE likes ADD CONSTRAINT likes_user_seen FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
  INSERT INTO orders (user_id) SELECT 1 + g % 5000 FROM generate_series(1, 20000) g;
  INSERT INTO posts SELECT g, 1 + g % 5000 FROM generate_series(1, 10000) g;
  INSERT INTO likes SELECT 1 + g % 10000, 1 + g % 5000 FROM generate_series(1, 30000) g;
  CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
  CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit();
`;

const TABLES = ['public.users', 'public.orders', 'public.posts', 'public.likes'];

/** The catalog facts the restore must bring back, as text. */
async function keys(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.admin(
    `SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' validated=' || convalidated AS k
       FROM pg_constraint WHERE contype = 'f' ORDER BY 1`,
  );
  return rows.map((r) => r.k);
}

async function otherSwitches(db: TestDatabase): Promise<unknown[]> {
  const t = await db.admin(`SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`);
  const a = await db.admin(`SELECT attname, attidentity FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attidentity <> '' ORDER BY 1`);
  return [...t.rows, ...a.rows];
}

describe('restoring what replicate switched off on the target', () => {
  let db: TestDatabase;
  let c: Client;
  let before: string[];
  let beforeOther: unknown[];

  beforeAll(async () => {
    const { pg17 } = inject('clusters');
    db = await createDatabase(pg17, { label: 'switches' });
    await db.owner(SEED);
    c = await connect(parseConnectionUrl(db.url, 'target'));
    await migrateState(c);
    before = await keys(db);
    beforeOther = await otherSwitches(db);
    expect(before).toHaveLength(5);
  });
  afterAll(async () => {
    await c?.end();
    await db?.drop();
  });

  it('brings every key back validated (NOT VALID ones stay NOT VALID), with triggers and identities, on parallel connections', async () => {
    const off = await switchOff(c, TABLES);
    expect(off).toEqual({ triggers: 1, foreignKeys: 5, identities: 1 });
    expect(await keys(db)).toEqual([]);
    const back = await restoreSwitches(c, { target: parseConnectionUrl(db.url, 'target'), jobs: 2 });
    expect(back).toEqual({ triggers: 1, foreignKeys: 5, identities: 1 });
    expect(await keys(db)).toEqual(before);
    expect(await otherSwitches(db)).toEqual(beforeOther);
    expect((await db.admin(`SELECT count(*)::int AS n FROM pgshift.replication_switch`)).rows[0].n).toBe(0);
  });

  it('a check that fails leaves its key NOT VALID and owed; the rerun after the fix finishes it', async () => {
    await switchOff(c, TABLES);
    await db.owner(`INSERT INTO posts VALUES (99999, 424242)`); // a user that does not exist
    await expect(restoreSwitches(c, { target: parseConnectionUrl(db.url, 'target'), jobs: 2 })).rejects.toThrow(/posts_user_id_fkey/);
    const owed = await db.admin(`SELECT name, validate_owed, restore FROM pgshift.replication_switch ORDER BY name`);
    expect(owed.rows).toEqual([{ name: 'posts_user_id_fkey', validate_owed: true, restore: null }]);
    expect(await keys(db)).toContain('posts posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE NOT VALID validated=false');
    await db.owner(`DELETE FROM posts WHERE id = 99999`);
    expect(await restoreSwitches(c)).toEqual({ triggers: 0, foreignKeys: 1, identities: 0 });
    expect(await keys(db)).toEqual(before);
    expect((await db.admin(`SELECT count(*)::int AS n FROM pgshift.replication_switch`)).rows[0].n).toBe(0);
  });
});
