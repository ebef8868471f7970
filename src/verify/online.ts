// Online verify (issue #24): exact while the application writes and replication applies. The source is read
// under a snapshot pinned to a position, the target under a snapshot the running applier exported right when it
// had applied exactly up to that position (src/replicate/apply/points.ts; the rows: src/state/migrations/008-verify-point.ts):
//   pgoutput: the applier first stops applying (held); then a TEMPORARY logical slot is created here on a
//             replication connection with SNAPSHOT 'export': its consistent point P is where the source snapshot
//             stands (every transaction whose commit record starts before P is in it). P is posted; the applier
//             applies everything committed before P, none after, and answers with its target snapshot.
//             The temporary slot lives only as long as this process's replication connection: it is gone as soon
//             as the source snapshot is imported, and with the process if it is killed.
//   triggers: the applier's next batch reads one source snapshot; it keeps it importable and answers with it and
//             the target snapshot exported after that batch's commit.
// Both snapshots are imported by the verify's catalog sessions and exported again for its workers; then the
// applier is told (imported_at) and ends the transactions that kept them.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { ConnectionSpec } from '../config.js';
import { connect, connectReplication, type Client } from '../db/connect.js';
import { quoteIdent } from '../db/ident.js';
import { classifyError, PgshiftError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { importSnapshot, type VerifySession } from './session.js';
import { assertStateTrusted } from '../state/trust.js';
import type { OnlineReport, TargetState } from './types.js';

/** How long a request stays valid for the applier (it ignores it afterwards). */
const REQUEST_TTL_S = 60;
/** How long verify waits for each answer of the applier. */
const ANSWER_TIMEOUT_MS = 30_000;

export type Capture = 'pgoutput' | 'triggers';

/** A replication running on this target: its state is present and a run holds the target's run lock. */
export function runningReplication(state: TargetState): Capture | null {
  return state.kind === 'replication' && state.copyDone && state.running !== null ? state.capture : null;
}

export interface AlignedSnapshots {
  source: string;
  target: string;
  online: OnlineReport;
  /** After the comparison: a verify that passed makes this point the baseline (baseline.ts). */
  finish(passed: boolean): Promise<void>;
  close(): Promise<void>;
}

async function waitRow(ctl: Client, id: string, column: 'held_at' | 'reached_at', what: string): Promise<Record<string, unknown>> {
  const until = Date.now() + ANSWER_TIMEOUT_MS;
  for (;;) {
    const { rows } = await ctl.query(`SELECT * , (${column} IS NOT NULL) AS ok FROM pgshift.verify_point WHERE id = $1`, [id]);
    const r = rows[0];
    if (r?.failed) {
      throw new PgshiftError(`online verify: the running replicate could not ${what}: ${r.failed}`, {
        phase: 'verify online',
        hint: 'run the verify again; if it keeps failing, verify with writes frozen: pgshift verify --offline',
      });
    }
    if (r?.ok) return r;
    if (Date.now() > until) {
      throw new PgshiftError(`online verify: the running replicate did not ${what} within ${ANSWER_TIMEOUT_MS / 1000} s; nothing was compared`, {
        phase: 'verify online',
        hint: 'check that pgshift replicate is applying (its status lines); a replicate started by an older pgshift must be restarted (Ctrl-C, then the same command) to answer online verify; or freeze writes and run pgshift verify --offline',
      });
    }
    await new Promise((res) => setTimeout(res, 10));
  }
}

/** The verify's temporary slot: its consistent point and exported snapshot, on a connection that must stay idle. */
async function temporarySlot(conn: pg.Client): Promise<{ point: string; snapshot: string }> {
  try {
    const { rows: v } = await conn.query(`SHOW server_version_num`);
    const name = quoteIdent(`pgshift_verify_${process.pid}_${randomBytes(3).toString('hex')}`);
    // TEMPORARY: dropped by the server when this session ends, however it ends (kill -9 included).
    const sql =
      Number(v[0].server_version_num) >= 150000
        ? `CREATE_REPLICATION_SLOT ${name} TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')`
        : `CREATE_REPLICATION_SLOT ${name} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT`;
    const { rows } = await conn.query(sql);
    return { point: rows[0].consistent_point, snapshot: rows[0].snapshot_name };
  } catch (err) {
    await conn.end().catch(() => undefined);
    throw err;
  }
}

/** Import `name` on the catalog session and export it again for the workers (the original holder can then go). */
async function adopt(s: VerifySession, name: string): Promise<string> {
  await importSnapshot(s, name);
  const { rows } = await s.client.query(`SELECT pg_catalog.pg_export_snapshot() AS id`);
  return rows[0].id;
}

/** Pin the source to a position and have the running applier export the target exactly there. */
export async function alignSnapshots(
  source: ConnectionSpec,
  target: ConnectionSpec,
  sc: VerifySession,
  tc: VerifySession,
  capture: Capture,
  logger?: Logger,
): Promise<AlignedSnapshots> {
  const started = Date.now();
  const ctl = await connect(target, { applicationName: 'pgshift verify point', phase: 'verify online' });
  let id: string | null = null;
  let slot: pg.Client | undefined;
  const close = async () => {
    await slot?.end().catch(() => undefined);
    await ctl.end().catch(() => undefined);
  };
  try {
    const { rows: t } = await ctl.query(`SELECT to_regclass('pgshift.verify_point') IS NOT NULL AS ok`);
    if (!t[0].ok) {
      throw new UsageError('online verify: the replication running on this target was started by a pgshift without online verify; nothing was compared', {
        phase: 'verify online',
        hint: 'restart it with this pgshift (Ctrl-C, then the same replicate command; it resumes), or freeze writes and run pgshift verify --offline',
      });
    }
    // What the applier answers there (snapshot names, positions) is acted on: only from a state no one else can write.
    await assertStateTrusted(ctl, 'the target');
    const { rows } = await ctl.query(
      `INSERT INTO pgshift.verify_point (capture, expires_at) VALUES ($1, now() + make_interval(secs => $2)) RETURNING id::text AS id`,
      [capture, REQUEST_TTL_S],
    );
    id = rows[0].id as string;
    let sourceSnapshot: string;
    if (capture === 'pgoutput') {
      slot = await connectReplication(source, 'pgshift verify slot').catch((err: unknown) => {
        throw classifyError(err, `source ${source.display}: replication connection for the online verify`, { phase: 'verify online' });
      });
    }
    let answer: Record<string, unknown>;
    if (capture === 'pgoutput') {
      await waitRow(ctl, id, 'held_at', 'stop applying for the verify');
      // The applier waits from here: only the slot's creation, no connection set-up.
      const s = await temporarySlot(slot!).catch((err: unknown) => {
        throw classifyError(err, `source ${source.display}: creating the online verify's temporary slot`, {
          phase: 'verify online',
          hint: 'the role needs REPLICATION (as for pgshift replicate); a long-running transaction on the source delays the slot: end it, or freeze writes and run pgshift verify --offline',
        });
      });
      await ctl.query(`UPDATE pgshift.verify_point SET position = $2 WHERE id = $1`, [id, s.point]);
      // While the applier applies up to the point: the snapshot is taken over by our catalog session, and the
      // temporary slot goes at once (it retains WAL).
      sourceSnapshot = await adopt(sc, s.snapshot);
      await slot!.end().catch(() => undefined);
      slot = undefined;
      answer = await waitRow(ctl, id, 'reached_at', `stop at the point ${s.point}`);
    } else {
      answer = await waitRow(ctl, id, 'reached_at', 'end a batch at a source snapshot for the verify');
      sourceSnapshot = await adopt(sc, String(answer.source_snapshot));
    }
    const targetSnapshot = await adopt(tc, String(answer.target_snapshot));
    await ctl.query(`UPDATE pgshift.verify_point SET imported_at = clock_timestamp() WHERE id = $1`, [id]);
    const online: OnlineReport = {
      capture,
      point: id,
      position: String(answer.position),
      appliedPosition: String(answer.applied_position),
      pauseMs: Number(answer.pause_ms),
      heldMs: answer.held_ms === null ? null : Number(answer.held_ms),
      alignMs: Date.now() - started,
      lagAfterSeconds: null,
      sequences: 'synced at the finish',
    };
    logger?.info(online, `verify: online at ${online.position} (apply paused ${online.pauseMs} ms)`);
    const pointId = id;
    return {
      source: sourceSnapshot,
      target: targetSnapshot,
      online,
      finish: async (passed: boolean) => {
        online.lagAfterSeconds = await lagSeconds(ctl, capture).catch(() => null);
        if (passed) await ctl.query(`UPDATE pgshift.verify_point SET passed_at = clock_timestamp() WHERE id = $1`, [pointId]);
      },
      close,
    };
  } catch (err) {
    if (id !== null)
      await ctl.query(`UPDATE pgshift.verify_point SET failed = 'the verify stopped' WHERE id = $1 AND failed IS NULL`, [id]).catch(() => undefined);
    await close();
    throw err;
  }
}

/** How far the applier is behind now (the time of the last source commit it applied). */
async function lagSeconds(ctl: Client, capture: Capture): Promise<number | null> {
  const table = capture === 'pgoutput' ? 'pgshift.replication' : 'pgshift.capture';
  const { rows } = await ctl.query(`SELECT extract(epoch FROM clock_timestamp() - applied_commit_time)::float8 AS s FROM ${table} WHERE id = 1`);
  const s = rows[0]?.s;
  return s === null || s === undefined ? null : Math.max(0, Number(Number(s).toFixed(3)));
}

/**
 * Objects the running replication switched off on the target (pgshift.replication_switch): disabled user
 * triggers, dropped foreign keys, identity columns set BY DEFAULT. Keys as the schema comparison names them.
 */
export async function switchedOff(target: Client): Promise<Set<string>> {
  const { rows } = await target.query(
    `SELECT s.kind, n.nspname AS sch, c.relname AS rel, s.name FROM pgshift.replication_switch s
       JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(s.tbl) JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`,
  );
  const out = new Set<string>();
  for (const r of rows) {
    if (r.kind === 'trigger') out.add(`trigger\u0000${r.name} on ${r.sch}.${r.rel}`);
    else if (r.kind === 'foreign-key') out.add(`constraint\u0000${r.name} on ${r.sch}.${r.rel}`);
    else if (r.kind === 'identity') out.add(`column\u0000${r.sch}.${r.rel}.${r.name}`);
  }
  return out;
}
