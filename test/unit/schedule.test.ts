import { describe, expect, it } from 'vitest';
import { BuildScheduler, type BuildJob } from '../../src/copy/schedule.js';
import { tableKey } from '../../src/catalog/table-id.js';

const pub = (name: string) => tableKey({ schema: 'public', name });

const index = (table: string, name: string): BuildJob => ({
  kind: 'index', schema: 'public', table, name, stateName: name, statements: [], needsData: [pub(table)], needsKeys: [], isKey: name.endsWith('_pkey'),
});
const fk = (table: string, ref: string, name: string): BuildJob => ({
  kind: 'foreign key', schema: 'public', table, name, stateName: `FK ${name}`, statements: [],
  needsData: [pub(table), pub(ref)], needsKeys: [pub(ref)],
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

  it('hands out nothing more after abort', async () => {
    const s = new BuildScheduler([index('a', 'a_pkey')], []);
    s.abort();
    s.tableLoaded(pub('a'));
    expect(await s.queue.take()).toBeUndefined();
  });
});
