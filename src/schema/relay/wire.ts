// The PostgreSQL wire protocol, as little of it as the pg_dump relay needs: cutting a byte stream into whole
// messages (the frontend's untyped startup packet first), building the few messages the relay answers itself,
// and reading/writing DataRow fields. Bytes are kept as they came: what passes through is forwarded unchanged.

export interface Message {
  /** Type byte ('Q', 'Z', …); 0 for an untyped startup-phase packet. */
  type: number;
  /** The whole message, header included. */
  bytes: Buffer;
}

export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** Cuts a stream into messages; `untyped` packets (int32 length first) until startupDone() is called. */
export class MessageReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private untyped = false) {}

  startupDone(): void {
    this.untyped = false;
  }

  /** Append bytes; returns the whole messages now available. */
  feed(chunk: Buffer): Message[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Message[] = [];
    for (;;) {
      const m = this.next();
      if (!m) break;
      out.push(m);
      // An untyped packet is followed by typed messages only once the caller says so (after the startup packet).
      if (this.untyped) break;
    }
    return out;
  }

  /** The next whole message, if buffered (one at a time while untyped, so the caller can switch modes). */
  next(): Message | undefined {
    const head = this.untyped ? 4 : 5;
    if (this.buf.length < head) return undefined;
    const len = this.untyped ? this.buf.readUInt32BE(0) : this.buf.readUInt32BE(1) + 1;
    if (len < head - (this.untyped ? 0 : 1) || this.buf.length < len) return undefined;
    const bytes = this.buf.subarray(0, len);
    this.buf = this.buf.subarray(len);
    return { type: this.untyped ? 0 : bytes[0]!, bytes };
  }

  /** Bytes received but not yet part of a whole message. */
  rawPending(): Buffer {
    return this.buf;
  }
}

/** A typed message from its type byte and body. */
export function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const cstring = (s: string) => Buffer.from(`${s}\0`, 'utf8');

export function query(text: string): Buffer {
  return message('Q', cstring(text));
}

export function commandComplete(tag: string): Buffer {
  return message('C', cstring(tag));
}

export function readyForQuery(status: string): Buffer {
  return message('Z', Buffer.from(status, 'latin1'));
}

/** An ErrorResponse as the server would send it (severity, SQLSTATE, message). */
export function errorResponse(severity: 'ERROR' | 'FATAL', code: string, text: string): Buffer {
  return message('E', Buffer.concat([cstring(`S${severity}`), cstring(`V${severity}`), cstring(`C${code}`), cstring(`M${text}`), Buffer.from([0])]));
}

/** The fields of an ErrorResponse/NoticeResponse by their code letter ('M' message, 'C' SQLSTATE, …). */
export function errorFields(e: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 5;
  while (pos < e.length && e[pos] !== 0) {
    const end = e.indexOf(0, pos + 1);
    if (end < 0) break;
    out[String.fromCharCode(e[pos]!)] = e.subarray(pos + 1, end).toString('utf8');
    pos = end + 1;
  }
  return out;
}

/** The NUL-terminated text of a 'Q' message (or a CommandComplete's tag). */
export function textOf(m: Buffer): string {
  const end = m.indexOf(0, 5);
  return m.subarray(5, end < 0 ? m.length : end).toString('utf8');
}

/** Transaction status of a ReadyForQuery: 'I', 'T' or 'E'. */
export function statusOf(z: Buffer): string {
  return String.fromCharCode(z[5]!);
}

/** The authentication request code of an 'R' message (0 ok, 3 cleartext, 5 MD5, 10 SASL, …). */
export function authCode(r: Buffer): number {
  return r.length >= 9 ? r.readUInt32BE(5) : -1;
}

/** The fields of a DataRow, each as its raw bytes (null for SQL NULL). */
export function dataRowFields(d: Buffer): (Buffer | null)[] {
  const n = d.readUInt16BE(5);
  const out: (Buffer | null)[] = [];
  let pos = 7;
  for (let i = 0; i < n; i++) {
    const len = d.readInt32BE(pos);
    pos += 4;
    if (len < 0) out.push(null);
    else {
      out.push(d.subarray(pos, pos + len));
      pos += len;
    }
  }
  return out;
}

/** A DataRow holding these fields, byte for byte as the server encodes one. */
export function dataRow(fields: (Buffer | null)[]): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.alloc(2);
  count.writeUInt16BE(fields.length);
  parts.push(count);
  for (const f of fields) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(f === null ? -1 : f.length);
    parts.push(len);
    if (f) parts.push(f);
  }
  return message('D', Buffer.concat(parts));
}

/** The number of columns a RowDescription describes. */
export function rowDescriptionCount(t: Buffer): number {
  return t.readUInt16BE(5);
}
