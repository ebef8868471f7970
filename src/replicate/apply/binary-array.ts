// text[] bind parameters in PostgreSQL's binary array format: a header, then each element as an int32 length
// (-1 for NULL) and its UTF-8 bytes. pg sends a Buffer parameter as binary, and the server reads it with
// array_recv/textrecv: no escaping here, no array-literal parsing there (both showed up in the apply profile),
// and the bytes are exactly the text the source sent (converted to the server's encoding as text input is).
import type { Value } from '../change.js';

const TEXT_OID = 25;
const HEADER = 20; // ndim, has-null flag, element type, then one dimension: size and lower bound

/** Buffer's own UTF-8 encoder, without write()'s argument checks and encoding lookup (one call per value). */
type Utf8Writing = Buffer & { utf8Write(s: string, offset: number, length: number): number };

function int32(b: Buffer, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/**
 * Column `col` of `rows` as a binary text[] (one element per row, in order). One pass: the buffer is sized for
 * the worst case of short values (3 UTF-8 bytes per UTF-16 unit) and the part written is returned, instead of
 * measuring every string's UTF-8 length first.
 */
export function textArrayColumn(rows: readonly (readonly Value[])[], col: number): Buffer {
  let size = HEADER + 4 * rows.length;
  for (let r = 0; r < rows.length; r++) {
    const v = rows[r]![col];
    // Large values measured exactly: a worst-case reservation of a 1 GB value would not fit in a Buffer.
    if (v !== null && v !== undefined) size += v.length < 4096 ? 3 * v.length : Buffer.byteLength(v, 'utf8');
  }
  const b = Buffer.allocUnsafe(size) as Utf8Writing;
  int32(b, 0, 1);
  int32(b, 8, TEXT_OID);
  int32(b, 12, rows.length);
  int32(b, 16, 1);
  let nulls = 0;
  let at = HEADER;
  for (let r = 0; r < rows.length; r++) {
    const v = rows[r]![col];
    if (v === null || v === undefined) {
      int32(b, at, -1);
      nulls = 1;
      at += 4;
    } else {
      const n = v.length === 0 ? 0 : b.utf8Write(v, at + 4, size - at - 4);
      int32(b, at, n);
      at += 4 + n;
    }
  }
  int32(b, 4, nulls);
  return b.subarray(0, at);
}
