import { describe, expect, it } from 'vitest';
import { BuildScheduler, type BuildJob } from '../../src/copy/schedule.js';
import { tableKey } from '../../src/catalog/table-id.js';

const pub = (name: string) => tableKey({ schema: 'public', name });

const index = (table: string, name: string): BuildJob => ({
  kind: 'index',
  schema: 'public',
  table,
  name,
  stateName: name,
  statements: [],
  needsData: [pub(table)],
  needsKeys: [],
  isKey: name.endsWith('_pkey'),
});
const fk = (table: string, ref: string, name: string): BuildJob => ({
  kind: 'foreign key',
  schema: 'public',
  table,
  name,
  stateName: `FK ${name}`,
  statements: [],
  needsData: [pub(table), pub(ref)],
  needsKeys: [pub(ref)],
});

async function drain(s: BuildScheduler): Promise<string[]> {
  const out: string[] = [];
  while (s.queue.size > 0) out.push((await s.queue.take())!.name);
  return out;
}

describe('post-data build scheduling', () => {
  it('starts an index when its table is loaded, and a foreign key once all data is in and the referenced keys are built', async () => {
    const pk = index('users', 'users_pkey');
    const s = new BuildScheduler([pk, index('orders', 'orders_pkey'), fk('orders', 'users', 'orders_user_fk')], []);
    expect(await drain(s)).toEqual([]);
    s.tableLoaded(pub('orders'));
    expect(await drain(s)).toEqual(['orders_pkey']);
    s.tableLoaded(pub('users'));
    expect(await drain(s)).toEqual(['users_pkey']); // the key waits for users_pkey
    s.jobDone(pk);
    expect(await drain(s)).toEqual([]); // keys wait until every table is in
    s.allLoaded();
    expect(await drain(s)).toEqual(['orders_user_fk']);
  });

  it('releases what a resumed run already loaded, and closes the queue when everything was handed out', async () => {
    const s = new BuildScheduler([index('a', 'a_pkey'), fk('b', 'a', 'b_a_fk')], [pub('a'), pub('b')]);
    const first = await s.queue.take();
    expect(first?.name).toBe('a_pkey');
    s.allLoaded();
    s.jobDone(first!);
    expect((await s.queue.take())?.name).toBe('b_a_fk');
    expect(await s.queue.take()).toBeUndefined();
  });

  it("a key's ALTER TABLE half waits until every CREATE INDEX on its table is done; foreign keys wait for it", async () => {
    const pkIndex: BuildJob = { ...index('users', 'users_pkey'), stateName: 'index users_pkey', isKey: undefined, doneWith: 'users_pkey' };
    const pkAttach: BuildJob = { ...index('users', 'users_pkey'), attach: true };
    const other = index('users', 'users_email_idx');
    const s = new BuildScheduler([pkIndex, pkAttach, other, fk('orders', 'users', 'orders_user_fk')], [pub('orders')]);
    s.tableLoaded(pub('users'));
    s.allLoaded();
    expect(await drain(s)).toEqual(['users_pkey', 'users_email_idx']); // both CREATE INDEX at once
    s.jobDone(pkIndex);
    expect(await drain(s)).toEqual([]); // the ALTER TABLE would wait for the other build's SHARE lock: held back
    s.jobDone(other);
    const attach = await s.queue.take();
    expect(attach?.attach).toBe(true);
    expect(await drain(s)).toEqual([]); // the foreign key needs the constraint
    s.jobDone(attach!);
    expect(await drain(s)).toEqual(['orders_user_fk']);
  });

  it("a key's ALTER TABLE half and a foreign-key validation on the same table take turns (their locks conflict)", async () => {
    const linesIndex: BuildJob = { ...index('lines', 'lines_pkey'), stateName: 'index lines_pkey', isKey: undefined, doneWith: 'lines_pkey' };
    const linesAttach: BuildJob = { ...index('lines', 'lines_pkey'), attach: true };
    const check = fk('lines', 'users', 'lines_user_fk');
    const s = new BuildScheduler([linesIndex, linesAttach, check], [pub('users')]);
    s.tableLoaded(pub('lines'));
    s.allLoaded();
    expect(await drain(s)).toEqual(['lines_pkey', 'lines_user_fk']); // the CREATE INDEX and the validation together
    s.jobDone(linesIndex);
    expect(await drain(s)).toEqual([]); // the validation holds lines: the ALTER TABLE would wait for it
    s.jobDone(check);
    expect((await s.queue.take())?.attach).toBe(true);
  });

  it('foreign keys to one table: each added NOT VALID one at a time (SHARE ROW EXCLUSIVE on it), then validated side by side', async () => {
    const halves = (table: string) => {
      const add: BuildJob = { ...fk(table, 'users', `${table}_user_fk`), stateName: `FK ${table}_user_fk NOT VALID`, doneWith: `FK ${table}_user_fk` };
      return [add, { ...fk(table, 'users', `${table}_user_fk`), validate: true, after: add.stateName }];
    };
    const [addA, checkA] = halves('a');
    const [addB, checkB] = halves('b');
    const s = new BuildScheduler([addA!, checkA!, addB!, checkB!], [pub('users'), pub('a'), pub('b')]);
    s.allLoaded();
    expect(await s.queue.take()).toBe(addA); // both lock users: one add at a time
    expect(s.queue.size).toBe(0);
    s.jobDone(addA!);
    expect([await s.queue.take(), await s.queue.take()]).toEqual([checkA, addB]);
    s.jobDone(addB!);
    expect(await s.queue.take()).toBe(checkB); // while checkA still runs: validations share users
    s.jobDone(checkA!);
    s.jobDone(checkB!);
    expect(await s.queue.take()).toBeUndefined();
  });

  it("a VALIDATE waits for its own schema's ADD, when another schema has a key of the same name", async () => {
    const inSchema = (schema: string) => {
      const add: BuildJob = { ...fk('t', 'p', 't_p_fk'), schema, stateName: 'FK t.t_p_fk NOT VALID', doneWith: 'FK t.t_p_fk', needsData: [], needsKeys: [] };
      return [add, { ...add, stateName: 'FK t.t_p_fk', doneWith: undefined, validate: true, after: add.stateName }];
    };
    const [addA, checkA] = inSchema('a');
    const [addB, checkB] = inSchema('b');
    const s = new BuildScheduler([addA!, checkA!, addB!, checkB!], []);
    s.allLoaded();
    expect([await s.queue.take(), await s.queue.take()]).toEqual([addA, addB]);
    s.jobDone(addA!);
    expect(await s.queue.take()).toBe(checkA);
    expect(s.queue.size).toBe(0); // b's key is not added yet
    s.jobDone(addB!);
    expect(await s.queue.take()).toBe(checkB);
  });

  it('hands out nothing more after abort', async () => {
    const s = new BuildScheduler([index('a', 'a_pkey')], []);
    s.abort();
    s.tableLoaded(pub('a'));
    expect(await s.queue.take()).toBeUndefined();
  });
});
