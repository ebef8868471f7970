// Round trips per side and phase: over a link with 40 ms of round trip, their count — not bytes — is what a
// copy of thousands of small tables pays for. Every query or COPY start a connection from connect() sends is one
// (a multi-statement simple query and a pipelined batch are one each); a connection's opening is counted apart
// (TCP, TLS and authentication cost 2–4 round trips each). pg_dump's own round trips are not seen here.
// One process runs one command: the counts are module state, read once at the end.

export type Side = 'source' | 'target';

export interface RoundTripCounts {
  /** Round trips per phase. */
  source: Record<string, number>;
  target: Record<string, number>;
  /** Connections opened per side (each costs a few round trips of its own). */
  connections: Record<Side, number>;
}

let currentPhase = 'preflight';
const counts: Record<Side, Map<string, number>> = { source: new Map(), target: new Map() };
const connections: Record<Side, number> = { source: 0, target: 0 };

/** Phase that round trips on connections without a pinned phase are charged to from now on. */
export function setRoundTripPhase(phase: string): void {
  currentPhase = phase;
}

export function roundTripPhase(): string {
  return currentPhase;
}

/** One round trip on `side`, charged to `phase` (the connection's pinned phase) or else the current one. */
export function countRoundTrip(side: Side, phase?: string): void {
  const m = counts[side];
  const p = phase ?? currentPhase;
  m.set(p, (m.get(p) ?? 0) + 1);
}

export function countConnection(side: Side): void {
  connections[side]++;
}

export function roundTripCounts(): RoundTripCounts {
  return { source: Object.fromEntries(counts.source), target: Object.fromEntries(counts.target), connections: { ...connections } };
}

/** What was counted after `before` was read (a command run inside another one's process counts only its own). */
export function roundTripsSince(before: RoundTripCounts): RoundTripCounts {
  const now = roundTripCounts();
  const diff = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(Object.entries(a).flatMap(([k, v]) => (v - (b[k] ?? 0) > 0 ? [[k, v - (b[k] ?? 0)]] : [])));
  return {
    source: diff(now.source, before.source),
    target: diff(now.target, before.target),
    connections: { source: now.connections.source - before.connections.source, target: now.connections.target - before.connections.target },
  };
}

/** Total round trips on a side (all phases). */
export function totalRoundTrips(c: RoundTripCounts, side: Side): number {
  return Object.values(c[side]).reduce((a, b) => a + b, 0);
}

/** For tests that run several commands in one process. */
export function resetRoundTrips(): void {
  counts.source.clear();
  counts.target.clear();
  connections.source = 0;
  connections.target = 0;
  currentPhase = 'preflight';
}
