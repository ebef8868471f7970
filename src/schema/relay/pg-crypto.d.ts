// node-postgres' SCRAM and MD5 helpers (CommonJS, no types of their own; not pg's public API — written against
// pg 8.23.1, pinned by test/integration/pg-internals.test.ts). Used by the pg_dump relay (auth.ts).
declare module 'pg/lib/crypto/sasl.js' {
  import type { TLSSocket } from 'node:tls';
  export interface ScramSession {
    mechanism: string;
    response: string;
  }
  const sasl: {
    startSession(mechanisms: string[], stream?: TLSSocket): ScramSession;
    continueSession(session: ScramSession, password: string, serverData: string, stream?: TLSSocket): Promise<void>;
    finalizeSession(session: ScramSession, serverData: string): void;
  };
  export default sasl;
}

declare module 'pg/lib/crypto/utils.js' {
  const utils: {
    postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string>;
  };
  export default utils;
}
