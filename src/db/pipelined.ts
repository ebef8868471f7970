// Several statements in one round trip: Parse/Bind/Execute for each, written in one socket write, then a single
// Sync. Values stay bind parameters. The server runs them in order and stops at the first error (it skips the
// rest up to the Sync), so inside BEGIN … COMMIT a failure leaves the transaction aborted for the caller's
// ROLLBACK, exactly as separate queries would. Used where per-statement round trips add up: a chunk's done mark
// with its COMMIT, an index build with its state row (thousands of tables).
import type { Client } from './connect.js';

export interface Statement {
  text: string;
  /** Bind parameters ($1, $2, …): strings, numbers or null. */
  values?: (string | number | null)[];
}

/** The parts of pg's Connection used here (not in @types/pg): pg internals, written against pg 8.23.1 (pinned by test/integration/pg-internals.test.ts). */
interface PgConnection {
  stream: { cork(): void; uncork(): void };
  parse(q: { text: string; types: number[] }): void;
  bind(q: { values: (string | null)[] }): void;
  execute(q: Record<string, never>): void;
  sync(): void;
}

/** A pg "submittable": pg calls submit() once the connection is free and the handlers as messages arrive. */
class Pipelined {
  private resolve!: () => void;
  private reject!: (e: unknown) => void;
  private failed = false;
  readonly done = new Promise<void>((res, rej) => ((this.resolve = res), (this.reject = rej)));

  constructor(private readonly statements: Statement[]) {}

  submit(connection: PgConnection): void {
    connection.stream.cork();
    try {
      for (const s of this.statements) {
        connection.parse({ text: s.text, types: [] });
        connection.bind({ values: (s.values ?? []).map((v) => (v === null ? null : String(v))) });
        connection.execute({});
      }
      connection.sync();
    } finally {
      connection.stream.uncork();
    }
  }

  /** pg replaces this when query_timeout is set; it must exist. */
  callback(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}

  handleReadyForQuery(): void {
    if (!this.failed) this.resolve();
  }

  handleError(err: unknown): void {
    this.failed = true;
    this.reject(err);
  }
}

/** Run the statements in order in one round trip; rejects with the first error (the rest were not run). */
export async function runPipelined(client: Client, statements: Statement[]): Promise<void> {
  if (statements.length === 0) return;
  const p = new Pipelined(statements);
  void client.query(p as never);
  await p.done;
}
