// pg_dump (up to 17) reads each sequence's parameters with its own query, one round trip per sequence:
//   SELECT format_type(seqtypid, NULL), seqstart, seqincrement, seqmax, seqmin, seqcache, seqcycle
//     FROM pg_catalog.pg_sequence WHERE seqrelid = '16386'::oid
// On the first such query the relay also reads every sequence's row with the same select list (in pg_dump's own
// session: same transaction, same snapshot) and answers the later ones from those rows, byte for byte what the
// server sends: its RowDescription and CommandComplete as captured from the real first reply, each DataRow the
// server's own field bytes. The first reply is also the check: the row built for it must equal the real one.
import { dataRow, dataRowFields, rowDescriptionCount, type Message } from './wire.js';

const PER_SEQUENCE = /^SELECT ((?:(?!\bFROM\b)[^;'"])+) FROM pg_catalog\.pg_sequence WHERE seqrelid = '(\d+)'::oid$/;

/** The sequence oid when `text` is pg_dump's per-sequence query, and the batch query that reads them all. */
export function perSequenceQuery(text: string): { oid: string; batch: string } | undefined {
  const m = PER_SEQUENCE.exec(text);
  if (!m) return undefined;
  return { oid: m[2]!, batch: `SELECT seqrelid, ${m[1]} FROM pg_catalog.pg_sequence` };
}

/** The server's answer to one per-sequence query, as the relay replays it. */
export class SequenceCache {
  private rows = new Map<string, Buffer>();
  private head?: Buffer;
  private tail?: Buffer[];

  /**
   * Built from the real first reply (RowDescription, one DataRow, CommandComplete, ReadyForQuery) and the batch
   * reply's messages; undefined when either is not the expected shape or the check on the first row fails.
   */
  static build(firstOid: string, first: Message[], batch: Message[]): SequenceCache | undefined {
    const t = String.fromCharCode;
    if (first.map((m) => t(m.type)).join('') !== 'TDCZ') return undefined;
    const [desc, row, done, ready] = first as [Message, Message, Message, Message];
    const columns = rowDescriptionCount(desc.bytes);
    const batchDesc = batch.find((m) => m.type === 0x54);
    if (!batchDesc || rowDescriptionCount(batchDesc.bytes) !== columns + 1) return undefined;
    if (batch.some((m) => m.type === 0x45 /* E */)) return undefined;
    const cache = new SequenceCache();
    for (const m of batch) {
      if (m.type !== 0x44 /* D */) continue;
      const fields = dataRowFields(m.bytes);
      const oid = fields[0];
      if (!oid) return undefined;
      cache.rows.set(oid.toString('latin1'), dataRow(fields.slice(1)));
    }
    if (!cache.rows.get(firstOid)?.equals(row.bytes)) return undefined;
    cache.head = desc.bytes;
    cache.tail = [done.bytes, ready.bytes];
    return cache;
  }

  /** The reply the server would send for this sequence, or undefined (then the query goes to the server). */
  reply(oid: string): Buffer | undefined {
    const row = this.rows.get(oid);
    return row && this.head && this.tail ? Buffer.concat([this.head, row, ...this.tail]) : undefined;
  }

  get size(): number {
    return this.rows.size;
  }
}
