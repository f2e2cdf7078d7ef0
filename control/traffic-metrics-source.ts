// Traffic metrics for the control API, from the same window aggregates the release controller judges
// (metrics/window-source.ts): NATS on `make up`, Elasticsearch `weir-metrics-*` in production. Vamp's metrics
// and health endpoints in one call, computed on demand.
//
// The span is on the agents' window grid and ends at the last window every agent has closed and published
// (now − grace − a second): `?window=60s` is the last six 10-second windows. A series (`&step=10s`) has
// steps on the step grid (a multiple of the window), oldest first, the last one complete. Definitions are
// the windows': requests and errors (HTTP 5xx; TCP connection and response errors) are HAProxy's exact
// counts; response times are Ta (Tt for TCP) from the log lines, which may be sampled (`latency_samples`
// says how many); health = 1 − error_ratio; rate = requests / seconds covered.
import type { RouteAggregate, SeriesPoint, TrafficSeriesSource } from '../metrics/window-source.js';
import { MetricsUnavailableError } from '../metrics/window-source.js';
import {
  TrafficMetricsQueryError,
  TrafficMetricsUnavailableError,
  type TrafficMetricsQuery,
  type TrafficMetricsReply,
  type TrafficMetricsResult,
  type TrafficMetricsSource,
  type TrafficPoint,
  type TrafficSeriesQuery,
  type TrafficSeriesReply,
  type TrafficSeriesResult,
  type TrafficStats,
} from './seams.js';

/** Windows close 2 s after their end and are published right after: read up to a second later still. */
const SETTLE_MS = 3000;
/** A series longer than this is refused (400): the console asks for minutes to hours at 10 s. */
export const MAX_STEPS = 1000;

const round = (n: number): number => Math.round(n * 1000) / 1000;
const ms = (s: number | null): number | null => (s === null ? null : round(s * 1000));

export function toStats(a: RouteAggregate): TrafficStats {
  return {
    requests: a.requests,
    rate_per_s: round(a.rate),
    response_time_ms: { p50: ms(a.p50), p95: ms(a.p95), p99: ms(a.p99), avg: ms(a.mean ?? null) },
    errors_5xx: a.errors,
    error_ratio: round(a.errorRate),
    health: round(a.health),
    latency_samples: a.latencySamples,
  };
}

export function idleStats(): TrafficStats {
  return { requests: 0, rate_per_s: 0, response_time_ms: { p50: null, p95: null, p99: null, avg: null }, errors_5xx: 0, error_ratio: 0, health: 1, latency_samples: 0 };
}

const point = (p: SeriesPoint): TrafficPoint => ({ t: p.start.toISOString(), ...toStats(p) });

export interface WindowTrafficMetricsOptions {
  now?: () => number;
}

/** The control API's seam over a window source: aligns the span, maps aggregates to the API's figures. */
export class WindowTrafficMetrics implements TrafficMetricsSource {
  constructor(
    readonly source: TrafficSeriesSource,
    private readonly opts: WindowTrafficMetricsOptions = {},
  ) {}

  /** The agents' window; the API's spans are whole windows. */
  get windowSeconds(): number {
    return this.source.windowSeconds;
  }

  private lastClosedEnd(gridMs: number): number {
    const now = this.opts.now?.() ?? Date.now();
    return Math.floor((now - SETTLE_MS) / gridMs) * gridMs;
  }

  async query(q: TrafficMetricsQuery): Promise<TrafficMetricsResult> {
    const w = this.windowSeconds;
    const windowSeconds = Math.ceil(q.windowSeconds / w) * w;
    const to = this.lastClosedEnd(w * 1000);
    const agg = await this.call(() => this.source.aggregate({ ns: q.ns, gateway: q.gateway, from: new Date(to - windowSeconds * 1000), to: new Date(to) }));
    const one = q.route !== undefined ? agg.routes[q.route] : undefined;
    const total = q.route !== undefined ? (one ? toStats(one) : idleStats()) : agg.total ? toStats(agg.total) : idleStats();
    return {
      from: agg.from.toISOString(),
      to: agg.to.toISOString(),
      windowSeconds,
      total,
      ...(q.route === undefined ? { perRoute: Object.values(agg.routes).map((r) => ({ route: r.route, ...toStats(r) })) } : {}),
      agents: agg.agents,
      source: this.source.kind,
    };
  }

