// Interfaces other parts of Weir plug into the control API: event publishing, agent status
// and audit. The control API depends only on these, never on NATS directly.
import type { Namespace } from '../agent/store/store.js';
import type { AgentStatusEvent, AuditRecord, GatewayChangedEvent } from './events.js';

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
