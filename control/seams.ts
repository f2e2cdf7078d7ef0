// Interfaces other parts of Weir plug into the control API: event publishing, agent status
// and audit. The control API depends only on these, never on NATS directly.
import type { Namespace } from '../store/store.js';
import type { AgentStatusEvent, AuditRecord, CertificateChangedEvent, GatewayChangedEvent } from '../events/contract.js';

/**
 * Tells agents a gateway changed. Implementations must be quick (an outbox): the control API
 * awaits the call for at most a few seconds, and a failure never fails the write that caused it.
 */
export interface ChangePublisher {
  publishGatewayChanged(ns: Namespace, ev: GatewayChangedEvent): Promise<void>;
  /** [edge] A certificate was written or deleted: agents rotate it without waiting for a poll. */
  publishCertificateChanged?(ns: Namespace, ev: CertificateChangedEvent): Promise<void>;
}

/** One agent as last heard from. `quiet`: no heartbeat for 3 intervals. */
export type AgentStatusView = AgentStatusEvent & { quiet: boolean; lastSeenAt: string; /** [guards] another live process reports the same agent id */ duplicate?: boolean };

/** The agents of one environment, as collected from their status events. */
export interface AgentStatusSource {
  agents(ns: Namespace): AgentStatusView[];
  /** [guards] Agent ids that more than one live process reports (each is listed by `agents`). */
  duplicates?(ns: Namespace): Array<{ agentId: string; instances: unknown[]; message: string }>;
}

/** Where audited writes go. `ns` is null for writes outside a namespace (tokens). */
export interface AuditSink {
  record(ns: Namespace | null, rec: AuditRecord): Promise<void>;
}

/** What a publisher can report back so failures show up in the control API's /metrics. */
export interface PublishErrorReporter {
  publishError(kind: string): void;
}

/** One gateway's (or route's) traffic over a window, as computed from the request logs. */
export interface TrafficStats {
  requests: number;
  /** requests / window seconds (Vamp's `rate`). */
  rate_per_s: number;
  /** Null when the window has no timed request. */
  response_time_ms: { p50: number | null; p95: number | null; p99: number | null; avg: number | null };
  errors_5xx: number;
  error_ratio: number;
  /** 1 − error_ratio, as in the agent's `weir-metrics-*` documents. */
  health: number;
}

/** The JSON body of `GET …/gateways/{g}[/routes/{r}]/metrics`: shared by the server, the CLI and tests. */
export interface TrafficMetricsReply extends TrafficStats {
  gateway: string;
  route?: string;
  window_s: number;
  from: string;
  to: string;
  /** Gateway queries only: every defined route (idle ones as zeros), then routes only the logs know. */
  per_route?: Array<{ route: string } & TrafficStats>;
  source: string;
}

export interface TrafficMetricsQuery {
  ns: Namespace;
  gateway: string;
  /** Only this route; absent = the whole gateway, split per route too. */
  route?: string;
  windowSeconds: number;
}

export interface TrafficMetricsResult {
  /** The window as the source evaluated it. */
  from: string;
  to: string;
  total: TrafficStats;
  /** Per route seen in the window (gateway queries only). */
  perRoute?: Array<{ route: string } & TrafficStats>;
  /** Where the numbers come from, e.g. "elasticsearch". */
  source: string;
}

/** Reads traffic metrics for the control API's metrics endpoints. */
export interface TrafficMetricsSource {
  /** Throws `TrafficMetricsUnavailableError` when the backend cannot answer. */
  query(q: TrafficMetricsQuery): Promise<TrafficMetricsResult>;
  close(): Promise<void>;
}

/** The metrics backend is down, refused the query or is misconfigured: the API answers 503. */
export class TrafficMetricsUnavailableError extends Error {
  override readonly name = 'TrafficMetricsUnavailableError';
}
