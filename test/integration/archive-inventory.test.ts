// inventory --source FILE (#26): a pg_dump archive's contents, sizes and wholeness, read before anything is
// written — checked against pg_restore's own listing and the source catalog, on real pg_dump output.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, copyFileSync, statSync, unlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { dumpToFile } from '../support/dump-restore.js';
import { createDatabase, type TestDatabase } from '../support/fixtures.js';

describe('inventory --source FILE: a pg_dump archive', () => {
  let src: TestDatabase;
  const dir = mkdtempSync(join(tmpdir(), 'pgshift-archive-test-'));
  const file = (name: string) => join(dir, name);
  beforeAll(async () => {
    src = await createDatabase(inject('clusters').pg15, { label: 'archive_src' });
    await src.owner(`
      CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 50000) g;
      CREATE TABLE "Odd ""name"" n" (x int); INSERT INTO "Odd ""name"" n" VALUES (1);
      CREATE TABLE empty_one (x int);
      CREATE SEQUENCE s; SELECT setval('s', 42);
      SELECT lo_from_bytea(0, 'hello'); SELECT lo_from_bytea(0, decode(repeat('ab', 50000), 'hex'));
      COMMENT ON TABLE big IS 'the big one';`);
    await Promise.all([
      dumpToFile(src, file('a.dump'), ['-Fc']),
      dumpToFile(src, file('pipe.dump'), ['-Fc'], { pipe: true }),
      dumpToFile(src, file('raw.dump'), ['-Fc', '-Z0']),
      dumpToFile(src, file('a.dir'), ['-Fd']),
      dumpToFile(src, file('plain.sql'), ['-Fp']),
    ]);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await src?.drop();
  });

  for (const name of ['a.dump', 'pipe.dump', 'raw.dump', 'a.dir']) {
    it(`${name}: every entry pg_restore lists, the tables with data and their sizes, sequences and large objects`, async () => {
      const r = await runCli(['inventory', '--source', file(name), '--json']);
      expect(r.code, r.stderr).toBe(0);
      const inv = parseJson(r);
      expect(inv.archive).toMatchObject({
        format: name === 'a.dir' ? 'directory' : 'custom',
        compression: name === 'raw.dump' ? 'none' : 'gzip',
        database: src.database,
        whole: true,
      });
      expect(inv.archive.pgDumpVersion).toMatch(/^15\./);
      // The tables with data are exactly the source's (pg_dump writes a data entry even for an empty table).
      const { rows } = await src.admin(
        `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1, 2`,
      );
      expect(
        inv.tables
          .map((t: { schema: string; name: string }) => ({ schema: t.schema, name: t.name }))
          .sort((a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name)),
      ).toEqual(rows.sort((a, b) => a.name.localeCompare(b.name)));
      // The big table holds most of the data; its size is what the file stores.
      expect(inv.tables[0].name).toBe('big');
      expect(inv.tables[0].bytes).toBeGreaterThan(name === 'raw.dump' ? 1_000_000 : 100_000);
      expect(inv.sequences).toBe(1);
      expect(inv.largeObjects).toBe(2);
      // Every entry pg_restore -l lists is counted, by type.
      const listed = execFileSync('pg_restore', ['-l', file(name)], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => /^\d+;/.test(l));
      const byType: Record<string, number> = {};
      for (const l of listed) {
        const desc = ['TABLE DATA', 'SEQUENCE SET', 'BLOB', 'BLOBS', 'TABLE', 'SEQUENCE', 'COMMENT', 'SCHEMA'].find((d) =>
          l.split(' ').slice(3).join(' ').startsWith(`${d} `),
        );
        if (desc) byType[desc] = (byType[desc] ?? 0) + 1;
      }
      for (const [desc, n] of Object.entries(byType)) expect(inv.objects[desc], desc).toBe(n);
      const text = await runCli(['inventory', '--source', file(name)]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/pg_restore 12 or newer reads it/);
      expect(text.stdout).toMatch(/public\.big/);
    });
  }

  it('a truncated download is refused (exit 2) naming where it ends and what to do, at every kind of cut', async () => {
    const size = statSync(file('a.dump')).size;
    for (const [i, cut] of [size - 10, Math.floor(size / 2), 3000, 200, 10].entries()) {
      const t = file(`cut${i}.dump`);
      copyFileSync(file('a.dump'), t);
      truncateSync(t, cut);
      const r = await runCli(['inventory', '--source', t]);
      expect(r.code, `${cut}: ${r.stderr}`).toBe(2);
      expect(r.stderr, String(cut)).toMatch(/truncated/);
      expect(r.stderr, String(cut)).toMatch(/next: download the archive again/);
      // The large objects come last in the file, the big table's rows before them.
      if (i === 0) expect(r.stderr).toMatch(/large object \d+/);
      if (i === 1) expect(r.stderr).toMatch(/table public\.big runs past the end of the file/);
    }
  });

  it('a directory archive missing a data file, a plain SQL dump and a file that is no archive are refused, each named', async () => {
    const broken = file('broken.dir');
    execFileSync('cp', ['-r', file('a.dir'), broken]);
    const dataFiles = readdirSync(broken)
      .filter((f) => /^\d+\.dat/.test(f))
      .sort((a, b) => statSync(join(broken, b)).size - statSync(join(broken, a)).size);
    unlinkSync(join(broken, dataFiles[0]!));
    const r = await runCli(['inventory', '--source', broken]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/data file \d+\.dat of table public\.big is missing/);
    const plain = await runCli(['inventory', '--source', file('plain.sql')]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/not a pg_dump archive in custom or directory format/);
    expect(plain.stderr).toMatch(/plain SQL dump is restored with psql/);
    writeFileSync(file('junk.dump'), 'PGDMP\x01\x0e\x00\x04\x08\x01\x00\x00\x00\x00\x00\xff\xff\xff\x7f');
    const junk = await runCli(['inventory', '--source', file('junk.dump')]);
    expect(junk.code, junk.stderr).toBe(2);
  });
});
