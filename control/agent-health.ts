// One word for an agent's state, shared by `GET …/agents` and the event stream.
import type { AgentStatusView } from './seams.js';

export type AgentHealth = 'ok' | 'degraded' | 'quiet';

export function agentHealth(a: AgentStatusView): AgentHealth {
  if (a.quiet) return 'quiet';
  return a.ready && a.haproxyRunning && a.storeOk && !a.servingFromCache && a.lastError === null && !a.massRemoval && !a.duplicate ? 'ok' : 'degraded';
}
