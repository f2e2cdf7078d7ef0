// A contract double of the parts of Vault's HTTP API that Weir uses: KV secrets engine v2,
// token self-lookup/renewal, health, and a policy check good enough to exercise the example
// policies in deploy/vault/. It follows the documented API (developer.hashicorp.com/vault/api-docs);
// each handler names the section it follows. It is NOT Vault: no leases, no auth methods beyond
// pre-seeded tokens, one KV v2 mount, and simplified policy priority (noted below).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface VaultPolicyRule {
  /** Vault path pattern: `*` only as the last character (prefix match), `+` matches one segment. */
  path: string;
  capabilities: string[];
}

export interface VaultDoubleToken {
  /** Parsed policy rules; `root: true` bypasses them (like the `root` policy). */
  rules?: VaultPolicyRule[];
  root?: boolean;
  policies?: string[];
  /** Seconds; 0 = never expires (root tokens). */
  ttl?: number;
  renewable?: boolean;
}

export interface VaultDoubleRequest {
  method: string;
  path: string;
  status: number;
  token: string | undefined;
  namespace: string | undefined;
}

interface KvVersion {
  data: Record<string, unknown> | null;
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

interface KvSecret {
  created_time: string;
  updated_time: string;
  current_version: number;
  custom_metadata: Record<string, string> | null;
  versions: Map<number, KvVersion>;
}

/**
 * Parses the subset of Vault policy HCL used by our example policies:
 *   path "secret/data/weir/+/+/gateways/*" { capabilities = ["read", "list"] }
 */
export function parseVaultPolicy(hcl: string): VaultPolicyRule[] {
  const rules: VaultPolicyRule[] = [];
  const stripped = hcl.replace(/#[^\n]*/g, '');
  const re = /path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}/g;
  for (let m = re.exec(stripped); m; m = re.exec(stripped)) {
    const caps = [...(m[2] ?? '').matchAll(/"([^"]+)"/g)].map((c) => c[1] as string);
    rules.push({ path: m[1] as string, capabilities: caps });
  }
  if (rules.length === 0) throw new Error('vault double: policy text has no `path "..." { capabilities = [...] }` blocks');
  return rules;
}

export const loadVaultPolicy = (file: string): VaultPolicyRule[] => parseVaultPolicy(readFileSync(file, 'utf8'));

function patternMatches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith('*');
  const pat = glob ? pattern.slice(0, -1) : pattern;
  const pSegs = pat.split('/');
  const segs = path.split('/');
  // Compare segment by segment; `+` matches exactly one whole segment.
  for (let i = 0; i < pSegs.length; i++) {
    const p = pSegs[i] as string;
    const s = segs[i];
    if (s === undefined) return false;
    const last = i === pSegs.length - 1;
    if (p === '+') continue;
    if (last && glob) return s.startsWith(p) && (segs.length >= pSegs.length);
    if (p !== s) return false;
  }
  return glob ? true : segs.length === pSegs.length;
}

/** Capabilities granted for `path`. Simplification of Vault's priority rules: the longest matching pattern wins; `deny` wins outright. */
export function capabilitiesFor(rules: readonly VaultPolicyRule[], path: string): Set<string> {
  const matching = rules.filter((r) => patternMatches(r.path, path));
  if (matching.some((r) => r.capabilities.includes('deny'))) return new Set(['deny']);
  const best = matching.sort((a, b) => b.path.length - a.path.length)[0];
  return new Set(best?.capabilities ?? []);
}

const now = (): string => new Date().toISOString();

export class VaultKv2Double {
  readonly mount: string;
  readonly tokens = new Map<string, VaultDoubleToken & { renewals: number; issued: string }>();
  readonly requests: VaultDoubleRequest[] = [];
  private readonly secrets = new Map<string, KvSecret>();
  private server: Server | undefined;
  private port = 0;
  private failures: { remaining: number; status: number; match: RegExp | undefined }[] = [];

  constructor(opts: { mount?: string; tokens?: Record<string, VaultDoubleToken> } = {}) {
    this.mount = (opts.mount ?? 'secret').replace(/^\/+|\/+$/g, '');
    for (const [id, t] of Object.entries(opts.tokens ?? { root: { root: true } })) this.addToken(id, t);
  }

