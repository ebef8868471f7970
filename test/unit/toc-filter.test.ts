// The restore-TOC filter: an excluded table takes its definition and everything hanging off it out of the
// restore, whether the TOC entry carries the object's OID or only its name.
import { describe, expect, it } from 'vitest';
import { tableKey } from '../../src/catalog/table-id.js';
import { parseToc } from '../../src/schema/dump.js';
import { keepEntry, type Excluded } from '../../src/schema/filter.js';

const excluded: Excluded = {
  oids: new Set([5001, 5002]),
  tables: new Set([tableKey({ schema: 'public', name: 'orders' })]),
  indexes: new Set([tableKey({ schema: 'public', name: 'orders_pkey' })]),
  sequences: new Set([tableKey({ schema: 'public', name: 'orders_id_seq' })]),
};

const kept = (lines: string[]) =>
  parseToc(lines.join('\n'))
    .filter((e) => keepEntry(excluded, e))
    .map((e) => e.dumpId);

describe('restore TOC filter', () => {
  it('drops entries by OID and by name, keeps everything else', () => {
    expect(
      kept([
        '1; 1259 5001 TABLE public orders owner',
        '2; 1259 6001 TABLE public users owner',
        '3; 0 0 TABLE ATTACH public orders_2024 owner',
        '4; 0 0 ROW SECURITY public orders owner',
        '5; 0 0 INDEX ATTACH public orders_pkey owner',
        '6; 0 0 SEQUENCE OWNED BY public orders_id_seq owner',
        '7; 0 0 SEQUENCE SET public orders_id_seq owner',
        '8; 0 0 COMMENT public TABLE orders owner',
        '9; 0 0 COMMENT public COLUMN orders.total owner',
        '10; 0 0 COMMENT public INDEX orders_pkey owner',
        '11; 0 0 COMMENT public POLICY tenant ON orders owner',
        '12; 0 0 COMMENT public TRIGGER audit ON users owner',
        '13; 0 0 COMMENT public COLUMN users.name owner',
        '14; 0 0 ACL public TABLE orders owner',
        '15; 2606 5002 FK CONSTRAINT public lines lines_order_fk owner',
        '16; 0 0 COMMENT public COLUMN orders_archive.total owner',
      ]),
    ).toEqual([2, 3, 12, 13, 16]);
  });

  it('tells apart tables whose dotted names are the same string', () => {
    const ex: Excluded = { oids: new Set(), tables: new Set([tableKey({ schema: 'a.b', name: 'c' })]), indexes: new Set(), sequences: new Set() };
    const toc = parseToc(['1; 0 0 ROW SECURITY a.b c owner', '2; 0 0 ROW SECURITY a b.c owner'].join('\n'));
    expect(toc.filter((e) => keepEntry(ex, e)).map((e) => e.dumpId)).toEqual([2]);
  });
});
