import { chmodSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { parseToc } from '../../src/schema/dump.js';
import { expandPattern, findPgTools, olderThanTarget, pickPgTools } from '../../src/schema/pgdump.js';

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
  // The install layouts: Debian (/usr/lib/postgresql/N/bin), PGDG RPM (/usr/pgsql-N/bin), Homebrew (postgresql@N),
  // Postgres.app (Versions/N/bin), each under a test root.
  const root = mkdtempSync(join(tmpdir(), 'pgroots-'));
  const place = (path: string, version: string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    renameSync(fakeTools(version), join(root, path));
  };
  place('debian/14/bin', '14.2');
  place('pgsql-12/bin', '12.1');
  place('homebrew/postgresql@17/bin', '17.2');
  place('Postgres.app/Contents/Versions/11/bin', '11.3');
  mkdirSync(join(root, 'pgsql-broken'), { recursive: true }); // matches the pattern, holds nothing
  const patterns = ['debian/*/bin', 'pgsql-*/bin', 'homebrew/postgresql@*/bin', 'Postgres.app/Contents/Versions/*/bin', 'nowhere/*/bin'].map((p) =>
    join(root, p),
  );
  const where = { path: [v13, v16].join(delimiter), patterns };

  it('finds pairs on PATH and in every install layout, newest first', () => {
    expect(findPgTools(where).map((t) => t.version)).toEqual(['17.2', '16.4', '14.2', '13.9', '12.1', '11.3']);
    expect(pickPgTools(14, undefined, where).version).toBe('17.2');
    expect(findPgTools(where)[0]!.dir).toBe(join(root, 'homebrew/postgresql@17/bin'));
  });

  it('names what to install (the newer of both ends) when no pg_dump is new enough for the source', () => {
    const noNew = { path: [v13, v16].join(delimiter), patterns: [] };
    let err: unknown;
    try {
      pickPgTools(17, undefined, noNew, 18);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/pg_dump must be version 17 or newer .*found only pg_dump 16\.4 .*pg_dump 13\.9.*nothing was changed/);
    expect((err as UsageError).hint).toMatch(/PGDG apt repository.*apt-get install postgresql-client-18.*brew install libpq.*--pg-bin DIR/);
  });

  it('says so when there is no pg_dump at all', () => {
    expect(() => pickPgTools(15, undefined, { path: '', patterns: [join(root, 'none/*/bin')] })).toThrow(/found no pg_dump/);
  });

  it('uses --pg-bin when given, even when a newer pair exists, and refuses it when too old for the source', () => {
    const dir = fakeTools('15.3');
    expect(pickPgTools(15, dir, where)).toMatchObject({ dir, major: 15, version: '15.3', pgRestore: join(dir, 'pg_restore') });
    expect(() => pickPgTools(15, v13, where)).toThrow(
      new RegExp(
        `--pg-bin ${v13} holds pg_dump 13\\.9 \\(pg_dump 17\\.2 in ${join(root, 'homebrew/postgresql@17/bin')} would do: pass that folder, or leave --pg-bin out\\)`,
      ),
    );
    expect(() => pickPgTools(15, join(root, 'pgsql-broken'), where)).toThrow(/--pg-bin .*pgsql-broken holds no pg_dump and pg_restore/);
    expect(() => pickPgTools(15, join(root, 'absent'), where)).toThrow(/--pg-bin .*absent does not exist/);
  });

  it('warns (does not refuse) when the pair is older than the target', () => {
    const t15 = pickPgTools(15, fakeTools('15.3'), where);
    expect(olderThanTarget(t15, 15)).toBeUndefined();
    const risk = olderThanTarget(t15, 17)!;
    expect(risk.message).toMatch(/pg_dump 15\.3 .* is older than the target's PostgreSQL 17: .*system_user/);
    expect(risk.remedy).toMatch(/postgresql-client-17/);
  });

  it('expands one * per pattern and ignores missing parents', () => {
    expect(expandPattern(join(root, 'pgsql-*/bin'))).toEqual([join(root, 'pgsql-12/bin'), join(root, 'pgsql-broken/bin')]);
    expect(expandPattern('/no/such/place/*/bin')).toEqual([]);
    expect(expandPattern('/opt/homebrew/opt/libpq/bin')).toEqual(['/opt/homebrew/opt/libpq/bin']);
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
    const sql = "SET x = 1;\n\\restrict abcDEF123\n\nCREATE TABLE a (t text DEFAULT '\\restrict no');\n\\unrestrict abcDEF123\n";
    expect(stripPsqlRestrict(sql)).toBe("SET x = 1;\n\nCREATE TABLE a (t text DEFAULT '\\restrict no');\n");
    expect(stripPsqlRestrict('SELECT 1;\n')).toBe('SELECT 1;\n');
  });
});
