// What the agents last said about themselves, from their heartbeats on
// `weir.<org>.<env>.agents.<id>.status`. One core subscription on the wildcard; the nats client
// re-subscribes it after every reconnect (test/integration/nats-events-agent.test.ts checks).
// Memory is bounded: agents silent for `forgetAfterMs` are dropped, and at most `maxAgents`
// are kept (the least recently heard go first).
import type { Subscription } from 'nats';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';
import type { NatsConnector } from '../events/nats-connection.js';

export { agentSubjectToken };
import { namespaceKey, type Namespace } from '../store/store.js';
import { agentSubjectToken, subjects, type AgentStatusEvent } from '../events/contract.js';
import type { AgentStatusSource, AgentStatusView } from './seams.js';
import { currentInstances, describeDuplicate, instanceKey, type DuplicateAgent, type HeardInstance } from './agent-instances.js';

/** lastSeenAt is the control API's clock (when it heard the agent), not the agent's. */
export type AgentView = AgentStatusView;
export type { AgentStatusSource };

export interface NatsAgentStatusSourceOptions {
  /** Only `onUp` and `start` are used, so tests can hand in a fake. */
  connector: Pick<NatsConnector, 'onUp' | 'start'>;
  logger?: Logger;
  /** Missed beats before an agent counts as quiet. */
  quietAfterBeats?: number;
  forgetAfterMs?: number;
  maxAgents?: number;
  now?: () => number;
}

type Seen = HeardInstance;

export class NatsAgentStatusSource implements AgentStatusSource {
  private readonly log: Logger;
  private readonly byKey = new Map<string, Seen>();
  private readonly quietBeats: number;
  private readonly forgetAfterMs: number;
  private readonly maxAgents: number;
  private readonly now: () => number;
  private sub: Subscription | undefined;
  private readonly offUp: () => void;
  private readonly pruneTimer: NodeJS.Timeout;
  private rejected = 0;

  constructor(opts: NatsAgentStatusSourceOptions) {
    this.log = opts.logger ?? silentLogger();
    this.quietBeats = opts.quietAfterBeats ?? 3;
    this.forgetAfterMs = opts.forgetAfterMs ?? 3600_000;
    this.maxAgents = opts.maxAgents ?? 10_000;
    this.now = opts.now ?? Date.now;
    // Subscribe once per connection object; reconnects keep the subscription.
    this.offUp = opts.connector.onUp((nc) => {
      if (this.sub && !this.sub.isClosed()) return;
      this.sub = nc.subscribe(subjects.allAgentStatus, { callback: (err, msg) => (err ? this.log.warn({ err: err.message }, 'agent status subscription error') : this.receive(msg.subject, msg.data)) });
    });
    opts.connector.start();
    this.pruneTimer = setInterval(() => this.prune(), 60_000);
    this.pruneTimer.unref();
  }

  /**
   * Latest status of every agent of `ns` heard within the last hour, sorted by agent id. [guards]
   * Two live processes reporting one id are listed separately, each with `duplicate: true`.
   */
  agents(ns: Namespace | string): AgentView[] {
    return this.view(ns).agents;
  }

  /** [guards] Agent ids that more than one live process reports. */
  duplicates(ns: Namespace | string): DuplicateAgent[] {
    return this.view(ns).duplicates;
  }

  private view(ns: Namespace | string): { agents: AgentView[]; duplicates: DuplicateAgent[] } {
    this.prune();
    const key = typeof ns === 'string' ? ns : namespaceKey(ns);
    const now = this.now();
    const quiet = (s: Seen): boolean => now - s.receivedAt > this.quietBeats * s.event.intervalMs;
    const byId = new Map<string, Seen[]>();
    for (const s of this.byKey.values()) if (s.event.namespace === key) byId.set(s.event.agentId, [...(byId.get(s.event.agentId) ?? []), s]);
    const agents: AgentView[] = [];
    const duplicates: DuplicateAgent[] = [];
    for (const [agentId, heard] of byId) {
      const { shown, duplicate } = currentInstances(heard, quiet);
      if (duplicate) duplicates.push(describeDuplicate(agentId, shown));
      for (const s of shown) agents.push({ ...s.event, lastSeenAt: new Date(s.receivedAt).toISOString(), quiet: quiet(s), ...(duplicate ? { duplicate: true } : {}) });
    }
    agents.sort((a, b) => a.agentId.localeCompare(b.agentId) || (a.instance?.startedAt ?? '').localeCompare(b.instance?.startedAt ?? ''));
    return { agents, duplicates: duplicates.sort((a, b) => a.agentId.localeCompare(b.agentId)) };
  }

