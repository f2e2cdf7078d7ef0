// Interfaces other parts of Weir plug into the control API: event publishing, agent status
// and audit. The control API depends only on these, never on NATS directly.
import type { Namespace } from '../store/store.js';
import type { AgentStatusEvent, AuditRecord, GatewayChangedEvent } from '../events/contract.js';

/**
 * Tells agents a gateway changed. Implementations must be quick (an outbox): the control API
 * awaits the call for at most a few seconds, and a failure never fails the write that caused it.
 */
export interface ChangePublisher {
  publishGatewayChanged(ns: Namespace, ev: GatewayChangedEvent): Promise<void>;
}

/** One agent as last heard from. `quiet`: no heartbeat for 3 intervals. */
export type AgentStatusView = AgentStatusEvent & { quiet: boolean; lastSeenAt: string };

/** The agents of one environment, as collected from their status events. */
export interface AgentStatusSource {
  agents(ns: Namespace): AgentStatusView[];
}

/** Where audited writes go. `ns` is null for writes outside a namespace (tokens). */
export interface AuditSink {
  record(ns: Namespace | null, rec: AuditRecord): Promise<void>;
}

/** What a publisher can report back so failures show up in the control API's /metrics. */
export interface PublishErrorReporter {
  publishError(kind: string): void;
}

/**
 * One gateway's (or route's) traffic over a window or a step, from the agents' window aggregates
 * (metrics/window-source.ts): exact counts from HAProxy's counters, latency from the (sampled) log lines.
 */
export interface TrafficStats {
  requests: number;
  /** requests / seconds covered (Vamp's `rate`). */
  rate_per_s: number;
  /** Null when no request in the span was timed. */
  response_time_ms: { p50: number | null; p95: number | null; p99: number | null; avg: number | null };
  errors_5xx: number;
  error_ratio: number;
  /** 1 − error_ratio, as in the agents' `weir-metrics-*` documents. */
  health: number;
  /** How many requests the response times come from (fewer than `requests` when log lines are sampled). */
  latency_samples: number;
}

/** The JSON body of `GET …/gateways/{g}[/routes/{r}]/metrics`: shared by the server, the CLI and tests. */
export interface TrafficMetricsReply extends TrafficStats {
  gateway: string;
  route?: string;
  /** The span asked for, rounded up to whole windows. */
  window_s: number;
  /** The span of the windows that answered (`from`..`to` of the closed windows found). */
  from: string;
  to: string;
  /** Gateway queries only: every defined route (idle ones as zeros), then routes only the windows know. */
  per_route?: Array<{ route: string } & TrafficStats>;
  /** Agents that reported at least one window in the span, with how many: a missing agent is not zero traffic. */
  agents: Array<{ id: string; windows: number }>;
  source: string;
}

/** One step of a series. */
export type TrafficPoint = { t: string } & TrafficStats;

/** `GET …/metrics?window=15m&step=10s`: per step, for the gateway (or route) and each route. */
export interface TrafficSeriesReply {
  gateway: string;
  route?: string;
  window_s: number;
  step_s: number;
  from: string;
  to: string;
  /** The gateway's (or the route's) points, one per step, oldest first. */
  total: TrafficPoint[];
  /** Gateway queries only: every defined route, then routes only the windows know; same steps as `total`. */
  per_route?: Array<{ route: string; points: TrafficPoint[] }>;
  /** Per step, the agents that reported in it. */
  agents: Array<{ t: string; agents: string[] }>;
  source: string;
}

export interface TrafficMetricsQuery {
  ns: Namespace;
  gateway: string;
  /** Only this route; absent = the whole gateway, split per route too. */
  route?: string;
  windowSeconds: number;
}

export interface TrafficSeriesQuery extends TrafficMetricsQuery {
  stepSeconds: number;
}

export interface TrafficMetricsResult {
  /** The span the answering windows cover. */
  from: string;
  to: string;
  /** The span asked for, in whole windows. */
  windowSeconds: number;
  total: TrafficStats;
  /** Per route seen in the span (gateway queries only). */
  perRoute?: Array<{ route: string } & TrafficStats>;
  agents: Array<{ id: string; windows: number }>;
  /** Where the numbers come from: "nats" or "elasticsearch". */
  source: string;
}

export interface TrafficSeriesResult {
  from: string;
  to: string;
  windowSeconds: number;
  stepSeconds: number;
  total: TrafficPoint[];
  perRoute?: Array<{ route: string; points: TrafficPoint[] }>;
  agents: Array<{ t: string; agents: string[] }>;
  source: string;
}

/** Reads traffic metrics for the control API's metrics endpoints. */
export interface TrafficMetricsSource {
  /** Throws `TrafficMetricsUnavailableError` when the backend cannot answer. */
  query(q: TrafficMetricsQuery): Promise<TrafficMetricsResult>;
  /** Throws `TrafficMetricsUnavailableError` like `query`, `TrafficMetricsQueryError` for a step it cannot serve. */
  series(q: TrafficSeriesQuery): Promise<TrafficSeriesResult>;
  close(): Promise<void>;
}

/** A query the source cannot answer as asked (a step that is not a multiple of the window): the API answers 400. */
export class TrafficMetricsQueryError extends Error {
  override readonly name = 'TrafficMetricsQueryError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The metrics backend is down, refused the query or is misconfigured: the API answers 503. */
export class TrafficMetricsUnavailableError extends Error {
  override readonly name = 'TrafficMetricsUnavailableError';
}
