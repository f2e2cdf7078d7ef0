// The NATS contract between the control API and the agents. Subjects carry the namespace,
// so a subscription to one environment never sees another's traffic.
import type { Namespace } from '../store/store.js';

/** Published by the control API after every successful gateway write. */
export interface GatewayChangedEvent {
  gateway: string;
  /** The store version after the write; null for a delete. */
  version: string | null;
  action: 'put' | 'delete';
  /** Name of the token that made the change. */
  by: string;
  at: string;
}

/** One audited write (gateways and tokens). Kept in the WEIR_AUDIT JetStream stream. */
export interface AuditRecord {
  id: string;
  at: string;
  by: string;
  role: string;
  action: string;
  /** `gateway/<org>/<env>/<name>`, `token/<id>` … */
  target: string;
  beforeVersion: string | null;
  afterVersion: string | null;
  requestId: string;
}

/** Published by each agent every heartbeat interval and right after each apply. */
export interface AgentStatusEvent {
  agentId: string;
  namespace: string;
  at: string;
  /** Heartbeat period; the control API marks an agent quiet after 3 missed beats. */
  intervalMs: number;
  ready: boolean;
  haproxyRunning: boolean;
  servingFromCache: boolean;
  storeOk: boolean;
  applied: Array<{ name: string; version: string }>;
  problems: Array<{ name: string | null; version: string | null; errors: string[] }>;
  lastApplyAt: string | null;
  lastError: string | null;
  /**
   * Ports the agent's own listeners hold (virtual-host and monitor frontends, its HTTP server);
   * a gateway there would share them. The control API refuses such gateways. Absent from agents
   * older than this field.
   */
  reservedPorts?: Array<{ port: number; holder: string }>;
}

/**
 * Agent ids may contain `.` (Kubernetes node names), which would split a subject token: the
 * subject carries the id with `.`, `*`, `>` and white space replaced by `_`.
 */
export function agentSubjectToken(agentId: string): string {
  return agentId.replace(/[.*>\s]/g, '_');
}

export const subjects = {
  gatewaysChanged: (ns: Namespace): string => `weir.${ns.org}.${ns.env}.gateways.changed`,
  /** The agent id goes through `agentSubjectToken`; the message body carries the real id. */
  agentStatus: (ns: Namespace, agentId: string): string => `weir.${ns.org}.${ns.env}.agents.${agentSubjectToken(agentId)}.status`,
  /** Wildcard the control API subscribes to. */
  allAgentStatus: 'weir.*.*.agents.*.status',
  audit: (ns: Namespace | null): string => (ns ? `weir.audit.${ns.org}.${ns.env}` : 'weir.audit._system'),
  /**
   * Each agent's closed traffic windows for one gateway (body: metrics/window-report.ts GatewayWindowReport),
   * read back by the window sources (release judge, control API metrics). Gateway names are DNS labels, so
   * they are always one subject token.
   */
  metrics: (ns: Namespace, gateway: string): string => `weir.${ns.org}.${ns.env}.metrics.${gateway}`,
};

export const streams = {
  /** History of gateway changes, per namespace subject. */
  changes: { name: 'WEIR_CHANGES', subjects: ['weir.*.*.gateways.changed'] },
  // Not `weir.audit.>`: that overlaps `weir.*.*.gateways.changed` for an org named "audit",
  // and nats-server refuses overlapping streams.
  audit: { name: 'WEIR_AUDIT', subjects: ['weir.audit.*.*', 'weir.audit._system'] },
  /**
   * Window reports, kept for a short time only (WEIR_METRICS_MAX_AGE, default 2 h): they are for judging
   * and showing recent traffic; history belongs in Elasticsearch. Created by whichever side needs it first
   * (agent or reader) with these defaults; an existing stream is never changed.
   */
  metrics: { name: 'WEIR_METRICS', subjects: ['weir.*.*.metrics.*'], defaultMaxAgeMs: 2 * 3600_000, defaultMaxBytes: 1024 ** 3 },
};
