// --metrics-port: Prometheus metrics (prom-client) and a health endpoint, so a multi-day replication can be
// watched in Grafana. /healthz answers 200 while the applier runs and its last status sample is fresh. Bound to
// 127.0.0.1 unless --metrics-host widens it: no one else on the network needs to read them.
import { createServer, type Server } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import type { LagSample } from './lag.js';

export class Metrics {
  readonly registry = new Registry();
  private readonly g: Record<string, Gauge>;
  private last?: LagSample;
  private server?: Server;
  healthy = true;

  constructor() {
    const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [this.registry] });
    this.g = {
      lagBytes: gauge('pgshift_replication_lag_bytes', 'Source WAL position minus the position applied on the target, in bytes'),
      lagSeconds: gauge('pgshift_replication_lag_seconds', 'Seconds since the commit of the last applied source transaction (0 when nothing is pending)'),
      applied: gauge('pgshift_replication_applied_position', 'Position (LSN as a number) applied on the target'),
      sourcePos: gauge('pgshift_replication_source_position', 'Current WAL position of the source (LSN as a number)'),
      tx: gauge('pgshift_replication_transactions_applied', 'Source transactions applied since this run started'),
      changes: gauge('pgshift_replication_changes_applied', 'Row changes applied since this run started'),
      txRate: gauge('pgshift_replication_transactions_per_second', 'Source transactions applied per second (last interval)'),
      changeRate: gauge('pgshift_replication_changes_per_second', 'Row changes applied per second (last interval)'),
      retained: gauge('pgshift_replication_slot_retained_bytes', 'WAL the replication slot keeps on the source, in bytes'),
      caughtUp: gauge('pgshift_replication_caught_up', '1 once every change up to the source position was applied'),
    };
  }

  update(s: LagSample, caughtUp: boolean): void {
    this.last = s;
    this.g.lagBytes!.set(s.lagBytes);
    this.g.lagSeconds!.set(s.lagSeconds);
    this.g.applied!.set(Number(s.appliedPosition));
    this.g.sourcePos!.set(Number(s.sourcePosition));
    this.g.tx!.set(s.transactions);
    this.g.changes!.set(s.changes);
    this.g.txRate!.set(s.transactionsPerSecond);
    this.g.changeRate!.set(s.changesPerSecond);
    if (s.retainedBytes !== null) this.g.retained!.set(s.retainedBytes);
    this.g.caughtUp!.set(caughtUp ? 1 : 0);
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    this.server = createServer((req, res) => {
      if (req.url === '/metrics') {
        this.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
          (err) => res.writeHead(500).end(String(err)),
        );
      } else if (req.url === '/healthz') {
        const fresh = this.last !== undefined && Date.now() - this.last.at.getTime() < 60_000;
        const ok = this.healthy && fresh;
        res
          .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok, lagBytes: this.last?.lagBytes ?? null, lagSeconds: this.last?.lagSeconds ?? null, at: this.last?.at ?? null }));
      } else res.writeHead(404).end('see /metrics and /healthz\n');
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : port;
  }

  async close(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    await new Promise<void>((resolve) => {
      srv.close(() => resolve());
      srv.closeAllConnections();
    });
  }
}
