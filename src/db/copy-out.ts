// COPY … TO STDOUT streamed through sinks, without leaving the connection wedged. pg-copy-streams pauses the
// socket while it forwards COPY data; when a sink fails (the target of a source→target pipe died, a digest threw,
// an abort signal), pipeline() destroys the COPY stream, but the server goes on sending and nobody reads: every
// later query on that connection (ROLLBACK included) waits forever. A replication loop then hangs without an
// error, printing its lag (CI, the target restarted under a running trigger capture). So a failure that is not the
// COPY's own ends the connection: its transaction ends with it, and the caller's retry reconnects.
import { pipeline } from 'node:stream/promises';
import { to as copyTo, type CopyToStreamQuery } from 'pg-copy-streams';
import { errorSide } from '../errors.js';
import { abandon, specOf, type Client } from './connect.js';

export async function copyOut(client: Client, sql: string, sinks: NodeJS.WritableStream[], signal?: AbortSignal): Promise<CopyToStreamQuery> {
  const out = client.query(copyTo(sql));
  try {
    await pipeline([out, ...sinks], signal ? { signal } : {});
    return out;
  } catch (err) {
    // The COPY's own failure (an ErrorResponse from this server) leaves the connection usable; anything else does not.
    const side = specOf(client)?.side;
    if (side === undefined || errorSide(err)?.side !== side) abandon(client);
    throw err;
  }
}
