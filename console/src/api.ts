// The control API as the console sees it: every call carries the bearer token; errors keep the
// API's code and message, which the screens show as they are.
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The API root, relative to the page's <base> (the console lives at <prefix>/ui/). */
export const apiRoot = (): string => new URL('../api/v1/', document.baseURI).href;

export interface Got<T> {
  /** Undefined on 304 (the caller keeps what it has). */
  data: T | undefined;
  etag: string | null;
}

export class Api {
  constructor(
    readonly token: string,
    private readonly onUnauthorized: (message: string) => void = () => undefined,
  ) {}

  url(path: string): string {
    return apiRoot() + path.replace(/^\//, '');
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, ...extra };
  }

  async get<T>(path: string, opts: { etag?: string | null; accept?: string; signal?: AbortSignal } = {}): Promise<Got<T>> {
    const h: Record<string, string> = { accept: opts.accept ?? 'application/json' };
    if (opts.etag) h['if-none-match'] = opts.etag;
    const res = await fetch(this.url(path), { headers: this.headers(h), cache: 'no-cache', ...(opts.signal ? { signal: opts.signal } : {}) });
    if (res.status === 304) return { data: undefined, etag: opts.etag ?? null };
    if (!res.ok) throw await this.failure(res);
    const type = res.headers.get('content-type') ?? '';
    const data = (type.includes('json') ? await res.json() : await res.text()) as T;
    return { data, etag: res.headers.get('etag') };
  }

  async send<T>(method: 'PUT' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    const h = this.headers({ accept: 'application/json', ...extra, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) });
    const res = await fetch(this.url(path), { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (!res.ok) throw await this.failure(res);
    return (res.status === 204 ? undefined : await res.json()) as T;
  }

  private async failure(res: Response): Promise<ApiFailure> {
    let code = `http_${res.status}`;
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: { code?: string; message?: string } };
      if (body.error?.code) code = body.error.code;
      if (body.error?.message) message = body.error.message;
    } catch {
      // not our error shape (a proxy's page): keep the status line
    }
    if (res.status === 401) this.onUnauthorized(message);
    return new ApiFailure(res.status, code, message);
  }
}

/** Path of a namespace's resources. */
export const nsPath = (ns: { org: string; env: string }, rest = ''): string => `namespaces/${encodeURIComponent(ns.org)}/${encodeURIComponent(ns.env)}${rest}`;

// The API's shapes, as far as the console reads them (see /api/v1/openapi.json).
export interface NamespaceAccess {
  namespace: string;
  org: string;
  env: string;
  read: boolean;
  write: boolean;
  audit: boolean;
}
export interface WhoAmI {
  id: string;
  name: string;
  role: 'admin' | 'deployer' | 'viewer';
  grants: string[];
  namespaces: NamespaceAccess[];
  note?: string;
}
export interface RouteSummary {
  name: string;
  weight: number;
  condition: string | null;
  condition_strength: number;
  targets: number;
}
export interface GatewaySummary {
  name: string;
  version: string;
  format: 'yaml' | 'json';
  valid: boolean;
  port?: number;
  mode?: string;
  virtual_hosts?: string[];
  routes?: RouteSummary[];
  errors?: string[];
}
export interface GatewayList {
  namespace: string;
  gateways: GatewaySummary[];
  problems: Array<{ source: string; message: string }>;
}
export interface GatewayStatus {
  gateway: string;
  version: string;
  converged: boolean | null;
  statusSource: 'nats' | 'unavailable';
  reason?: string;
  agents: Array<{ agentId: string; appliedVersion: string | null; problems: Array<{ version: string | null; errors: string[] }>; lastSeenAt: string; quiet: boolean }>;
}
export interface TrafficStats {
  requests: number;
  rate_per_s: number;
  response_time_ms: { p50: number | null; p95: number | null; p99: number | null; avg: number | null };
  errors_5xx: number;
  error_ratio: number;
  health: number;
}
export interface TrafficMetrics extends TrafficStats {
  gateway: string;
  window_s: number;
  from: string;
  to: string;
  per_route?: Array<{ route: string } & TrafficStats>;
  source: string;
}
export interface Agent {
  agentId: string;
  health: 'ok' | 'degraded' | 'quiet';
  ready: boolean;
  haproxyRunning: boolean;
  servingFromCache: boolean;
  storeOk: boolean;
  applied: Array<{ name: string; version: string }>;
  problems: Array<{ name: string | null; version: string | null; errors: string[] }>;
  lastApplyAt: string | null;
  lastError: string | null;
  lastSeenAt: string;
  quiet: boolean;
}
export interface AgentList {
  namespace: string;
  statusSource: 'nats' | 'unavailable';
  reason?: string;
  agents: Agent[];
}
export interface AuditRecord {
  id: string;
  at: string;
  by: string;
  role: string;
  action: string;
  target: string;
  beforeVersion: string | null;
  afterVersion: string | null;
  requestId: string;
}
export interface AuditPage {
  namespace: string;
  records: AuditRecord[];
  next: string | null;
}

