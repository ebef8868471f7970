import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { parseToc } from '../../src/schema/dump.js';
import { findPgTools, pickPgTools } from '../../src/schema/pgdump.js';

describe('pg_dump discovery', () => {
  it('names the client version to install when no pg_dump is new enough', () => {
    let err: unknown;
    try {
      pickPgTools(99);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/pg_dump must be version 99 or newer; found only pg_dump 15/);
    expect((err as UsageError).hint).toMatch(/postgresql-client-99/);
  });

  it('prefers --pg-bin when it holds a pair', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgbin-'));
    for (const tool of ['pg_dump', 'pg_restore']) {
      writeFileSync(join(dir, tool), `#!/bin/sh\necho "${tool} (PostgreSQL) 18.1"\n`);
      chmodSync(join(dir, tool), 0o755);
    }
    expect(findPgTools(dir)[0]).toMatchObject({ dir, major: 18, version: '18.1' });
    expect(pickPgTools(15, dir).dir).toBe(dir);
  });
});

describe('pg_restore TOC parsing', () => {
  it('reads ids, OIDs and multi-word entry types', () => {
    const toc = parseToc(
      [
        ';',
        '217; 1259 43822 TABLE public a postgres',
        '3130; 2606 43830 CHECK CONSTRAINT public a a_y_pos postgres',
        '3138; 2606 43834 FK CONSTRAINT public b b_id_fkey postgres',
        '3293; 0 0 COMMENT public CONSTRAINT a_y_pos ON a postgres',
        '3282; 0 43822 ROW SECURITY public a postgres',
      ].join('\n'),
    );
    expect(toc.map((e) => [e.dumpId, e.oid, e.desc, e.schema, e.rest])).toEqual([
      [217, 43822, 'TABLE', 'public', 'a postgres'],
      [3130, 43830, 'CHECK CONSTRAINT', 'public', 'a a_y_pos postgres'],
      [3138, 43834, 'FK CONSTRAINT', 'public', 'b b_id_fkey postgres'],
      [3293, 0, 'COMMENT', 'public', 'CONSTRAINT a_y_pos ON a postgres'],
      [3282, 43822, 'ROW SECURITY', 'public', 'a postgres'],
    ]);
  });
});

describe('psql \\restrict markers', () => {
  it('removes exactly the two marker lines pg_dump 15.14+ adds', async () => {
    const { stripPsqlRestrict } = await import('../../src/schema/dump.js');
    const sql = 'SET x = 1;\n\\restrict abcDEF123\n\nCREATE TABLE a (t text DEFAULT \'\\restrict no\');\n\\unrestrict abcDEF123\n';
    expect(stripPsqlRestrict(sql)).toBe("SET x = 1;\n\nCREATE TABLE a (t text DEFAULT '\\restrict no');\n");
    expect(stripPsqlRestrict('SELECT 1;\n')).toBe('SELECT 1;\n');
  });
});
