// A control API on a free port over a given store, with one token per role/tenant and an
// in-memory audit log. Requests go through fetch, so they cross real HTTP.
import type { PortRangeRule } from '../../control/gateway-placement.js';
import type { Namespace } from '../../store/store.js';
import { silentLogger } from '../../runtime/log.js';
import { MemoryAuditSink } from '../../control/audit-file.js';
import type { Store } from '../../control/gateway-service.js';
import type { AgentStatusSource, ChangePublisher, TrafficMetricsSource } from '../../control/seams.js';
import { createControlServer, type ControlServer } from '../../control/server.js';
import { issueToken, MemoryTokenStore, type Role, type TokenStore } from '../../control/tokens.js';
import type { ReleaseDocumentStore } from '../../release/index.js';

export interface ApiReply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed when the body is JSON. */
  json: unknown;
}

export interface ApiOptions {
  token?: string | null;
  /** A string body is sent as is; anything else as JSON. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface ControlFixture {
  base: string;
  server: ControlServer;
  store: Store;
  audit: MemoryAuditSink;
  tokens: TokenStore;
  /** admin; deployerA (acme/*); viewerA (acme/prod); deployerB (globex/*); viewerB (globex/prod). */
  tok: Record<'admin' | 'deployerA' | 'viewerA' | 'deployerB' | 'viewerB', string>;
  ids: Record<string, string>;
  api(method: string, path: string, opts?: ApiOptions): Promise<ApiReply>;
  close(): Promise<void>;
}

export const A: Namespace = { org: 'acme', env: 'prod' };
export const B: Namespace = { org: 'globex', env: 'prod' };
export const nsPath = (ns: Namespace, rest = ''): string => `/api/v1/namespaces/${ns.org}/${ns.env}${rest}`;

export async function startControl(
  store: Store,
  opts: { events?: ChangePublisher; agentStatus?: AgentStatusSource; trafficMetrics?: TrafficMetricsSource; bodyLimitBytes?: number; casAttempts?: number; replicaOf?: ControlFixture; releaseStore?: ReleaseDocumentStore; portRanges?: PortRangeRule[]; vhostDomain?: string } = {},
): Promise<ControlFixture> {
  const tokens = opts.replicaOf?.tokens ?? new MemoryTokenStore();
  const audit = opts.replicaOf?.audit ?? new MemoryAuditSink();
  const specs: Array<[keyof ControlFixture['tok'], Role, string[]]> = [
    ['admin', 'admin', ['*']],
    ['deployerA', 'deployer', ['acme/*']],
    ['viewerA', 'viewer', ['acme/prod']],
    ['deployerB', 'deployer', ['globex/*']],
    ['viewerB', 'viewer', ['globex/prod']],
  ];
  const tok = { ...(opts.replicaOf?.tok ?? {}) } as ControlFixture['tok'];
  const ids: Record<string, string> = { ...(opts.replicaOf?.ids ?? {}) };
  for (const [key, role, namespaces] of opts.replicaOf ? [] : specs) {
    const { token, record } = await issueToken(tokens, { name: key, role, namespaces, createdBy: 'test' });
    tok[key] = token;
    ids[key] = record.id;
  }
  const server = createControlServer({
    store,
    tokens,
    audit,
    logger: silentLogger(),
    ...(opts.events ? { events: opts.events } : {}),
    ...(opts.agentStatus ? { agentStatus: opts.agentStatus } : {}),
    ...(opts.trafficMetrics ? { trafficMetrics: opts.trafficMetrics } : {}),
    ...(opts.bodyLimitBytes !== undefined ? { bodyLimitBytes: opts.bodyLimitBytes } : {}),
    ...(opts.casAttempts !== undefined ? { casAttempts: opts.casAttempts } : {}),
    ...(opts.portRanges !== undefined ? { portRanges: opts.portRanges } : {}),
    ...(opts.vhostDomain !== undefined ? { vhostDomain: opts.vhostDomain } : {}),
    ...(opts.releaseStore ? { releaseStore: opts.releaseStore } : {}),
  });
  const { port } = await server.listen('127.0.0.1', 0);
  const base = `http://127.0.0.1:${port}`;
  const api = async (method: string, path: string, o: ApiOptions = {}): Promise<ApiReply> => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const token = o.token === undefined ? tok.admin : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      headers['content-type'] = o.contentType ?? (typeof o.body === 'string' ? 'application/yaml' : 'application/json');
    }
    const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let json: unknown;
    if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') json = JSON.parse(text);
    return { status: res.status, headers: res.headers, text, json };
  };
  return { base, server, store, audit, tokens, tok, ids, api, close: () => server.close() };
}

/** The error code of a reply, or undefined. */
export const code = (r: ApiReply): string | undefined => (r.json as { error?: { code?: string } } | undefined)?.error?.code;
export const message = (r: ApiReply): string => (r.json as { error?: { message?: string } } | undefined)?.error?.message ?? '';

/** A small YAML gateway with a comment. */
export function gatewayYaml(port: number, routes: Record<string, number> = { v1: 50, v2: 50 }): string {
  const lines = ['# managed by the test', `port: ${port}`, 'routes:'];
  for (const [name, w] of Object.entries(routes)) lines.push(`  ${name}:  # route ${name}`, `    weight: ${w}%`, '    targets: ["127.0.0.1:9000"]');
  return lines.join('\n') + '\n';
}

/** The same as JSON. */
export function gatewayJson(port: number, routes: Record<string, number> = { v1: 50, v2: 50 }): Record<string, unknown> {
  return { port, routes: Object.fromEntries(Object.entries(routes).map(([n, w]) => [n, { weight: w, targets: ['127.0.0.1:9000'] }])) };
}
