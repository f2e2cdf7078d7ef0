// End-to-end harness: the control API as `control/nats-main.ts` runs it (runControlWithNats)
// and agents as `weir agent` runs them (launchAgent: agent + HTTP + NATS link), all in this
// process but talking only through their real interfaces: HTTP to the API and to each agent's
// /status and /metrics, NATS between them, and the store (file or the Vault double).
// Each agent gets its own loopback bind address (127.0.0.2, .3 …), state dir and HTTP port.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { AgentStatus } from '../../agent/agent.js';
import { createLogger, silentLogger } from '../../runtime/log.js';
import { resolveSettings } from '../../agent/settings.js';
import { launchAgent, type RunningAgent } from '../../cli/agent-command.js';
import type { RunningControl } from '../../control/main.js';
import { runControlWithNats } from '../../control/nats-main.js';
import { runControlWithReleases } from '../../cli/control-command.js';
import { haproxyBin } from './haproxy-bin.js';
import { get } from './http.js';
import { freePort } from './ports.js';
import { tempDir, waitFor } from './tmp.js';

export const adminTokenValue = (): string => `weir_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;

/** Runs registered clean-ups in reverse order; every one runs even when others fail. */
export class Cleanup {
  private readonly fns: Array<() => Promise<unknown> | unknown> = [];
  add(fn: () => Promise<unknown> | unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    while (this.fns.length > 0) {
      const fn = this.fns.pop() as () => Promise<unknown>;
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`cleanup: ${(err as Error).message}\n`);
      }
    }
  }
}

export async function scratch(cleanup: Cleanup, prefix = 'weir-e2e-'): Promise<string> {
  const d = await tempDir(prefix);
  cleanup.add(() => d.remove());
  return d.path;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface E2EControl {
  base: string;
  adminToken: string;
  running: RunningControl;
  api(method: string, path: string, opts?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<Reply>;
  close(): Promise<void>;
}

/** `env` on top of: WEIR_STORE=<store>, a free 127.0.0.1 port, its own state dir, a preset admin token. */
/** `releases: true` runs it as `weir control` does, with the release controller in the process. */
export async function startE2EControl(opts: { store: string; natsUrl?: string; stateDir: string; env?: Record<string, string>; releases?: boolean }): Promise<E2EControl> {
  const port = await freePort();
  const adminToken = adminTokenValue();
  const env: NodeJS.ProcessEnv = {
    WEIR_STORE: opts.store,
    WEIR_CONTROL_ADDR: `127.0.0.1:${port}`,
    WEIR_CONTROL_STATE_DIR: opts.stateDir,
    WEIR_ADMIN_TOKEN: adminToken,
    WEIR_LOG_LEVEL: process.env.WEIR_TEST_LOGS ? 'debug' : 'silent',
    ...(opts.natsUrl ? { WEIR_NATS_URL: opts.natsUrl } : {}),
    ...opts.env,
  };
  const running = opts.releases ? await runControlWithReleases(env) : await runControlWithNats(env);
  const base = `http://127.0.0.1:${port}`;
  let closed = false;
  return {
    base,
    adminToken,
    running,
    api: (method, path, o = {}) => api(base, method, path, o.token === undefined ? adminToken : o.token, o.body, o.headers),
    close: async () => {
      if (closed) return;
      closed = true;
      await running.close();
    },
  };
}

