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

/** Kinds of transition in a release run's history; every one is published as a ReleaseEvent. */
export const RELEASE_TRANSITION_KINDS = [
  'created',
  'step-started',
  'step-passed',
  'paused',
  'resumed',
  'approved',
  'promoted',
  'succeeded',
  'failed',
  'aborted',
  'rolled-back',
  'retried',
] as const;
export type ReleaseTransitionKind = (typeof RELEASE_TRANSITION_KINDS)[number];
export type ReleasePhase = 'Pending' | 'Progressing' | 'Paused' | 'Succeeded' | 'Failed' | 'Aborted';

/**
 * Published on `weir.<org>.<env>.releases.<gateway>` for every transition of a release run (by
 * the API for operator actions, by the controller for everything else), after the run record
 * was written. The record (GET …/releases/{id}) stays the durable, complete history.
 */
export interface ReleaseEvent {
  runId: string;
  namespace: string;
  gateway: string;
  kind: ReleaseTransitionKind;
  /** Phase before and after the transition. */
  from: ReleasePhase;
  phase: ReleasePhase;
  step: { index: number; name: string; count: number; weights: { source: number; target: number } };
  attempt: number;
  source: string;
  target: string;
  policy: { name: string; version: number | null; hash: string };
  /** Who caused it: a token (`name (id)`), `release-controller`, a hook. */
  actor: string;
  reason: string;
  /** Current pause reasons (empty unless Paused). */
  pauseReasons: Array<{ reason: string; since: string; detail: string }>;
  outcome: { result: 'Succeeded' | 'Failed' | 'Aborted'; reason: string } | null;
  at: string;
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
  /** Release transitions of one gateway's runs. */
  releases: (ns: Namespace, gateway: string): string => `weir.${ns.org}.${ns.env}.releases.${gateway}`,
  /** Wildcard for every release of a namespace (the console streams these). */
  namespaceReleases: (ns: Namespace): string => `weir.${ns.org}.${ns.env}.releases.*`,
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
  /** Release transitions, replayable for a while (the run record holds the full history). */
  releases: { name: 'WEIR_RELEASES', subjects: ['weir.*.*.releases.*'], maxAgeSeconds: 7 * 24 * 3600 },
  audit: { name: 'WEIR_AUDIT', subjects: ['weir.audit.*.*', 'weir.audit._system'] },
  /**
   * Window reports, kept for a short time only (WEIR_METRICS_MAX_AGE, default 2 h): they are for judging
   * and showing recent traffic; history belongs in Elasticsearch. Created by whichever side needs it first
   * (agent or reader) with these defaults; an existing stream is never changed.
   */
  metrics: { name: 'WEIR_METRICS', subjects: ['weir.*.*.metrics.*'], defaultMaxAgeMs: 2 * 3600_000, defaultMaxBytes: 1024 ** 3 },
};
