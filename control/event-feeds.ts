// Event feeds that need no NATS: the store's own watch (file store: chokidar; NATS KV: its
// watch; Vault has none and is covered by the clients' polling) and the agent status source.
import type { Namespace } from '../store/store.js';
import type { GatewayStore } from '../store/store.js';
import { agentHealth } from './agent-health.js';
import type { CloseFeed, EmitEvent, EventFeed } from './event-hub.js';
import type { AgentStatusSource, AgentStatusView } from './seams.js';

/** Gateway changes the store reports, with the gateway's name when the store knows it. */
export function storeWatchFeed(store: Pick<GatewayStore, 'watch'>): EventFeed {
  return {
    name: 'store',
    async open(ns: Namespace, emit: EmitEvent): Promise<CloseFeed> {
      const stop = await store.watch(ns, (_reason, hint) => {
        emit({ type: 'gateway', gateway: hint?.name ?? null, ...(hint && hint.version !== undefined ? { version: hint.version } : {}), at: new Date().toISOString(), via: 'store' });
      });
      return stop;
    },
  };
}

/** What of an agent's status the console shows; a heartbeat that changes none of it is not an event. */
function digest(a: AgentStatusView): string {
  return JSON.stringify([agentHealth(a), a.applied, a.problems, a.lastError, a.servingFromCache, a.storeOk, a.ready, a.haproxyRunning]);
}

/**
 * Agent status changes: the source is an in-memory view of the heartbeats, compared every
 * `intervalMs` so an agent falling quiet (no message at all) is an event too.
 */
export function agentStatusFeed(source: AgentStatusSource, intervalMs = 500): EventFeed {
  return {
    name: 'agents',
    async open(ns: Namespace, emit: EmitEvent): Promise<CloseFeed> {
      let last = new Map<string, string>(source.agents(ns).map((a) => [a.agentId, digest(a)]));
      const timer = setInterval(() => {
        const now = new Map<string, string>();
        const at = new Date().toISOString();
        for (const a of source.agents(ns)) {
          const d = digest(a);
          now.set(a.agentId, d);
          if (last.get(a.agentId) !== d) emit({ type: 'agent', agentId: a.agentId, health: agentHealth(a), at });
        }
        for (const id of last.keys()) if (!now.has(id)) emit({ type: 'agent', agentId: id, health: 'gone', at });
        last = now;
      }, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
