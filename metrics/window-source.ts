// The contract between what agents measure per route and who judges it (the release controller)
// or shows it (the control API's metrics endpoints, the console). Agents close one aggregate per
// gateway, route and window (10 s by default) and publish it (NATS in the embedded default,
// Elasticsearch `weir-metrics-*` in production); a source reads them back and pools them over
// every agent of the namespace. Counts add; latency pools through a fixed-bucket histogram, so
// percentiles of any span (one tick, a whole step, the run so far) come from the merged buckets.
import type { Namespace } from '../store/store.js';

export interface WindowQuery {
  ns: Namespace;
  gateway: string;
  /** Inclusive start; windows that started before it are not counted. */
  from: Date;
  /** Exclusive end; windows that end after it are not counted. */
  to: Date;
}

/** One route's traffic over the query's span, pooled over every agent that reported. */
export interface RouteAggregate {
  route: string;
  /** Requests (HTTP) or sessions (TCP) that ended in the span: exact counts. */
  requests: number;
  /** HTTP 5xx, or TCP sessions the server side ended abnormally. */
  errors: number;
  /** errors / requests; 0 when there were no requests (callers check `requests`). */
  errorRate: number;
  /** requests per second over the span actually covered. */
  rate: number;
  /** Latency percentiles in seconds from the pooled histogram; null when no request was timed. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** Mean latency in seconds over the timed requests; null when none was timed. (Both sources fill it.) */
  mean?: number | null;
  /** 1 − errorRate (Vamp's `health`, as a ratio). */
  health: number;
  /** How many requests the percentiles come from (fewer than `requests` when lines are sampled). */
  latencySamples: number;
  /**
   * 95 % confidence intervals of p50/p95/p99 in seconds (order-statistic ranks of the pooled
   * histogram; the Elasticsearch source reads them from a grid of percentiles, rounded outward);
   * null when no request was timed.
   */
  latencyBounds: LatencyBounds | null;
}

/** z of the two-sided 95 % intervals of the latency percentiles. */
export const LATENCY_BOUND_Z = 1.96;
export type LatencyBounds = Record<'p50' | 'p95' | 'p99', [number, number]>;

export interface WindowAggregates {
  /** The span the returned windows cover, on the window grid. */
  from: Date;
  to: Date;
  windowSeconds: number;
  routes: Record<string, RouteAggregate>;
  /** Every route pooled (route "*"): the gateway's own figures. (Both sources fill it.) */
  total?: RouteAggregate;
  /** Agents that contributed at least one window in the span, with how many windows each. */
  agents: Array<{ id: string; windows: number }>;
}

export interface SeriesQuery extends WindowQuery {
  /** Step of the series, a multiple of the agents' window. */
  stepSeconds: number;
}

/** One route over one step: the same figures as a RouteAggregate, `rate` over the step. */
export type SeriesPoint = RouteAggregate & { start: Date };

export interface WindowSeries {
  from: Date;
  to: Date;
  stepSeconds: number;
  windowSeconds: number;
  /** Per route seen in the span, one point per step from `from` (steps without windows are zeros). */
  routes: Record<string, SeriesPoint[]>;
  /** Every route pooled (route "*"), one point per step. */
  total: SeriesPoint[];
  /** Per step, the agents that reported at least one window in it. */
  agents: Array<{ start: Date; agents: string[] }>;
}

/** The metrics backend could not answer (unreachable, query refused): never "no traffic". */
export class MetricsUnavailableError extends Error {
  override readonly name = 'MetricsUnavailableError';
  constructor(
    readonly source: string,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(`metrics source ${source} unavailable: ${message}`);
  }
}

export interface TrafficWindowSource {
  readonly kind: 'nats' | 'elasticsearch';
  /** Human-readable location with no secrets in it. */
  readonly location: string;
  /** Throws MetricsUnavailableError when the backend cannot answer. */
  aggregate(q: WindowQuery): Promise<WindowAggregates>;
  close(): Promise<void>;
}

/** The aggregates as both sources answer them: with the gateway's own figures. */
export type PooledAggregates = WindowAggregates & { total: RouteAggregate };

/** What the NATS and Elasticsearch sources offer on top: the window size and series (the control API, the console). */
export interface TrafficSeriesSource extends TrafficWindowSource {
  aggregate(q: WindowQuery): Promise<PooledAggregates>;
  /** The agents' window (WEIR_TELEMETRY_WINDOW_S): spans are whole windows. */
  readonly windowSeconds: number;
  /** The same per step (the console's charts). Throws MetricsUnavailableError like `aggregate`. */
  series(q: SeriesQuery): Promise<WindowSeries>;
}
