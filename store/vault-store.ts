// Gateways (and the other collections) in Vault's KV secrets engine v2, via node-vault.
//
// Layout:  <mount>/data/weir/<org>/<env>/<collection>/<name>   (collections: store/collections.ts)
//          <mount>/data/weir/_system/leases/<name>             (leases; `_system` is no DNS label, so no namespace)
// Value:   data.data = { "format": "yaml" | "json" | "pem", "body": "<the user's text>" }
//          The body is stored as text, byte for byte, so comments and key order survive a
//          round trip; Vault never parses it. Version = KV `metadata.version`.
// Deletes: DELETE <mount>/metadata/... (all versions, permanent). Weir does not soft-delete
//          because soft-deleted keys keep showing up in LIST and would cost a read each time;
//          keys soft-deleted by hand (`vault kv delete`) still read as absent.
// Vault has no CAS on delete, so a conditional delete reads the metadata first: a write landing
// between that read and the DELETE is lost. Writes use KV `options.cas` and are race-free.
import { readFileSync } from 'node:fs';
import nodeVault from 'node-vault';
import { forEachLimited } from '../runtime/bounded-concurrency.js';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';
import { COLLECTION_RULES, documentNoun, isDocumentName, type Collection, type DocumentFormat } from './collections.js';
import type { DocumentStore } from './document-store.js';
import { casLeaseBackend, type LeaseBackend } from './lease.js';
import {
  asGatewaySnapshot,
  keySnapshot,
  StoreUnavailableError,
  type DocumentEntry,
  type DocumentSnapshot,
  type GatewayStore,
  type Namespace,
  type StopWatching,
  type StoreEntry,
  type StoreEntryProblem,
  type StoreSnapshot,
} from './store.js';
import {
  assertDocumentKey,
  assertStoreKey,
  isDnsLabel,
  VersionConflictError,
  type DeleteOptions,
  type GatewayStoreWriter,
  type PutOptions,
  type StoreFormat,
} from './store-writer.js';

export interface VaultStoreOptions {
  /** KV v2 mount path, e.g. `secret` or `kv/platform`. */
  mount: string;
  /** VAULT_ADDR, e.g. https://vault.internal:8200. */
  endpoint: string;
  /** A token, or a file to (re-)read it from (Vault Agent sinks rotate that file). */
  token?: string;
  tokenFile?: string;
  /** PEM bundle trusted for Vault's TLS certificate (VAULT_CACERT). */
  caCert?: string;
  /** Vault Enterprise namespace (VAULT_NAMESPACE). */
  namespace?: string;
  logger?: Logger;
  /** Reads in flight while listing a namespace. */
  readConcurrency?: number;
  requestTimeoutMs?: number;
  /** Lower bound for the renewal interval (and retry delay after a failed renewal). */
  minRenewIntervalMs?: number;
}

/** WEIR_STORE=vault:... is set but the VAULT_* environment is incomplete or unreadable. */
export class VaultConfigError extends Error {
  override readonly name = 'VaultConfigError';
}

/** The envelope stored in data.data (shared with the NATS store). */
interface StoredDocument {
  format: DocumentFormat;
  body: string;
}

const KV_ROOT = 'weir';

export class VaultStore implements GatewayStore, GatewayStoreWriter, DocumentStore {
  readonly kind = 'vault' as const;
  readonly location: string;
  readonly mount: string;
  private readonly client: nodeVault.client;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly tokenFile: string | undefined;
  private readonly minRenewMs: number;
  private renewTimer: NodeJS.Timeout | undefined;
  /** The renewal request in flight, so close() can wait for it rather than leave it behind. */
  private renewing: Promise<void> | undefined;
  private closed = false;
  /** How many successful renew-self calls were made (for tests and metrics). */
  renewals = 0;

  constructor(opts: VaultStoreOptions) {
    this.mount = opts.mount.replace(/^\/+|\/+$/g, '');
    if (!this.mount) throw new VaultConfigError('vault store: the KV v2 mount is empty; use WEIR_STORE=vault:<mount>, e.g. vault:secret');
    this.location = `vault:${opts.endpoint.replace(/\/+$/, '')}/${this.mount}`;
    this.log = opts.logger ?? silentLogger();
    this.concurrency = opts.readConcurrency ?? 16;
    this.tokenFile = opts.tokenFile;
    this.minRenewMs = opts.minRenewIntervalMs ?? 10_000;
    const requestOptions: Record<string, unknown> = { timeout: opts.requestTimeoutMs ?? 10_000 };
    if (opts.caCert) requestOptions.ca = opts.caCert;
    this.client = nodeVault({
      apiVersion: 'v1',
      endpoint: opts.endpoint,
      token: opts.token ?? this.readTokenFile(),
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      requestOptions,
      // GET ?list=1 instead of the LIST verb: same API (documented as equivalent), and it passes
      // proxies and HTTP stacks that reject non-standard methods (Node's own parser among them).
      noCustomHTTPVerbs: true,
    });
  }

