// The relay authenticates to the source itself, as pgshift's driver connections do (db/credentials.ts): the
// password (URL, PGPASSWORD or the password file) is sent only when the server asks, never in clear — a cleartext
// or MD5 request — over a hop without TLS unless the URL says sslmode=disable, and SCRAM binds to the TLS channel
// (SCRAM-SHA-256-PLUS) where the server offers it. pg_dump, on the private socket, never sees a password request
// and is given no password. SCRAM itself is node-postgres' (pg/lib/crypto: not its public API; written against
// pg 8.23.1, pinned by test/integration/pg-internals.test.ts).
import type { TLSSocket } from 'node:tls';
import sasl, { type ScramSession } from 'pg/lib/crypto/sasl.js';
import pgCrypto from 'pg/lib/crypto/utils.js';
import type { ConnectionSpec } from '../../config.js';
import { passwordFile, resolvePassword } from '../../db/credentials.js';
import { ConnectionError } from '../../errors.js';
import { authCode, message } from './wire.js';

const cstring = (s: string) => Buffer.from(`${s}\0`, 'utf8');

/** What to send the server for one authentication request ('R'), or nothing (AuthenticationOk, SASLFinal). */
export class Authenticator {
  private scram?: ScramSession;
  constructor(
    private readonly spec: ConnectionSpec,
    /** The TLS socket of the source hop, or undefined for plaintext. */
    private readonly tls: TLSSocket | undefined,
  ) {}

  private what(): string {
    return `schema dump (pg_dump): ${this.spec.side} ${this.spec.display}`;
  }

  private password(kind: 'cleartext' | 'md5' | 'sasl'): string {
    if (kind !== 'sasl' && !this.tls && this.spec.sslmode !== 'disable') {
      throw new ConnectionError(
        `${this.what()}: the server asked for a password in clear (${kind === 'md5' ? 'MD5' : 'cleartext'}) over an unencrypted connection; pgshift did not send it`,
        {
          phase: 'schema dump',
          hint:
            'the server (or something between you and it) declined TLS: turn TLS on at the server and use sslmode=require or verify-full; ' +
            'only if the network path is trusted (loopback, an SSH tunnel) add sslmode=disable to the URL to allow it',
        },
      );
    }
    const pw = resolvePassword(this.spec);
    if (pw === undefined) {
      throw new ConnectionError(`${this.what()}: the server asks for a password and no password given (not in the URL, PGPASSWORD or ${passwordFile()})`, {
        phase: 'schema dump',
        hint: `put the password in a password file (${passwordFile()}, mode 0600, a line host:port:database:user:password) or in the source URL`,
      });
    }
    return pw;
  }

  /** The answer to an 'R' message: a PasswordMessage/SASL response, or undefined when none is due. */
  async answer(r: Buffer): Promise<Buffer | undefined> {
    const code = authCode(r);
    const body = r.subarray(9);
    switch (code) {
      case 0: // AuthenticationOk
        return undefined;
      case 3:
        return message('p', cstring(this.password('cleartext')));
      case 5: {
        const pw = this.password('md5');
        return message('p', cstring(await pgCrypto.postgresMd5PasswordHash(this.spec.user, pw, body.subarray(0, 4))));
      }
      case 10: {
        const mechanisms = body
          .toString('utf8')
          .split('\0')
          .filter((s) => s.length);
        this.password('sasl');
        // As pg does with enableChannelBinding over TLS: SCRAM-SHA-256-PLUS when offered.
        this.scram = sasl.startSession(mechanisms, this.tls);
        const response = Buffer.from(this.scram.response, 'utf8');
        const len = Buffer.alloc(4);
        len.writeInt32BE(response.length);
        return message('p', Buffer.concat([cstring(this.scram.mechanism), len, response]));
      }
      case 11: {
        if (!this.scram) throw this.protocol('SASLContinue before SASL');
        await sasl.continueSession(this.scram, this.password('sasl'), body.toString('utf8'), this.tls);
        return message('p', Buffer.from(this.scram.response, 'utf8'));
      }
      case 12:
        if (!this.scram) throw this.protocol('SASLFinal before SASL');
        sasl.finalizeSession(this.scram, body.toString('utf8'));
        return undefined;
      default:
        throw new ConnectionError(`${this.what()}: the server asks for an authentication method pgshift does not support (request ${code})`, {
          phase: 'schema dump',
          hint: 'use password (SCRAM) or certificate authentication for this role, or run with PGSHIFT_PGDUMP_RELAY=off to let pg_dump authenticate itself',
        });
    }
  }

  private protocol(what: string): ConnectionError {
    return new ConnectionError(`${this.what()}: protocol error during authentication (${what})`, {
      phase: 'schema dump',
      hint: 'check that the port is a PostgreSQL server',
    });
  }
}