  addToken(id: string, t: VaultDoubleToken): void {
    this.tokens.set(id, { ...t, renewals: 0, issued: now() });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens (again) on the same port as before, or a free one the first time. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the listener and drops open connections, like a Vault node going away. */
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** The next `n` requests (whose URL matches `match`, if given) answer `status` (503 looks like a sealed Vault). */
  failNext(n: number, status = 503, match?: RegExp): void {
    if (n > 0) this.failures.push({ remaining: n, status, match });
  }

  /** Direct access for assertions and seeding: the current undeleted data, or undefined. */
  peek(path: string): Record<string, unknown> | undefined {
    const s = this.secrets.get(path);
    const v = s?.versions.get(s.current_version);
    return v && !v.deletion_time && !v.destroyed && v.data ? v.data : undefined;
  }

  /** Seeds a version directly (as `vault kv put` would), bypassing HTTP and policy. */
  seed(path: string, data: Record<string, unknown>): number {
    return this.writeVersion(path, data);
  }

  private writeVersion(path: string, data: Record<string, unknown>): number {
    const t = now();
    const s = this.secrets.get(path) ?? { created_time: t, updated_time: t, current_version: 0, custom_metadata: null, versions: new Map() };
    s.current_version += 1;
    s.updated_time = t;
    s.versions.set(s.current_version, { data, created_time: t, deletion_time: '', destroyed: false });
    this.secrets.set(path, s);
    return s.current_version;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = (req.method ?? 'GET').toUpperCase();
    const token = header(req, 'x-vault-token');
    const entry: VaultDoubleRequest = { method, path: url.pathname + url.search, status: 0, token, namespace: header(req, 'x-vault-namespace') };
    this.requests.push(entry);
    const send = (status: number, body?: unknown): void => {
      entry.status = status;
      if (body === undefined) {
        res.writeHead(status).end();
        return;
      }
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    };
    const raw = await readBody(req);

    const failure = this.failures.find((f) => !f.match || f.match.test(entry.path));
    if (failure) {
      if (--failure.remaining <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
      // Sealed Vault: 503 {"errors":["Vault is sealed"]} (api-docs/index#http-status-codes).
      return send(failure.status, { errors: [failure.status === 503 ? 'Vault is sealed' : 'injected failure'] });
    }

    if (!url.pathname.startsWith('/v1/')) return send(404, { errors: [] });
    const path = url.pathname.slice(4).replace(/\/+$/, (m) => (m ? '/' : ''));

    // sys/health is unauthenticated and answers 200 for an active, unsealed node (api-docs/system/health).
    if (path === 'sys/health') {
      return send(200, {
        initialized: true,
        sealed: false,
        standby: false,
        performance_standby: false,
        replication_performance_mode: 'disabled',
        replication_dr_mode: 'disabled',
        server_time_utc: Math.floor(Date.now() / 1000),
        version: '1.15.0+double',
        cluster_name: 'vault-double',
        cluster_id: 'double',
      });
    }

    // Every other call needs a valid token; Vault answers 403 {"errors":["permission denied"]}.
    const tok = token === undefined ? undefined : this.tokens.get(token);
    if (!tok || !token) return send(403, { errors: ['permission denied'] });

    let body: Record<string, unknown> = {};
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return send(400, { errors: ['failed to parse JSON input'] });
      }
    }

    // Token self-service is granted by Vault's built-in `default` policy (api-docs/auth/token).
    if (path === 'auth/token/lookup-self' && method === 'GET') {
      return send(200, envelope({
        accessor: `acc-${token}`,
        creation_time: Math.floor(Date.parse(tok.issued) / 1000),
        creation_ttl: tok.ttl ?? 0,
        display_name: 'token',
        entity_id: '',
        expire_time: tok.ttl ? new Date(Date.now() + tok.ttl * 1000).toISOString() : null,
        explicit_max_ttl: 0,
        id: token,
        issue_time: tok.issued,
        meta: null,
        num_uses: 0,
        orphan: false,
        path: tok.root ? 'auth/token/root' : 'auth/token/create',
        policies: tok.policies ?? (tok.root ? ['root'] : ['default']),
        renewable: tok.renewable ?? false,
        ttl: tok.ttl ?? 0,
        type: 'service',
      }));
    }
    if (path === 'auth/token/renew-self' && (method === 'POST' || method === 'PUT')) {
      if (!tok.renewable) return send(400, { errors: ['lease is not renewable'] });
      tok.renewals += 1;
      return send(200, {
        ...envelope(null),
        auth: {
          client_token: token,
          accessor: `acc-${token}`,
          policies: tok.policies ?? ['default'],
          token_policies: tok.policies ?? ['default'],
          metadata: null,
          lease_duration: tok.ttl ?? 0,
          renewable: true,
          entity_id: '',
          token_type: 'service',
          orphan: false,
        },
      });
    }

    const prefix = `${this.mount}/`;
    if (!path.startsWith(prefix)) return send(404, { errors: [`no handler for route "${path}". route entry not found.`] });
    const rest = path.slice(prefix.length);
    const slash = rest.indexOf('/');
    const kind = slash < 0 ? rest : rest.slice(0, slash);
    const key = slash < 0 ? '' : rest.slice(slash + 1);
    // Vault accepts both the LIST verb and `GET ?list=true`. Node's HTTP parser rejects the
    // LIST verb with 400 before we see it, so through this double only the GET form works.
    const isList = method === 'LIST' || (method === 'GET' && ['true', '1'].includes(url.searchParams.get('list') ?? ''));

    // Policy check on the full API path, as Vault does (policy paths include `data/`/`metadata/`).
    const needed = capabilityNeeded(kind, method, isList, this.secrets.has(key.replace(/\/$/, '')));
    if (!tok.root) {
      const caps = capabilitiesFor(tok.rules ?? [], path);
      if (!needed || caps.has('deny') || !caps.has(needed)) return send(403, { errors: ['permission denied'] });
    }

    if (kind === 'data') return this.handleData(method, key, url, body, send);
    if (kind === 'metadata') return this.handleMetadata(method, isList, key, send);
    return send(405, { errors: ['unsupported operation'] });
  }

