import { chmodSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { parseToc } from '../../src/schema/dump.js';
import { findPgTools, pickPgTools } from '../../src/schema/pgdump.js';

/** A folder with a fake pg_dump/pg_restore pair of this version (no real binaries: the machine's don't matter). */
function fakeTools(version: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgbin-'));
  for (const tool of ['pg_dump', 'pg_restore']) {
    writeFileSync(join(dir, tool), `#!/bin/sh\necho "${tool} (PostgreSQL) ${version}"\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  return dir;
}

describe('pg_dump discovery', () => {
  const v13 = fakeTools('13.9');
  const v16 = fakeTools('16.4');
  const debian = mkdtempSync(join(tmpdir(), 'pgdebian-'));
  const v14 = join(debian, '14', 'bin');
  mkdirSync(v14, { recursive: true });
  renameSync(fakeTools('14.2'), v14);
  const where = { path: [v13, v16].join(delimiter), debianRoot: debian };

  it('finds pairs on PATH and in the Debian layout, newest first', () => {
    expect(findPgTools(undefined, where).map((t) => t.version)).toEqual(['16.4', '14.2', '13.9']);
    expect(pickPgTools(14, undefined, where).version).toBe('16.4');
  });

  it('names the client version to install when no pg_dump is new enough', () => {
    let err: unknown;
    try {
      pickPgTools(17, undefined, where);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/pg_dump must be version 17 or newer; found only pg_dump 16\.4 .*pg_dump 14\.2 .*pg_dump 13\.9/);
    expect((err as UsageError).hint).toMatch(/postgresql-client-17/);
  });

  it('says so when there is no pg_dump at all', () => {
    expect(() => pickPgTools(15, undefined, { path: '', debianRoot: join(debian, 'none') })).toThrow(/found no pg_dump/);
  });

  it('prefers --pg-bin when it holds a pair that is new enough', () => {
    const dir = fakeTools('18.1');
    expect(findPgTools(dir, where)[0]).toMatchObject({ dir, major: 18, version: '18.1' });
    expect(pickPgTools(15, dir, where).dir).toBe(dir);
    expect(pickPgTools(15, v13, where).dir).toBe(v16);
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
