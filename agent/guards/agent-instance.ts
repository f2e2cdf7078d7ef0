// Who this agent process is, beyond its agent id: two processes started with one id (a copied
// manifest, a node name reused) would otherwise merge into one status at the control API.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

export interface AgentInstance {
  /** Random per process start. */
  id: string;
  pid: number;
  host: string;
  startedAt: string;
}

export function agentInstance(): AgentInstance {
  return { id: randomBytes(8).toString('hex'), pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
}