  /** KV v2 "Read/Create/Update/Delete Secret Version" (api-docs/secret/kv/kv-v2). */
  private handleData(method: string, key: string, url: URL, body: Record<string, unknown>, send: (s: number, b?: unknown) => void): void {
    const secret = this.secrets.get(key);
    if (method === 'GET') {
      if (!secret) return send(404, { errors: [] });
      const want = Number(url.searchParams.get('version') ?? 0) || secret.current_version;
      const v = secret.versions.get(want);
      if (!v) return send(404, { errors: [] });
      const metadata = { created_time: v.created_time, custom_metadata: secret.custom_metadata, deletion_time: v.deletion_time, destroyed: v.destroyed, version: want };
      // A deleted or destroyed version reads as 404 but still carries its metadata (data: null).
      if (v.deletion_time || v.destroyed) return send(404, envelope({ data: null, metadata }));
      return send(200, envelope({ data: v.data, metadata }));
    }
    if (method === 'POST' || method === 'PUT') {
      const data = body.data;
      if (!data || typeof data !== 'object' || Array.isArray(data)) return send(400, { errors: ['no data provided'] });
      const options = (body.options ?? {}) as { cas?: unknown };
      if (options.cas !== undefined) {
        // cas=0: write only if the key does not exist; cas=N: only if the current version is N.
        const current = secret?.current_version ?? 0;
        if (Number(options.cas) !== current) return send(400, { errors: ['check-and-set parameter did not match the current version'] });
      }
      const version = this.writeVersion(key, data as Record<string, unknown>);
      const s = this.secrets.get(key) as KvSecret;
      const v = s.versions.get(version) as KvVersion;
      return send(200, envelope({ created_time: v.created_time, custom_metadata: s.custom_metadata, deletion_time: '', destroyed: false, version }));
    }
    if (method === 'DELETE') {
      // "Delete Latest Version of Secret": a soft delete; metadata and the key listing remain. 204.
      const v = secret?.versions.get(secret.current_version);
      if (v && !v.deletion_time) v.deletion_time = now();
      return send(204);
    }
    return send(405, { errors: ['unsupported operation'] });
  }

  /** KV v2 "List Secrets", "Read Secret Metadata", "Delete Metadata and All Versions". */
  private handleMetadata(method: string, isList: boolean, key: string, send: (s: number, b?: unknown) => void): void {
    if (isList) {
      const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
      const keys = new Set<string>();
      for (const k of this.secrets.keys()) {
        if (!k.startsWith(prefix)) continue;
        const tail = k.slice(prefix.length);
        const i = tail.indexOf('/');
        keys.add(i < 0 ? tail : tail.slice(0, i + 1));
      }
      // Nothing under the prefix: 404 with an empty errors array.
      if (keys.size === 0) return send(404, { errors: [] });
      return send(200, envelope({ keys: [...keys].sort() }));
    }
    const path = key.replace(/\/$/, '');
    const secret = this.secrets.get(path);
    if (method === 'GET') {
      if (!secret) return send(404, { errors: [] });
      const versions: Record<string, unknown> = {};
      for (const [n, v] of secret.versions) versions[String(n)] = { created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed };
      return send(200, envelope({
        cas_required: false,
        created_time: secret.created_time,
        current_version: secret.current_version,
        custom_metadata: secret.custom_metadata,
        delete_version_after: '0s',
        max_versions: 0,
        oldest_version: Math.min(...secret.versions.keys()),
        updated_time: secret.updated_time,
        versions,
      }));
    }
    if (method === 'DELETE') {
      this.secrets.delete(path);
      return send(204);
    }
    return send(405, { errors: ['unsupported operation'] });
  }
}

/** The capability Vault checks for a request (api-docs/secret/kv/kv-v2 + concepts/policies). */
function capabilityNeeded(kind: string, method: string, isList: boolean, exists: boolean): string | undefined {
  if (isList) return kind === 'metadata' ? 'list' : undefined;
  if (method === 'GET') return 'read';
  if (method === 'POST' || method === 'PUT') return exists ? 'update' : 'create';
  if (method === 'PATCH') return 'patch';
  if (method === 'DELETE') return 'delete';
  return undefined;
}

/** The standard response envelope every Vault API answer uses. */
function envelope(data: unknown): Record<string, unknown> {
  return { request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0, data, wrap_info: null, warnings: null, auth: null };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}
