// Several heartbeats under one agent id: a restart (the old process stops, a new one starts) or
// two processes sharing an id (a copied manifest, a reused node name). A restart replaces the
// old status; two live processes are both shown and flagged, never merged into one status.
import type { AgentStatusEvent } from '../events/contract.js';

export interface HeardInstance {
  event: AgentStatusEvent;
  /** When the control API first and last heard this process (its own clock). */
  firstAt: number;
  receivedAt: number;
}

export interface DuplicateAgent {
  agentId: string;
  instances: Array<{ id: string | null; pid: number | null; host: string | null; startedAt: string | null; lastSeenAt: string }>;
  message: string;
}

/** The instance key of a status event: agents older than the `instance` field count as one instance. */
export const instanceKey = (ev: AgentStatusEvent): string => ev.instance?.id ?? '';

/**
 * The instances of one agent id worth showing. An instance first heard after another's last
 * message replaced it (a restart); among the rest, live ones hide quiet ones; when all are quiet,
 * only the latest is kept. More than one live instance is a duplicate id.
 */
export function currentInstances(heard: HeardInstance[], isQuiet: (h: HeardInstance) => boolean): { shown: HeardInstance[]; duplicate: boolean } {
  const kept = heard.filter((x) => !heard.some((y) => y !== x && y.firstAt > x.receivedAt));
  const live = kept.filter((h) => !isQuiet(h));
  if (live.length > 0) return { shown: live, duplicate: live.length > 1 };
  const latest = kept.reduce<HeardInstance | null>((a, b) => (a === null || b.receivedAt > a.receivedAt ? b : a), null);
  return { shown: latest ? [latest] : [], duplicate: false };
}

export function describeDuplicate(agentId: string, shown: HeardInstance[]): DuplicateAgent {
  const byStart = [...shown].sort((a, b) => (a.event.instance?.startedAt ?? '').localeCompare(b.event.instance?.startedAt ?? ''));
  const instances = byStart.map((h) => ({
    id: h.event.instance?.id ?? null,
    pid: h.event.instance?.pid ?? null,
    host: h.event.instance?.host ?? null,
    startedAt: h.event.instance?.startedAt ?? null,
    lastSeenAt: new Date(h.receivedAt).toISOString(),
  }));
  const where = instances.map((i) => `pid ${i.pid ?? '?'} on ${i.host ?? '?'} (started ${i.startedAt ?? '?'})`).join(', ');
  return {
    agentId,
    instances,
    message: `${instances.length} agent processes report the agent id "${agentId}": ${where}; give each its own WEIR_AGENT_ID (their statuses are listed separately, not merged)`,
  };
}
