// Narrow differing buckets down to rows: both sides stream (key, row hash) of those buckets in the same order
// through server-side cursors and the client merges the two streams, holding two batches at a time. Row values
// never travel: for the first few changed rows, each column's length and md5 are compared, and only values
// shorter than MAX_SHOWN_BYTES are fetched — memory stays bounded whatever the size of a value (up to 1 GB).
import type { TablePair } from './plan.js';
import { CursorReader } from './pool.js';
import type { VerifySession } from './session.js';
import { columnDigestsSql, examplesSql, keyedRowsSql, multisetSql, MAX_SHOWN_BYTES, type RowHashSpec } from './sql.js';
import type { ColumnDifference, RowDifference } from './types.js';
import { formatCount } from '../format.js';

export interface Located {
  differences: RowDifference[];
  missingRows: number;
  extraRows: number;
  differentRows: number;
  truncated: boolean;
}

/** Changed rows whose columns are spelled out (each costs two key lookups). */
const DETAILED_ROWS = 10;
/** Example rows fetched for multiset differences (each kind costs one scan per side). */
const EXAMPLE_ROWS = 10;

/** Byte order of UTF-8, the order of COLLATE "C" (JavaScript's < compares UTF-16 code units, which differs). */
function compareC(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function compareIntegers(x: string, y: string): number {
  const [a, b] = [BigInt(x), BigInt(y)];
  return a < b ? -1 : a > b ? 1 : 0;
}

async function withReaders<R, T>(
  ss: VerifySession,
  ts: VerifySession,
  sqls: [string, string],
  params: unknown[],
  fn: (s: CursorReader<R>, t: CursorReader<R>) => Promise<T>,
): Promise<T> {
  const [s, t] = await Promise.all([CursorReader.open<R>(ss, sqls[0], params), CursorReader.open<R>(ts, sqls[1], params)]);
  try {
    return await fn(s, t);
  } finally {
    await Promise.all([s.close(), t.close()]);
  }
}

interface KeyedRow {
  k: string;
  kv: (string | null)[];
  h: string;
}

export async function locateKeyed(pair: TablePair, hash: RowHashSpec, ss: VerifySession, ts: VerifySession, buckets: string[], max: number): Promise<Located> {
  const key = pair.key!;
  const spec = { columns: key, mode: pair.keyMode };
  // Same order as the SQL's ORDER BY: numeric for an integer key, bytes of the text otherwise.
  const compareKeys = pair.keyMode === 'integer' ? compareIntegers : compareC;
  const out: Located = { differences: [], missingRows: 0, extraRows: 0, differentRows: 0, truncated: false };
  const keyObject = (kv: (string | null)[]) => Object.fromEntries(key.map((c, i) => [c, kv[i] ?? null]));
  const changed: { diff: RowDifference; kv: (string | null)[] }[] = [];
  await withReaders<KeyedRow, void>(
    ss,
    ts,
    [keyedRowsSql(pair.source!, hash, spec), keyedRowsSql(pair.target!, hash, spec)],
    [String(pair.buckets - 1), buckets],
    async (s, t) => {
      let a = await s.next();
      let b = await t.next();
      while (a || b) {
        const cmp = !a ? 1 : !b ? -1 : compareKeys(a.k, b.k);
        const a0 = a;
        let diff: RowDifference | undefined;
        if (cmp < 0) {
          diff = { kind: 'missing', key: keyObject(a!.kv) };
          a = await s.next();
        } else if (cmp > 0) {
          diff = { kind: 'extra', key: keyObject(b!.kv) };
          b = await t.next();
        } else {
          if (a!.h !== b!.h) diff = { kind: 'different', key: keyObject(a!.kv) };
          [a, b] = await Promise.all([s.next(), t.next()]);
        }
        if (!diff) continue;
        // Read to the end: the totals stay exact; only the list is capped.
        if (diff.kind === 'missing') out.missingRows++;
        else if (diff.kind === 'extra') out.extraRows++;
        else out.differentRows++;
        if (out.differences.length >= max) {
          out.truncated = true;
          continue;
        }
        out.differences.push(diff);
        if (diff.kind === 'different' && changed.length < DETAILED_ROWS) changed.push({ diff, kv: a0!.kv });
      }
    },
  );
  // Spell out which columns changed for the first few rows: two index lookups each, digests only.
  for (const { diff, kv } of changed) {
    const [sv, tv] = await Promise.all([
      ss.client.query<Digests>(columnDigestsSql(pair.source!, pair.columns, key), kv),
      ts.client.query<Digests>(columnDigestsSql(pair.target!, pair.columns, key), kv),
    ]);
    const x = sv.rows[0];
    const y = tv.rows[0];
    if (!x || !y) continue;
    const cols: ColumnDifference[] = [];
    pair.columns.forEach((c, j) => {
      if (x.l[j] === y.l[j] && x.m[j] === y.m[j]) return;
      cols.push({ column: c, ...shown('source', x, j), ...shown('target', y, j) } as ColumnDifference);
    });
    diff.columns = cols;
  }
  return out;
}

interface Digests {
  /** Per column: length of its text (bytes), md5 of it, the text itself when short (NULL: SQL NULL or long). */
  l: (string | null)[];
  m: (string | null)[];
  v: (string | null)[];
}

/** A value as shown: itself when short; "<N bytes, md5 …>" (and the numbers apart) when long. */
function shown(side: 'source' | 'target', d: Digests, j: number): Partial<ColumnDifference> {
  const len = d.l[j];
  if (len === null || len === undefined) return { [side]: null };
  if (Number(len) <= MAX_SHOWN_BYTES) return { [side]: d.v[j] ?? null };
  return { [side]: bigValue(Number(len), d.m[j]!), [`${side}Bytes`]: Number(len), [`${side}Md5`]: d.m[j] };
}

const bigValue = (bytes: number, md5: string) => `<${formatCount(bytes)} bytes, md5 ${md5}>`;

interface HashCount {
  h: string;
  n: string;
}

export async function locateMultiset(
  pair: TablePair,
  hash: RowHashSpec,
  ss: VerifySession,
  ts: VerifySession,
  buckets: string[],
  max: number,
): Promise<Located> {
  const out: Located = { differences: [], missingRows: 0, extraRows: 0, differentRows: 0, truncated: false };
  const hashes = new Map<RowDifference, string>();
  await withReaders<HashCount, void>(
    ss,
    ts,
    [multisetSql(pair.source!, hash), multisetSql(pair.target!, hash)],
    [String(pair.buckets - 1), buckets],
    async (s, t) => {
      let a = await s.next();
      let b = await t.next();
      // Read every differing bucket to the end: the totals of missing/extra rows stay exact; only the list is capped.
      while (a || b) {
        const ha = a ? BigInt(a.h) : undefined;
        const hb = b ? BigInt(b.h) : undefined;
        let h: string;
        let delta: number;
        if (hb === undefined || (ha !== undefined && ha < hb)) {
          [h, delta] = [a!.h, Number(a!.n)];
          a = await s.next();
        } else if (ha === undefined || hb < ha) {
          [h, delta] = [b!.h, -Number(b!.n)];
          b = await t.next();
        } else {
          [h, delta] = [a!.h, Number(a!.n) - Number(b!.n)];
          [a, b] = await Promise.all([s.next(), t.next()]);
        }
        if (delta === 0) continue;
        if (delta > 0) out.missingRows += delta;
        else out.extraRows -= delta;
        if (out.differences.length >= max) {
          out.truncated = true;
          continue;
        }
        const d: RowDifference = { kind: delta > 0 ? 'missing' : 'extra', count: Math.abs(delta) };
        out.differences.push(d);
        hashes.set(d, h);
      }
    },
  );
  // A few example rows, from the side that has them: one scan per side.
  for (const kind of ['missing', 'extra'] as const) {
    const picked = out.differences.filter((d) => d.kind === kind).slice(0, EXAMPLE_ROWS);
    if (!picked.length) continue;
    const session = kind === 'missing' ? ss : ts;
    const rel = kind === 'missing' ? pair.source! : pair.target!;
    const { rows } = await session.client.query<{ h: string; l: string; m: string; r: string | null }>(examplesSql(rel, hash), [
      picked.map((d) => hashes.get(d)!),
    ]);
    const byHash = new Map(rows.map((r) => [r.h, r.r ?? bigValue(Number(r.l), r.m)]));
    for (const d of picked) {
      const r = byHash.get(hashes.get(d)!);
      if (r !== undefined) d.row = r;
    }
  }
  return out;
}
