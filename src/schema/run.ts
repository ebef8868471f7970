// Running pg_dump / pg_restore: connection through libpq environment variables (the password never reaches a
// command line or `ps`), stderr captured and redacted for the error message.
import { spawn } from 'node:child_process';
import type { ConnectionSpec } from '../config.js';
import { libpqTlsEnv, resolvePassword } from '../db/credentials.js';
import { ConnectionError, PgshiftError } from '../errors.js';
import { redact } from '../redact.js';

export function libpqEnv(spec: ConnectionSpec): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('PG')) delete env[k];
  Object.assign(env, {
    PGHOST: spec.host,
    PGPORT: String(spec.port),
    PGDATABASE: spec.database,
    PGUSER: spec.user,
    PGAPPNAME: 'pgshift',
    PGCONNECT_TIMEOUT: String(spec.connectTimeout),
  });
  // The password the driver would send (URL, PGPASSWORD or the password file), so both follow one lookup.
  const password = resolvePassword(spec);
  if (password !== undefined) env.PGPASSWORD = password;
  // sslmode, root certificate and password rules as for the driver's connections (db/credentials.ts).
  Object.assign(env, libpqTlsEnv(spec));
  return env;
}

export interface ToolRun {
  stdout: Buffer;
  stderr: string;
}

/** Variables set over (and dropped from) the connection's environment: the pg_dump relay's. */
export interface EnvOverride {
  env: Record<string, string>;
  unset: string[];
}

/** Run a PostgreSQL client tool; resolves with its output, rejects with a PgshiftError naming the phase. */
export function runTool(binary: string, args: string[], spec: ConnectionSpec, phase: string, signal?: AbortSignal, over?: EnvOverride): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const env = libpqEnv(spec);
    for (const k of over?.unset ?? []) delete env[k];
    Object.assign(env, over?.env);
    const child = spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'], signal });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new PgshiftError(`${phase}: could not run ${binary}: ${err.message}`, { phase, cause: err })));
    child.on('close', (code) => {
      if (code === 0) return resolve({ stdout: Buffer.concat(out), stderr });
      const tail = redact(stderr.trim().split('\n').slice(-6).join('\n'));
      const tool = binary.split('/').pop();
      // libpq tools report connection failures only as text; the SQLSTATE is not available here.
      const isConnection =
        /connection to server|password authentication failed|could not connect|no pg_hba\.conf entry|does not exist/i.test(tail) && !/ERROR:/.test(tail);
      const Err = isConnection ? ConnectionError : PgshiftError;
      reject(new Err(`${phase}: ${tool} failed (exit ${code}):\n${tail}`, { phase, hint: `fix the cause above, then re-run with --resume` }));
    });
  });
}