  async series(q: TrafficSeriesQuery): Promise<TrafficSeriesResult> {
    const w = this.windowSeconds;
    if (q.stepSeconds % w !== 0) throw new TrafficMetricsQueryError('invalid_step', `step ${q.stepSeconds}s: use a multiple of the agents' ${w}s window`);
    const steps = Math.ceil(q.windowSeconds / q.stepSeconds);
    if (steps > MAX_STEPS) throw new TrafficMetricsQueryError('invalid_step', `window ${q.windowSeconds}s at step ${q.stepSeconds}s is ${steps} steps; at most ${MAX_STEPS}: use a larger step`);
    const to = this.lastClosedEnd(q.stepSeconds * 1000);
    const from = to - steps * q.stepSeconds * 1000;
    const s = await this.call(() => this.source.series({ ns: q.ns, gateway: q.gateway, from: new Date(from), to: new Date(to), stepSeconds: q.stepSeconds }));
    const emptyPoints = (): TrafficPoint[] => s.total.map((p) => ({ t: p.start.toISOString(), ...idleStats() }));
    const total = q.route !== undefined ? (s.routes[q.route]?.map(point) ?? emptyPoints()) : s.total.map(point);
    return {
      from: s.from.toISOString(),
      to: s.to.toISOString(),
      windowSeconds: steps * q.stepSeconds,
      stepSeconds: q.stepSeconds,
      total,
      ...(q.route === undefined ? { perRoute: Object.entries(s.routes).map(([route, pts]) => ({ route, points: pts.map(point) })) } : {}),
      agents: s.agents.map((a) => ({ t: a.start.toISOString(), agents: a.agents })),
      source: this.source.kind,
    };
  }

  close(): Promise<void> {
    return this.source.close();
  }

  private async call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof MetricsUnavailableError) throw new TrafficMetricsUnavailableError(err.message);
      throw err;
    }
  }
}

/** Every route of the stored definition (idle ones as zeros), then routes only the windows know (removed lately). */
function definedFirst<T extends { route: string }>(seen: T[], defined: string[] | null, idle: (route: string) => T): T[] {
  const byName = new Map(seen.map((x) => [x.route, x]));
  const names = [...(defined ?? []), ...[...byName.keys()].filter((n) => !(defined ?? []).includes(n)).sort()];
  return names.map((n) => byName.get(n) ?? idle(n));
}

export function metricsReply(r: TrafficMetricsResult, gateway: string, route: string | undefined, defined: string[] | null): TrafficMetricsReply {
  const body: TrafficMetricsReply = { gateway, ...(route !== undefined ? { route } : {}), window_s: r.windowSeconds, from: r.from, to: r.to, ...r.total, agents: r.agents, source: r.source };
  if (route === undefined) body.per_route = definedFirst(r.perRoute ?? [], defined, (n) => ({ route: n, ...idleStats() }));
  return body;
}

export function seriesReply(r: TrafficSeriesResult, gateway: string, route: string | undefined, defined: string[] | null): TrafficSeriesReply {
  const body: TrafficSeriesReply = { gateway, ...(route !== undefined ? { route } : {}), window_s: r.windowSeconds, step_s: r.stepSeconds, from: r.from, to: r.to, total: r.total, agents: r.agents, source: r.source };
  if (route === undefined) body.per_route = definedFirst(r.perRoute ?? [], defined, (n) => ({ route: n, points: r.total.map((p) => ({ t: p.t, ...idleStats() })) }));
  return body;
}