export async function api(base: string, method: string, path: string, token: string | null, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...extraHeaders };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    headers['content-type'] = typeof body === 'string' ? 'application/yaml' : 'application/json';
  }
  const res = await fetch(base + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const gwPath = (org: string, env: string, name?: string, rest = ''): string => `/api/v1/namespaces/${org}/${env}/gateways${name ? `/${name}` : ''}${rest}`;

/** A gateway body for the API: one route per entry, each with one upstream on 127.0.0.1. */
export function gatewayBody(port: number, routes: Record<string, { weight: number; target: number }>): Record<string, unknown> {
  return { port, routes: Object.fromEntries(Object.entries(routes).map(([n, r]) => [n, { weight: r.weight, targets: [`127.0.0.1:${r.target}`] }])) };
}

export interface E2EAgent {
  id: string;
  bind: string;
  httpPort: number;
  stateDir: string;
  running: RunningAgent;
  /** GET /status over HTTP. */
  status(): Promise<AgentStatus>;
  /** GET /metrics over HTTP. */
  metrics(): Promise<string>;
  applied(name: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

export interface E2EAgentOptions {
  id: string;
  bind: string;
  store: string;
  stateDir: string;
  namespace?: string;
  natsUrl?: string;
  pollIntervalMs?: number;
  heartbeatIntervalMs?: number;
  env?: Record<string, string>;
}

/** The settings env of one agent (what `weir agent` would get). */
export function agentEnv(o: E2EAgentOptions): Record<string, string> {
  return {
    WEIR_STORE: o.store,
    WEIR_NAMESPACE: o.namespace ?? 'default/default',
    WEIR_STATE_DIR: o.stateDir,
    WEIR_HTTP_ADDR: '127.0.0.1:0',
    WEIR_BIND_ADDRESS: o.bind,
    WEIR_HAPROXY_BIN: haproxyBin(),
    WEIR_VHOST_PORT: '0',
    WEIR_MONITOR_PORT: '0',
    WEIR_RELOAD_MIN_INTERVAL_MS: '200',
    WEIR_DEBOUNCE_MS: '5',
    WEIR_POLL_INTERVAL_MS: String(o.pollIntervalMs ?? 60_000),
    WEIR_HEARTBEAT_INTERVAL_MS: String(o.heartbeatIntervalMs ?? 1000),
    WEIR_HARD_STOP_AFTER: '3s',
    WEIR_AGENT_ID: o.id,
    WEIR_TELEMETRY: 'off',
    ...(o.natsUrl ? { WEIR_NATS_URL: o.natsUrl } : {}),
    ...o.env,
  };
}

/** Store credentials (VAULT_*) come from the same env as the settings, on top of process.env. */
export async function launchE2EAgent(o: E2EAgentOptions): Promise<E2EAgent> {
  const env = { ...process.env, ...agentEnv(o) };
  const settings = resolveSettings({}, env, o.id);
  const logger = process.env.WEIR_TEST_LOGS ? createLogger({ level: 'debug' }).child({ agent: o.id }) : silentLogger();
  const running = await launchAgent(settings, logger, env);
  const url = (p: string): string => `http://127.0.0.1:${running.httpPort}${p}`;
  let stopped = false;
  const a: E2EAgent = {
    id: o.id,
    bind: o.bind,
    httpPort: running.httpPort,
    stateDir: o.stateDir,
    running,
    status: async () => JSON.parse((await get(url('/status'))).body) as AgentStatus,
    metrics: async () => (await get(url('/metrics'))).body,
    applied: async (name) => (await a.status()).applied.find((x) => x.name === name)?.version,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await running.stop();
    },
  };
  return a;
}

/** Value of `weir_agent_nats_messages_total{kind="<kind>"}` (0 when absent). */
export function natsMessages(metrics: string, kind: string): number {
  const m = new RegExp(`^weir_agent_nats_messages_total\\{kind="${kind}"\\} (\\d+(?:\\.\\d+)?)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : 0;
}

export interface GatewayStatusReply {
  gateway: string;
  version: string;
  converged: boolean | null;
  statusSource: string;
  agents: Array<{ agentId: string; appliedVersion: string | null; quiet: boolean; lastSeenAt: string; problems: unknown[] }>;
}

/** Polls GET …/gateways/<name>/status until converged on `version` with `agents` live agents. */
export async function waitConverged(c: E2EControl, org: string, env: string, name: string, version: string, agents: number, timeoutMs = 15_000): Promise<GatewayStatusReply> {
  let last: Reply | undefined;
  try {
    return await until(
      async () => {
        last = await c.api('GET', gwPath(org, env, name, '/status'));
        const s = last.json as GatewayStatusReply | undefined;
        return last.status === 200 && s && s.version === version && s.converged === true && s.agents.filter((a) => !a.quiet).length === agents ? s : null;
      },
      { what: `${name}@${version} converged on ${agents} agents`, timeoutMs, intervalMs: 50 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${last?.text ?? 'none'}`);
  }
}

/** Waits until every agent's /status shows `name` at `version` (or not at all, for undefined). */
export async function waitApplied(agents: E2EAgent[], name: string, version: string | undefined, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => (await Promise.all(agents.map((a) => a.applied(name)))).every((v) => v === version), { what: `${name}@${version ?? 'absent'} applied on ${agents.map((a) => a.id).join(', ')}`, timeoutMs, intervalMs: 50 });
}

/** waitFor that returns the truthy value with null/undefined/false taken out of its type. */
export async function until<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  return (await waitFor(fn, opts)) as T;
}

export const storeFile = (root: string): string => `file://${root}`;
export { join };
