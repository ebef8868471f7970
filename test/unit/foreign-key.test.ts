// The foreign-key definitions kept in state are parsed strictly and rebuilt with every identifier quoted here:
// what the catalog prints round-trips, anything else is refused.
import { describe, expect, it } from 'vitest';
import { addForeignKeySql, foreignKeySql, parseForeignKeyDef } from '../../src/catalog/foreign-key.js';

describe('foreign-key definitions from pg_get_constraintdef', () => {
  it.each([
    ['FOREIGN KEY (user_id) REFERENCES public.users(id)', 'FOREIGN KEY ("user_id") REFERENCES "public"."users" ("id")'],
    [
      'FOREIGN KEY (a, "B c") REFERENCES "S"."T.x"(x, "y""z") MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL (a) DEFERRABLE INITIALLY DEFERRED NOT VALID',
      'FOREIGN KEY ("a", "B c") REFERENCES "S"."T.x" ("x", "y""z") MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL ("a") DEFERRABLE INITIALLY DEFERRED NOT VALID',
    ],
    ['FOREIGN KEY (a) REFERENCES t(id) ON DELETE RESTRICT', 'FOREIGN KEY ("a") REFERENCES "t" ("id") ON DELETE RESTRICT'],
    ['FOREIGN KEY (a) REFERENCES t(id) ON DELETE SET DEFAULT', 'FOREIGN KEY ("a") REFERENCES "t" ("id") ON DELETE SET DEFAULT'],
  ])('%s', (def, sql) => {
    expect(foreignKeySql(parseForeignKeyDef(def))).toBe(sql);
  });

  it('NOT VALID can be asked for or dropped; the statement quotes table and constraint', () => {
    const fk = parseForeignKeyDef('FOREIGN KEY (a) REFERENCES public.t(id)');
    expect(addForeignKeySql({ schema: 'my"s', name: 'o; x' }, 'k"1', fk, { notValid: true })).toBe(
      'ALTER TABLE "my""s"."o; x" ADD CONSTRAINT "k""1" FOREIGN KEY ("a") REFERENCES "public"."t" ("id") NOT VALID',
    );
  });

  it.each([
    'FOREIGN KEY (a) REFERENCES t(id); GRANT owner TO app',
    'FOREIGN KEY (a) REFERENCES t(id) ON DELETE DROP TABLE x',
    'FOREIGN KEY (a) REFERENCES t(id)) ; SELECT 1 --',
    'FOREIGN KEY (a, b) REFERENCES t(id)',
    'CHECK (a > 0)',
    'FOREIGN KEY (a) REFERENCES t(id) NOT VALID x',
    "FOREIGN KEY (a) REFERENCES t(id) 'x'",
  ])('refuses %s', (def) => {
    expect(() => parseForeignKeyDef(def)).toThrow();
  });
});
