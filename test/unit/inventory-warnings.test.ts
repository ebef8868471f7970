// Inventory's warnings about replication slots: a slot that keeps a lot of WAL is an outage in waiting.
import { describe, expect, it } from 'vitest';
import { warningsFor, type Inventory } from '../../src/catalog/inventory.js';

function inventoryWith(slots: Inventory['replication']['slots']): Inventory {
  return {
    source: { url: 'postgres://u:***@h/db', serverVersion: '15.18', major: 15, database: 'db', databaseBytes: 0, user: 'u' },
    role: { name: 'u', superuser: false, replication: true, databaseOwner: true },
    replication: {
      walLevel: 'logical',
      maxReplicationSlots: 10,
      usedReplicationSlots: slots.length,
      freeReplicationSlots: 10 - slots.length,
      maxWalSenders: 10,
      usedWalSenders: 0,
      available: true,
      reason: null,
      slots,
    },
    pgDump: { path: '/usr/lib/postgresql/15/bin/pg_dump', dir: '/usr/lib/postgresql/15/bin', version: '15.18', major: 15, canDump: true, fitsTarget: null },
    selfReferencingViews: [],
    tables: [],
    sequences: [],
    extensions: [],
    largeObjects: { count: 0, bytes: 0 },
    materializedViews: [],
    triggers: [],
    internalSchemas: [],
    captureInstalled: false,
    privileged: { count: 0, examples: [], eventTriggers: [], securityDefiner: [] },
    target: null,
    warnings: [],
  };
}

describe('inventory warnings about replication slots', () => {
  it('warns about a slot keeping a gigabyte or more, and names the way to remove it', () => {
    const w = warningsFor(
      inventoryWith([
        { name: 'pgshift_ab12', plugin: 'pgoutput', database: 'db', active: false, retainedBytes: 3 * 1024 ** 3 },
        { name: 'other_tool', plugin: 'wal2json', database: 'db', active: true, retainedBytes: 2 * 1024 ** 3 },
        { name: 'small', plugin: 'pgoutput', database: 'db', active: true, retainedBytes: 10 * 1024 ** 2 },
      ]),
    ).filter((x) => x.code === 'slot-retains-wal');
    expect(w.map((x) => x.object)).toEqual(['pgshift_ab12', 'other_tool']);
    expect(w[0]!.message).toMatch(/pgshift_ab12 \(inactive\) keeps 3\.0 GB of WAL/);
    expect(w[0]!.remedy).toMatch(/pgshift cleanup --source/);
    expect(w[1]!.remedy).toMatch(/pg_drop_replication_slot\('other_tool'\)/);
  });
});

describe('inventory warnings about objects only a superuser can create', () => {
  const privileged = {
    count: 12,
    examples: ['function public.f(integer) (language c)', 'operator class public.my_ops'],
    eventTriggers: [],
    securityDefiner: [],
  };
  const target = (superuser: boolean) => ({ url: 'postgres://app:***@t/db', serverVersion: '17.1', major: 17, user: 'app', superuser });
  it('warns when the target role is not a superuser, naming the objects and the ways out', () => {
    const w = warningsFor({ ...inventoryWith([]), privileged, target: target(false) }).find((x) => x.code === 'superuser-objects');
    expect(w?.message).toMatch(
      /^12 objects of the schema can only be created by a superuser \(function public\.f\(integer\) \(language c\), operator class public\.my_ops, …\); the target role app is not a superuser/,
    );
    expect(w?.remedy).toMatch(/superuser as the target role.*--exclude/);
  });
  it('warns without a target (the role is not known yet), and not when the target role is a superuser', () => {
    expect(warningsFor({ ...inventoryWith([]), privileged }).find((x) => x.code === 'superuser-objects')?.message).toMatch(
      /unless the target role is a superuser/,
    );
    expect(warningsFor({ ...inventoryWith([]), privileged, target: target(true) }).find((x) => x.code === 'superuser-objects')).toBeUndefined();
    expect(warningsFor({ ...inventoryWith([]), target: target(false) }).find((x) => x.code === 'superuser-objects')).toBeUndefined();
  });
});

describe('inventory warnings about event triggers (copy skips them without a superuser)', () => {
  const target = (superuser: boolean) => ({ url: 'postgres://app:***@t/db', serverVersion: '17.1', major: 17, user: 'app', superuser });
  const privileged = { count: 0, examples: [], eventTriggers: ['audit_ddl'], securityDefiner: [] };
  it('says copy skips them and the target will not have them, never that the schema step fails', () => {
    const all = warningsFor({ ...inventoryWith([]), privileged, target: target(false) });
    expect(all.find((x) => x.code === 'superuser-objects')).toBeUndefined();
    const w = all.find((x) => x.code === 'event-triggers-skipped');
    expect(w?.message).toMatch(
      /^1 event trigger \(audit_ddl\) can only be created by a superuser; the target role app is not a superuser, so copy skips it with a warning and the target will not have it/,
    );
    expect(w?.message).not.toMatch(/fail/);
    expect(w?.remedy).toMatch(/CREATE EVENT TRIGGER/);
    expect(warningsFor({ ...inventoryWith([]), privileged }).find((x) => x.code === 'event-triggers-skipped')?.message).toMatch(
      /unless the target role is a superuser, copy skips it/,
    );
    expect(warningsFor({ ...inventoryWith([]), privileged, target: target(true) }).find((x) => x.code === 'event-triggers-skipped')).toBeUndefined();
  });
});