export const RELEASE_ACTIONS = ['approve', 'pause', 'resume', 'abort', 'promote', 'retry'] as const;
export type ReleaseAction = (typeof RELEASE_ACTIONS)[number];
export type Phase = 'Pending' | 'Progressing' | 'Paused' | 'Succeeded' | 'Failed' | 'Aborted';
export interface PauseReason {
  reason: string;
  since: string;
  detail: string;
}
export interface ReleaseSummary {
  id: string;
  gateway: string;
  phase: Phase;
  source: string;
  target: string;
  policy: { name: string; version: number | null; hash: string };
  step: { index: number; name: string };
  attempt: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  pauseReasons: PauseReason[];
  outcome: { result: string; code: string; reason: string; at: string } | null;
}
export interface ReleaseHistory {
  gateway: string;
  current: ReleaseSummary | null;
  releases: ReleaseSummary[];
}
export interface ReleaseList {
  namespace: string;
  releases: ReleaseSummary[];
  problems: Array<{ source: string; message: string }>;
}
export interface ReleaseCondition {
  name: string;
  expression: string;
  scope: 'policy' | 'step';
  verdict: 'Passed' | 'Failed' | 'Inconclusive' | 'Error' | 'Pending';
  reason: string;
  value: number | null;
  op: string | null;
  threshold: number | null;
  minSamples: number;
  samples: { source: number | null; target: number | null };
  counters: { passed: number; failed: number; inconclusive: number; errors: number; consecutiveErrors: number };
  failureLimit: number;
  inconclusiveLimit: number;
}
export interface ReleaseRun extends ReleaseSummary {
  transitions: Array<{ at: string; kind: string; from: Phase; to: Phase; step: number; actor: string; reason: string }>;
  status: {
    stepCount: number;
    step: { index: number; name: string; stage: string; weights: { source: number; target: number }; reload: boolean; startedAt: string | null; durationSeconds: number; elapsedSeconds: number | null; timeLeftSeconds: number | null; minSamples: number | null };
    samples: { source: { route: string; requests: number; minimum: number; pooled: boolean }; target: { route: string; requests: number; minimum: number; pooled: boolean } };
    conditions: ReleaseCondition[];
    steps?: Array<{ index: number; name: string; state: 'done' | 'current' | 'pending'; weights: { source: number; target: number }; condition: string | null; gate: 'confirm' | null; durationSeconds: number; minSamples: number | null }>;
    actions?: Partial<Record<ReleaseAction, { allowed: boolean; code?: string; reason?: string }>>;
    paused: boolean;
    finished: boolean;
    lastMeasurementAt: string | null;
    pauseReasons: PauseReason[];
  };
}
export interface PolicyList {
  namespace: string;
  policies: Array<{ name: string; valid: boolean; steps?: Array<{ name: string; source: number; target: number }>; errors?: string[] }>;
}