  /** Status messages dropped because they were malformed or did not match their subject. */
  rejectedCount(): number {
    return this.rejected;
  }

  close(): void {
    clearInterval(this.pruneTimer);
    this.offUp();
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  /** Also the entry point for tests that feed events without a server. */
  receive(subject: string, data: Uint8Array): void {
    let ev: unknown;
    try {
      ev = JSON.parse(new TextDecoder().decode(data));
    } catch {
      this.reject(subject, 'not JSON');
      return;
    }
    if (!isAgentStatusEvent(ev)) return this.reject(subject, 'not an AgentStatusEvent');
    const [, org, env, , token] = subject.split('.');
    // The subject is authoritative for the namespace (NATS permissions are per subject).
    if (`${org}/${env}` !== ev.namespace || token !== agentSubjectToken(ev.agentId)) return this.reject(subject, 'namespace or agent id does not match the subject');
    const key = `${ev.namespace}\u0000${ev.agentId}\u0000${instanceKey(ev)}`;
    const firstAt = this.byKey.get(key)?.firstAt ?? this.now();
    this.byKey.delete(key); // re-insert: Map order becomes least-recently-heard first
    this.byKey.set(key, { event: ev, firstAt, receivedAt: this.now() });
    if (this.byKey.size > this.maxAgents) {
      const oldest = this.byKey.keys().next().value;
      if (oldest !== undefined) this.byKey.delete(oldest);
    }
  }

  private reject(subject: string, why: string): void {
    this.rejected += 1;
    this.log.debug({ subject, why }, 'agent status ignored');
  }

  private prune(): void {
    const cutoff = this.now() - this.forgetAfterMs;
    for (const [k, s] of this.byKey) if (s.receivedAt < cutoff) this.byKey.delete(k);
  }
}

export function isAgentStatusEvent(v: unknown): v is AgentStatusEvent {
  const o = v as Partial<AgentStatusEvent> | null;
  return (
    !!o &&
    typeof o === 'object' &&
    typeof o.agentId === 'string' &&
    o.agentId.length > 0 &&
    typeof o.namespace === 'string' &&
    typeof o.at === 'string' &&
    typeof o.intervalMs === 'number' &&
    o.intervalMs > 0 &&
    typeof o.ready === 'boolean' &&
    typeof o.haproxyRunning === 'boolean' &&
    typeof o.servingFromCache === 'boolean' &&
    typeof o.storeOk === 'boolean' &&
    Array.isArray(o.applied) &&
    o.applied.every((a) => typeof a?.name === 'string' && typeof a.version === 'string') &&
    Array.isArray(o.problems) &&
    (o.lastApplyAt === null || typeof o.lastApplyAt === 'string') &&
    (o.lastError === null || typeof o.lastError === 'string') &&
    (o.reservedPorts === undefined || (Array.isArray(o.reservedPorts) && o.reservedPorts.every((r) => Number.isInteger(r?.port) && typeof r.holder === 'string'))) &&
    (o.instance === undefined || (typeof o.instance?.id === 'string' && o.instance.id.length > 0 && o.instance.id.length <= 64 && Number.isInteger(o.instance.pid) && typeof o.instance.host === 'string' && typeof o.instance.startedAt === 'string')) &&
    (o.massRemoval === undefined || o.massRemoval === null || (typeof o.massRemoval === 'object' && Array.isArray(o.massRemoval.removing) && typeof o.massRemoval.message === 'string')) &&
    (o.warnings === undefined || (Array.isArray(o.warnings) && o.warnings.every((w) => typeof w?.source === 'string' && typeof w.message === 'string')))
  );
}