  /** Builds a store from VAULT_ADDR, VAULT_TOKEN / VAULT_TOKEN_FILE, VAULT_CACERT, VAULT_NAMESPACE. */
  static fromEnv(mount: string, opts: { logger?: Logger; env?: NodeJS.ProcessEnv } = {}): VaultStore {
    const env = opts.env ?? process.env;
    const endpoint = env.VAULT_ADDR ?? 'http://127.0.0.1:8200';
    const token = env.VAULT_TOKEN || undefined;
    const tokenFile = env.VAULT_TOKEN_FILE || undefined;
    if (!token && !tokenFile) throw new VaultConfigError('vault store: set VAULT_TOKEN or VAULT_TOKEN_FILE (a file holding the token, e.g. a Vault Agent sink)');
    let caCert: string | undefined;
    if (env.VAULT_CACERT) {
      try {
        caCert = readFileSync(env.VAULT_CACERT, 'utf8');
      } catch (err) {
        throw new VaultConfigError(`vault store: cannot read VAULT_CACERT ${env.VAULT_CACERT}: ${(err as Error).message}`);
      }
    }
    return new VaultStore({
      mount,
      endpoint,
      ...(token ? { token } : {}),
      ...(tokenFile ? { tokenFile } : {}),
      ...(caCert ? { caCert } : {}),
      ...(env.VAULT_NAMESPACE ? { namespace: env.VAULT_NAMESPACE } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  }

  private readTokenFile(): string | undefined {
    if (!this.tokenFile) return undefined;
    try {
      return readFileSync(this.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new VaultConfigError(`vault store: cannot read VAULT_TOKEN_FILE ${this.tokenFile}: ${(err as Error).message}`);
    }
  }

  /**
   * Looks the token up and keeps it renewed at ttl/2. Never throws for an unreachable Vault:
   * the agent must start and serve its last-good config; the lookup is retried.
   */
  async start(): Promise<void> {
    await this.renewCycle(true);
  }

  private async renewCycle(initial: boolean): Promise<void> {
    if (this.closed) return;
    let nextMs: number | undefined;
    try {
      if (this.tokenFile) this.client.token = this.readTokenFile() ?? this.client.token;
      if (initial) {
        const res = (await this.client.read('auth/token/lookup-self')) as { data?: { ttl?: number; renewable?: boolean; policies?: string[] } };
        const ttl = res.data?.ttl ?? 0;
        this.log.info({ ttl, renewable: res.data?.renewable, policies: res.data?.policies }, 'vault token looked up');
        if (res.data?.renewable && ttl > 0) nextMs = (ttl * 1000) / 2;
      } else {
        const res = (await this.client.write('auth/token/renew-self', {})) as { auth?: { lease_duration?: number; renewable?: boolean } };
        this.renewals++;
        const ttl = res.auth?.lease_duration ?? 0;
        this.log.debug({ ttl }, 'vault token renewed');
        if (res.auth?.renewable !== false && ttl > 0) nextMs = (ttl * 1000) / 2;
      }
    } catch (err) {
      const why = describeVaultError(err);
      this.log.warn({ err: why }, initial ? 'vault token lookup failed; retrying' : 'vault token renewal failed; retrying');
      nextMs = this.minRenewMs;
      // After a failed lookup keep looking up (we do not know the ttl yet).
      if (initial) return this.schedule(nextMs, true);
    }
    if (nextMs !== undefined) this.schedule(Math.max(nextMs, this.minRenewMs), false);
  }

  private schedule(ms: number, initial: boolean): void {
    if (this.closed) return;
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => {
      const cycle = this.renewCycle(initial).finally(() => {
        if (this.renewing === cycle) this.renewing = undefined;
      });
      this.renewing = cycle;
    }, ms);
    this.renewTimer.unref();
  }

  private collectionPath(ns: Namespace, collection: Collection): string {
    assertDocumentKey(ns, collection);
    return `${KV_ROOT}/${ns.org}/${ns.env}/${collection}`;
  }

  private source(ns: Namespace, collection: Collection, name: string): string {
    return `vault:${this.mount}/${this.collectionPath(ns, collection)}/${name}`;
  }

  async list(ns: Namespace): Promise<StoreSnapshot> {
    return asGatewaySnapshot(await this.listDocuments(ns, 'gateways'));
  }

  async listDocuments(ns: Namespace, collection: Collection): Promise<DocumentSnapshot> {
    const dir = this.collectionPath(ns, collection);
    const noun = documentNoun(collection);
    let keys: string[];
    try {
      const res = (await this.client.list(`${this.mount}/metadata/${dir}/`)) as { data?: { keys?: unknown } };
      keys = Array.isArray(res.data?.keys) ? res.data.keys.filter((k): k is string => typeof k === 'string') : [];
    } catch (err) {
      // LIST answers 404 {"errors":[]} when nothing is under the prefix: none yet. A 404 with
      // error text ("no handler for route", wrong mount) is a misconfiguration, not "empty".
      if (isEmpty404(err)) return { entries: [], problems: [] };
      throw this.unavailable(`listing ${this.mount}/metadata/${dir}/`, err);
    }
    const problems: StoreEntryProblem[] = [];
    const names: string[] = [];
    for (const k of keys) {
      const src = `vault:${this.mount}/${dir}/${k}`;
      if (k.endsWith('/')) problems.push({ source: src, message: `unexpected folder under ${collection}/: each ${noun} is a single key named <name>` });
      else if (!isDocumentName(collection, k)) problems.push({ source: src, message: `${noun} name ${JSON.stringify(k)} is not a DNS label: use lowercase a-z, 0-9 and '-', 1-63 chars` });
      else names.push(k);
    }
    const entries: DocumentEntry[] = [];
    await forEachLimited(names, this.concurrency, async (name) => {
      const got = await this.readKey(ns, collection, name);
      if (got === null) return; // soft-deleted or deleted since the LIST
      if ('problem' in got) problems.push({ source: this.source(ns, collection, name), message: got.problem, name });
      else entries.push(got);
    });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    problems.sort((a, b) => a.source.localeCompare(b.source));
    return { entries, problems };
  }

  async read(ns: Namespace, name: string): Promise<StoreSnapshot> {
    assertStoreKey(ns, name);
    return asGatewaySnapshot(keySnapshot(this.source(ns, 'gateways', name), name, await this.readKey(ns, 'gateways', name)));
  }

  /** One key: null when absent or soft-deleted, a problem for a bad value or a 403 on that key, throws when Vault is unreachable. */
  private async readKey(ns: Namespace, collection: Collection, name: string): Promise<DocumentEntry | { problem: string } | null> {
    const path = `${this.mount}/data/${this.collectionPath(ns, collection)}/${name}`;
    const got = await this.readData(path);
    if (got === null || 'problem' in got) return got;
    const value = got.data as Partial<StoredDocument> | null | undefined;
    const formats = COLLECTION_RULES[collection].formats;
    if (!value || typeof value.format !== 'string' || !formats.includes(value.format) || typeof value.body !== 'string') {
      return { problem: `value is not a Weir ${documentNoun(collection)}: expected data {"format": ${formats.map((f) => `"${f}"`).join('|')}, "body": "<text>"}` };
    }
    if (Buffer.byteLength(value.body) > COLLECTION_RULES[collection].maxBytes) {
      return { problem: `value is ${Buffer.byteLength(value.body)} bytes, over the ${COLLECTION_RULES[collection].maxBytes}-byte limit for a ${documentNoun(collection)}` };
    }
    return { name, source: this.source(ns, collection, name), format: value.format, body: value.body, version: got.version };
  }

  /** data.data and its version at a KV v2 data path; null when absent, a problem on 403, throws when unreachable. */
  private async readData(path: string): Promise<{ data: unknown; version: string } | { problem: string } | null> {
    let res: { data?: { data?: unknown; metadata?: { version?: unknown } } };
    try {
      res = (await this.client.read(path)) as typeof res;
    } catch (err) {
      const status = statusOf(err);
      // 404 covers missing keys and deleted/destroyed versions (those carry metadata.deletion_time).
      if (isEmpty404(err)) return null;
      if (status === 403) return { problem: `permission denied reading ${path}: the token's policy needs "read" on it` };
      throw this.unavailable(`reading ${path}`, err);
    }
    return { data: res.data?.data, version: String(res.data?.metadata?.version ?? '') };
  }

  async watch(_ns: Namespace, _onChange: (reason: string) => void): Promise<StopWatching> {
    // Vault has no change notifications: the agent polls (and NATS may nudge it).
    return async () => undefined;
  }

  watchDocuments(ns: Namespace, _collection: Collection, onChange: (reason: string) => void): Promise<StopWatching> {
    return this.watch(ns, onChange);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.renewTimer);
    await this.renewing;
  }

  async get(ns: Namespace, name: string): Promise<StoreEntry | null> {
    return (await this.getDocument(ns, 'gateways', name)) as StoreEntry | null;
  }

  put(ns: Namespace, name: string, body: string, format: StoreFormat, opts: PutOptions = {}): Promise<{ version: string }> {
    return this.putDocument(ns, 'gateways', name, body, format, opts);
  }

  delete(ns: Namespace, name: string, opts: DeleteOptions = {}): Promise<boolean> {
    return this.deleteDocument(ns, 'gateways', name, opts);
  }

  async getDocument(ns: Namespace, collection: Collection, name: string): Promise<DocumentEntry | null> {
    assertDocumentKey(ns, collection, name);
    const got = await this.readKey(ns, collection, name);
    if (got && 'problem' in got) throw new Error(`${this.source(ns, collection, name)}: ${got.problem}`);
    return got;
  }

  async putDocument(ns: Namespace, collection: Collection, name: string, body: string, format: DocumentFormat, opts: PutOptions = {}): Promise<{ version: string }> {
    assertDocumentKey(ns, collection, name);
    if (!COLLECTION_RULES[collection].formats.includes(format)) throw new Error(`a ${documentNoun(collection)} cannot be stored as ${format}: use ${COLLECTION_RULES[collection].formats.join(' or ')}`);
    const data: StoredDocument = { format, body };
    return this.casWrite(`${this.collectionPath(ns, collection)}/${name}`, data, opts.ifVersion, this.source(ns, collection, name), async () => (await this.getDocument(ns, collection, name))?.version ?? null);
  }

  /** A KV v2 write with `options.cas` from `ifVersion` (null = must not exist). */
  private async casWrite(key: string, data: unknown, ifVersion: string | null | undefined, source: string, currentVersion: () => Promise<string | null>): Promise<{ version: string }> {
    const path = `${this.mount}/data/${key}`;
    let cas: number | undefined;
    if (ifVersion === null) {
      // cas=0 means "no key"; a key whose latest version was soft-deleted counts as absent too.
      const meta = await this.metadata(key);
      cas = meta && !meta.live ? meta.current : 0;
    } else if (ifVersion !== undefined) {
      cas = Number(ifVersion);
      if (!Number.isInteger(cas) || cas < 1) throw new VersionConflictError(source, ifVersion, await currentVersion());
    }
    try {
      const res = (await this.client.write(path, cas === undefined ? { data } : { data, options: { cas } })) as { data?: { version?: unknown } };
      return { version: String(res.data?.version ?? '') };
    } catch (err) {
      if (statusOf(err) === 400 && /check-and-set/.test(vaultErrors(err))) {
        throw new VersionConflictError(source, ifVersion ?? null, await currentVersion());
      }
      throw this.writeError(`writing ${path}`, err);
    }
  }

  async deleteDocument(ns: Namespace, collection: Collection, name: string, opts: DeleteOptions = {}): Promise<boolean> {
    assertDocumentKey(ns, collection, name);
    const key = `${this.collectionPath(ns, collection)}/${name}`;
    const meta = await this.metadata(key);
    const live = meta?.live ? String(meta.current) : null;
    if (opts.ifVersion !== undefined && opts.ifVersion !== live) throw new VersionConflictError(this.source(ns, collection, name), opts.ifVersion, live);
    if (!meta) return false;
    const path = `${this.mount}/metadata/${key}`;
    try {
      await this.client.delete(path);
    } catch (err) {
      throw this.writeError(`deleting ${path}`, err);
    }
    return live !== null;
  }

  /** Current version and whether it is readable (not soft-deleted/destroyed); null when no key. */
  private async metadata(key: string): Promise<{ current: number; live: boolean } | null> {
    const path = `${this.mount}/metadata/${key}`;
    try {
      const res = (await this.client.read(path)) as { data?: { current_version?: number; versions?: Record<string, { deletion_time?: string; destroyed?: boolean }> } };
      const current = res.data?.current_version ?? 0;
      const v = res.data?.versions?.[String(current)];
      return { current, live: !!v && !v.deletion_time && !v.destroyed };
    } catch (err) {
      if (isEmpty404(err)) return null;
      throw this.writeError(`reading ${path}`, err);
    }
  }

  leases(): LeaseBackend {
    const key = (name: string): string => `${KV_ROOT}/_system/leases/${name}`;
    const source = (name: string): string => `vault:${this.mount}/${key(name)}`;
    const get = async (name: string): Promise<{ body: string; version: string } | null> => {
      const got = await this.readData(`${this.mount}/data/${key(name)}`);
      if (got === null) return null;
      if ('problem' in got) throw new StoreUnavailableError(this.location, got.problem);
      const value = got.data as Partial<StoredDocument> | null | undefined;
      if (!value || typeof value.body !== 'string') throw new StoreUnavailableError(this.location, `${source(name)} is not a Weir lease: expected data {"format": "json", "body": "<lease record>"}`);
      return { body: value.body, version: got.version };
    };
    return casLeaseBackend(`vault:${this.mount}/${KV_ROOT}/_system/leases`, {
      get,
      put: (name, body, ifVersion) => this.casWrite(key(name), { format: 'json', body } satisfies StoredDocument, ifVersion, source(name), async () => (await get(name))?.version ?? null),
      isConflict: (err) => err instanceof VersionConflictError,
    });
  }

  async listNamespaces(): Promise<Namespace[]> {
    const folders = async (p: string): Promise<string[]> => {
      try {
        const res = (await this.client.list(`${this.mount}/metadata/${p}`)) as { data?: { keys?: string[] } };
        return (res.data?.keys ?? []).filter((k) => k.endsWith('/')).map((k) => k.slice(0, -1));
      } catch (err) {
        if (isEmpty404(err)) return [];
        throw this.unavailable(`listing ${this.mount}/metadata/${p}`, err);
      }
    };
    const out: Namespace[] = [];
    for (const org of (await folders(`${KV_ROOT}/`)).filter(isDnsLabel)) {
      for (const env of (await folders(`${KV_ROOT}/${org}/`)).filter(isDnsLabel)) {
        if ((await folders(`${KV_ROOT}/${org}/${env}/`)).includes('gateways')) out.push({ org, env });
      }
    }
    return out;
  }

  private unavailable(doing: string, err: unknown): StoreUnavailableError {
    return new StoreUnavailableError(this.location, `${doing}: ${describeVaultError(err)}`, err);
  }

  /** Write failures are not outages for the agent; they go back to the control API as-is. */
  private writeError(doing: string, err: unknown): Error {
    const status = statusOf(err);
    if (status === undefined || status >= 500) return this.unavailable(doing, err);
    return new VaultRequestError(`vault ${doing} failed: ${describeVaultError(err)}`, status, err);
  }
}

/** Vault refused a request (4xx other than CAS conflicts), e.g. 403 for a read-only token. */
export class VaultRequestError extends Error {
  override readonly name = 'VaultRequestError';
  constructor(
    message: string,
    readonly status: number,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** HTTP status from a node-vault ApiResponseError, undefined for transport errors. */
function statusOf(err: unknown): number | undefined {
  const s = (err as { response?: { statusCode?: unknown } } | null)?.response?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** KV's "nothing here" 404: no error text (missing key, empty listing, soft-deleted version). */
function isEmpty404(err: unknown): boolean {
  return statusOf(err) === 404 && vaultErrors(err) === '';
}

function vaultErrors(err: unknown): string {
  const errors = (err as { response?: { body?: { errors?: unknown } } } | null)?.response?.body?.errors;
  return Array.isArray(errors) ? errors.map(String).join('; ') : '';
}

/** "HTTP 503: Vault is sealed", "HTTP 403: permission denied (check the token's policy)", "ECONNREFUSED ...". */
function describeVaultError(err: unknown): string {
  const status = statusOf(err);
  if (status !== undefined) {
    const text = vaultErrors(err) || 'no error text';
    const hint = status === 403 ? ' (check the token and its policy, see deploy/vault/)' : '';
    return `HTTP ${status}: ${text}${hint}`;
  }
  const e = err as { code?: string; message?: string } | null;
  return [e?.code, e?.message].filter(Boolean).join(' ') || String(err);
}
