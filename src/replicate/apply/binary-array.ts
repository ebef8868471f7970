// text[] bind parameters in PostgreSQL's binary array format: a header, then each element as an int32 length
// (-1 for NULL) and its UTF-8 bytes. pg sends a Buffer parameter as binary, and the server reads it with
// array_recv/textrecv: no escaping here, no array-literal parsing there (both showed up in the apply profile),
// and the bytes are exactly the text the source sent (converted to the server's encoding as text input is).
import type { Value } from '../change.js';

const TEXT_OID = 25;
const HEADER = 20; // ndim, has-null flag, element type, then one dimension: size and lower bound

/** Column `col` of `rows` as a binary text[] (one element per row, in order). */
export function textArrayColumn(rows: readonly (readonly Value[])[], col: number): Buffer {
  let size = HEADER + 4 * rows.length;
  let nulls = 0;
  for (let r = 0; r < rows.length; r++) {
    const v = rows[r]![col];
    if (v === null || v === undefined) nulls = 1;
    else size += Buffer.byteLength(v, 'utf8');
  }
  const b = Buffer.allocUnsafe(size);
  b.writeInt32BE(1, 0);
  b.writeInt32BE(nulls, 4);
  b.writeInt32BE(TEXT_OID, 8);
  b.writeInt32BE(rows.length, 12);
  b.writeInt32BE(1, 16);
  let at = HEADER;
  for (let r = 0; r < rows.length; r++) {
    const v = rows[r]![col];
    if (v === null || v === undefined) {
      b.writeInt32BE(-1, at);
      at += 4;
    } else {
      const n = b.write(v, at + 4, 'utf8');
      b.writeInt32BE(n, at);
      at += 4 + n;
    }
  }
  return b;
}
