// A replication run's control connections: to the target (holding the run lock) and to the source. A run lasts
// hours; either server may restart under it. The target's run lock ends with its connection, so a run that went
// on without it would let a second run or a cleanup work beside it (issue #21): the lock is re-taken whenever
// the connection is re-opened, and a run that cannot re-take it stops. The finish re-opens what was lost rather
// than fail after everything was applied.
import type { ConnectionSpec } from '../config.js';
import { connect, type Client } from '../db/connect.js';
import { acquireRunLock, runApplicationName } from '../db/lock.js';
import type { Logger } from '../log.js';

export class Control {
  // One re-open at a time per side: the status sampler and the applier's (re)connection may both find the
  // connection lost at once; the second waits for the first instead of racing it for the run lock.
  private reopeningTarget?: Promise<Client>;
  private reopeningSource?: Promise<Client>;

  private constructor(
    /** The target as every connection of this run opens it (writeThroughFreeze when its database defaults to read-only). */
    readonly target: ConnectionSpec,
    private readonly source: ConnectionSpec,
    private ctl: Client,
    private src: Client,
    private readonly logger: Logger,
  ) {}

  /** Both connections, the target's run lock taken (refused at once if another run holds it). */
  static async open(target: ConnectionSpec, source: ConnectionSpec, logger: Logger): Promise<Control> {
    const ctl = await connect(target, { applicationName: runApplicationName('replicate') });
    try {
      await acquireRunLock(ctl, { command: 'replicate', side: 'target', display: target.display });
      // A target whose database defaults to read-only is the old side of a cutover that pgshift keeps read-only for
      // the application while the reverse stream applies into it: pgshift's sessions there write through it.
      const { rows } = await ctl.query(`SELECT current_setting('default_transaction_read_only') = 'on' AS ro`);
      if (rows[0].ro && !target.writeThroughFreeze) {
        await ctl.query(`SET default_transaction_read_only = off`);
        target = { ...target, writeThroughFreeze: true };
      }
      const src = await connect(source, { applicationName: 'pgshift replicate control' });
      return new Control(target, source, ctl, src, logger);
    } catch (err) {
      await ctl.end().catch(() => undefined);
      throw err;
    }
  }

  /** The target control connection as it is (for the steps before streaming, which fail on any loss). */
  get targetClient(): Client {
    return this.ctl;
  }

  get sourceClient(): Client {
    return this.src;
  }

  /**
   * The target connection, re-opened if it was lost, with the run lock held again. Throws (exit 2) if another
   * run took the target meanwhile; a connection error if the target is still unreachable (the caller retries).
   */
  holdTarget(): Promise<Client> {
    this.reopeningTarget ??= this.reopenTarget().finally(() => (this.reopeningTarget = undefined));
    return this.reopeningTarget;
  }

  private async reopenTarget(): Promise<Client> {
    if (await alive(this.ctl)) return this.ctl;
    // Not waited for: the end of a connection that is already gone must not hold up the run.
    void this.ctl.end().catch(() => undefined);
    const ctl = await connect(this.target, { applicationName: runApplicationName('replicate') });
    try {
      // Our own applier may hold the apply lock right now: only the run lock is taken again.
      await acquireRunLock(ctl, { command: 'replicate', side: 'target', display: this.target.display, ownApplier: true });
    } catch (err) {
      await ctl.end().catch(() => undefined);
      throw err;
    }
    this.ctl = ctl;
    this.logger.warn(`replicate: the control connection to the target ${this.target.display} was lost; reconnected and took the run lock again`);
    return ctl;
  }

  /** The source control connection, re-opened if it was lost. */
  holdSource(): Promise<Client> {
    this.reopeningSource ??= this.reopenSource().finally(() => (this.reopeningSource = undefined));
    return this.reopeningSource;
  }

  private async reopenSource(): Promise<Client> {
    if (await alive(this.src)) return this.src;
    void this.src.end().catch(() => undefined);
    this.src = await connect(this.source, { applicationName: 'pgshift replicate control' });
    return this.src;
  }

  async end(): Promise<void> {
    await Promise.all([this.src.end().catch(() => undefined), this.ctl.end().catch(() => undefined)]);
  }
}

async function alive(c: Client): Promise<boolean> {
  try {
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
