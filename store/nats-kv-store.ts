// Gateways in NATS JetStream KV.
//
// Bucket:  one per namespace, `weir_<org>_<env>`. org and env are DNS labels, which never
//          contain `_`, so `_` separates them unambiguously and no two namespaces share a bucket
//          (`-` is kept as is; bucket names allow [A-Za-z0-9_-]).
// Key:     a gateway's name (a DNS label, one subject token); any other collection's documents
//          are `<collection>.<name>` (store/collections.ts), so a watch or list of gateways
//          (filter `*`) never sees a release record being written.
// Value:   JSON bytes {"format":"yaml"|"json"|"pem","body":"<the user's text>"} (same envelope as Vault).
// Leases:  bucket `weir_system` (one `_`, so never a namespace's), key = the lease name.
// Version: the entry's revision (stream sequence). History: 5 revisions per key.
// A missing bucket means "no gateways in this namespace": the control API creates the bucket on
// the first write. An unreachable server is StoreUnavailableError; the client keeps reconnecting
// forever and watches are re-established after each reconnect without a new store object.
import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  Events,
  KvWatchInclude,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type KvEntry,
  type NatsConnection,
  type QueuedIterator,
} from 'nats';
import { forEachLimited } from '../runtime/bounded-concurrency.js';
import { redactNatsUrl } from '../events/nats-connection.js';
import type { Logger } from '../runtime/log.js';
import { silentLogger } from '../runtime/log.js';
import { COLLECTION_RULES, documentNoun, isDocumentName, type Collection, type DocumentFormat } from './collections.js';
import type { DocumentStore } from './document-store.js';
import { casLeaseBackend, type LeaseBackend } from './lease.js';
import {
  asGatewaySnapshot,
  keySnapshot,
  StoreUnavailableError,
  type ChangeHint,
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

export const NATS_KV_HISTORY = 5;
const BUCKET_PREFIX = 'weir_';
/** Leases live outside every namespace bucket: `weir_system` has one `_`, a namespace's two. */
const LEASE_BUCKET = 'weir_system';

/** The KV key of a document: gateways keep bare names (one token), others `<collection>.<name>`. */
export const keyOf = (collection: Collection, name: string): string => (collection === 'gateways' ? name : `${collection}.${name}`);

/** The subject filter selecting one collection's keys. */
const keyFilter = (collection: Collection): string => (collection === 'gateways' ? '*' : `${collection}.>`);

/** A document name from its key, undefined when the key is not in `collection`. */
function nameOfKey(collection: Collection, key: string): string | undefined {
  if (collection === 'gateways') return key.includes('.') ? undefined : key;
  return key.startsWith(`${collection}.`) ? key.slice(collection.length + 1) : undefined;
}

/** The {format, body} envelope of a KV entry: null for absent/deleted, a problem for anything else. */
function decodeEnvelope(e: KvEntry | null, collection: Collection): { format: DocumentFormat; body: string; version: string } | { problem: string } | null {
  if (!e || e.operation !== 'PUT') return null; // DEL/PURGE markers are absent entries
  const formats = COLLECTION_RULES[collection].formats;
  const expected = `expected {"format": ${formats.map((f) => `"${f}"`).join('|')}, "body": "<text>"}`;
  let value: { format?: unknown; body?: unknown };
  try {
    value = JSON.parse(new TextDecoder().decode(e.value)) as typeof value;
  } catch {
    return { problem: `value is not JSON: ${expected}` };
  }
  if (typeof value.format !== 'string' || !formats.includes(value.format as DocumentFormat) || typeof value.body !== 'string') {
    return { problem: `value is not a Weir ${documentNoun(collection)}: ${expected}` };
  }
  if (Buffer.byteLength(value.body) > COLLECTION_RULES[collection].maxBytes) {
    return { problem: `value is ${Buffer.byteLength(value.body)} bytes, over the ${COLLECTION_RULES[collection].maxBytes}-byte limit for a ${documentNoun(collection)}` };
  }
  return { format: value.format as DocumentFormat, body: value.body, version: String(e.revision) };
}

/** The bucket holding one namespace's gateways. Injective because DNS labels contain no `_`. */
export function bucketName(ns: Namespace): string {
  assertStoreKey(ns);
  return `${BUCKET_PREFIX}${ns.org}_${ns.env}`;
}

/** Inverse of bucketName; undefined for buckets that are not Weir's. */
export function namespaceOfBucket(bucket: string): Namespace | undefined {
  if (!bucket.startsWith(BUCKET_PREFIX)) return undefined;
  const [org, env, ...rest] = bucket.slice(BUCKET_PREFIX.length).split('_');
  if (rest.length > 0 || !org || !env || !isDnsLabel(org) || !isDnsLabel(env)) return undefined;
  return { org, env };
}

export interface NatsKvStoreOptions {
  /** nats://host:port URLs (credentials in the URL are accepted and never logged). */
  servers: string[];
  /** A .creds file (NATS_CREDS) for decentralised auth. */
  credsFile?: string;
  /** A plain auth token (NATS_TOKEN). */
  token?: string;
  logger?: Logger;
  /** Timeout for JetStream API calls and for waiting on a (re)connect inside list/get/put. */
  requestTimeoutMs?: number;
  /** Delay between connect attempts and between retries to start a watch (missing bucket, JetStream not ready). */
  retryMs?: number;
  readConcurrency?: number;
}

interface Connected {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export class NatsKvStore implements GatewayStore, GatewayStoreWriter, DocumentStore {
  readonly kind = 'nats' as const;
  readonly location: string;
  private readonly opts: NatsKvStoreOptions;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private conn: Connected | undefined;
  private connecting: Promise<Connected> | undefined;
  private connected = false;
  private closed = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<(c: Connected) => void>();
  private readonly reconnectListeners = new Set<() => void>();
  private readonly watchers = new Set<StopWatching>();

  constructor(opts: NatsKvStoreOptions) {
    if (opts.servers.length === 0) throw new Error('nats store: no server URLs given; use WEIR_STORE=nats://host:4222[,nats://host2:4222]');
    this.opts = opts;
    this.location = `nats:${opts.servers.map(redactNatsUrl).join(',')}`;
    this.log = opts.logger ?? silentLogger();
    this.timeoutMs = opts.requestTimeoutMs ?? 5000;
    this.retryMs = opts.retryMs ?? 2000;
    this.startConnecting();
  }

  /** Connects in the background, retrying until it works; the client then reconnects on its own. */
  private startConnecting(): void {
    const attempt = async (): Promise<void> => {
      if (this.closed) return;
      try {
        const nc = await connect({
          servers: this.opts.servers,
          name: 'weir',
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: Math.min(this.retryMs, 2000),
          timeout: this.timeoutMs,
          ...(this.opts.token ? { token: this.opts.token } : {}),
          ...(this.opts.credsFile ? { authenticator: credsAuthenticator(readFileSync(this.opts.credsFile)) } : {}),
        });
        if (this.closed) {
          await nc.close();
          return;
        }
        const js = nc.jetstream({ timeout: this.timeoutMs });
        const jsm = await nc.jetstreamManager({ timeout: this.timeoutMs, checkAPI: false });
        this.conn = { nc, js, jsm };
        this.connected = true;
        this.log.info({ server: nc.getServer() }, 'nats store connected');
        void this.followStatus(nc);
        for (const w of this.waiters) w(this.conn);
        this.waiters.clear();
      } catch (err) {
        this.log.warn({ err: errText(err), location: this.location }, 'nats store cannot connect; retrying');
        this.connectTimer = setTimeout(() => void attempt(), this.retryMs);
        this.connectTimer.unref();
      }
    };
    void attempt();
  }

  private async followStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) {
        this.connected = false;
        this.log.warn({ server: s.data }, 'nats store disconnected; reconnecting');
      } else if (s.type === Events.Reconnect) {
        this.connected = true;
        this.log.info({ server: s.data }, 'nats store reconnected');
        for (const l of this.reconnectListeners) l();
      }
    }
  }

  /** The live connection, or StoreUnavailableError if there is none within the request timeout. */
  private async ready(doing: string): Promise<Connected> {
    if (this.closed) throw new StoreUnavailableError(this.location, `${doing}: store is closed`);
    if (this.conn && this.connected) return this.conn;
    if (this.conn) throw new StoreUnavailableError(this.location, `${doing}: disconnected from NATS, reconnecting`);
    let timer: NodeJS.Timeout | undefined;
    let waiter: ((c: Connected) => void) | undefined;
    try {
      return await new Promise<Connected>((resolve, reject) => {
        waiter = resolve;
        this.waiters.add(resolve);
        timer = setTimeout(() => reject(new StoreUnavailableError(this.location, `${doing}: not connected to NATS after ${this.timeoutMs} ms`)), this.timeoutMs);
      });
    } finally {
      clearTimeout(timer);
      if (waiter) this.waiters.delete(waiter);
    }
  }

  /** Binds a bucket; undefined when it does not exist yet. */
  private async bucket(c: Connected, name: string, doing: string): Promise<KV | undefined> {
    try {
      await c.jsm.streams.info(`KV_${name}`);
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      throw new StoreUnavailableError(this.location, `${doing}: cannot look up bucket ${name}: ${errText(err)}`, err);
    }
    return c.js.views.kv(name, { bindOnly: true });
  }

  private source(ns: Namespace, collection: Collection, name: string): string {
    return `nats:${bucketName(ns)}/${keyOf(collection, name)}`;
  }

  async list(ns: Namespace): Promise<StoreSnapshot> {
    return asGatewaySnapshot(await this.listDocuments(ns, 'gateways'));
  }

  async listDocuments(ns: Namespace, collection: Collection): Promise<DocumentSnapshot> {
    const doing = `listing ${collection} in bucket ${bucketName(ns)}`;
    assertDocumentKey(ns, collection);
    const c = await this.ready(doing);
    const kv = await this.bucket(c, bucketName(ns), doing);
    if (!kv) return { entries: [], problems: [] };
    const keys: string[] = [];
    try {
      for await (const k of await kv.keys(keyFilter(collection))) keys.push(k);
    } catch (err) {
      throw new StoreUnavailableError(this.location, `${doing}: ${errText(err)}`, err);
    }
    const noun = documentNoun(collection);
    const problems: StoreEntryProblem[] = [];
    const entries: DocumentEntry[] = [];
    await forEachLimited(keys, this.opts.readConcurrency ?? 16, async (key) => {
      const name = nameOfKey(collection, key) ?? key;
      if (!isDocumentName(collection, name)) {
        problems.push({ source: `nats:${bucketName(ns)}/${key}`, message: `${noun} name ${JSON.stringify(name)} is not a DNS label: use lowercase a-z, 0-9 and '-', 1-63 chars` });
        return;
      }
      const got = await this.readKey(kv, ns, collection, name);
      if (got && 'problem' in got) problems.push({ source: this.source(ns, collection, name), message: got.problem, name });
      else if (got) entries.push(got);
    });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    problems.sort((a, b) => a.source.localeCompare(b.source));
    return { entries, problems };
  }

  async read(ns: Namespace, name: string): Promise<StoreSnapshot> {
    assertStoreKey(ns, name);
    const doing = `reading ${this.source(ns, 'gateways', name)}`;
    const kv = await this.bucket(await this.ready(doing), bucketName(ns), doing);
    return asGatewaySnapshot(keySnapshot(this.source(ns, 'gateways', name), name, kv ? await this.readKey(kv, ns, 'gateways', name) : null));
  }

  private async readKey(kv: KV, ns: Namespace, collection: Collection, name: string): Promise<DocumentEntry | { problem: string } | null> {
    let e: KvEntry | null;
    try {
      e = await kv.get(keyOf(collection, name));
    } catch (err) {
      throw new StoreUnavailableError(this.location, `reading ${this.source(ns, collection, name)}: ${errText(err)}`, err);
    }
    const got = decodeEnvelope(e, collection);
    if (got === null || 'problem' in got) return got;
    return { name, source: this.source(ns, collection, name), format: got.format, body: got.body, version: got.version };
  }

  watch(ns: Namespace, onChange: (reason: string, hint?: ChangeHint) => void): Promise<StopWatching> {
    return this.watchDocuments(ns, 'gateways', onChange);
  }

  async watchDocuments(ns: Namespace, collection: Collection, onChange: (reason: string, hint?: ChangeHint) => void): Promise<StopWatching> {
    const bucket = bucketName(ns);
    const filter = keyFilter(collection);
    let iter: QueuedIterator<KvEntry> | undefined;
    let retry: NatsTimer;
    let stopped = false;
    let generation = 0;

    const begin = async (why: string | undefined): Promise<void> => {
      const gen = ++generation;
      clearTimeout(retry);
      iter?.stop();
      iter = undefined;
      if (stopped) return;
      try {
        const c = await this.ready(`watching bucket ${bucket}`);
        const kv = await this.bucket(c, bucket, `watching bucket ${bucket}`);
        if (!kv) throw new Error(`bucket ${bucket} does not exist yet`);
        const it = await kv.watch({ key: filter, include: KvWatchInclude.UpdatesOnly });
        if (stopped || gen !== generation) {
          it.stop();
          return;
        }
        iter = it;
        // Changes made while we were not watching (outage, bucket just created) are unknown: nudge.
        if (why) onChange(why);
        void (async () => {
          try {
            for await (const e of it) {
              const name = nameOfKey(collection, e.key);
              onChange(`${e.operation} ${bucket}/${e.key}@${e.revision}`, name !== undefined && isDocumentName(collection, name) ? { name, version: e.operation === 'PUT' ? String(e.revision) : null } : undefined);
            }
          } catch (err) {
            this.log.warn({ err: errText(err), bucket }, 'nats watch ended; restarting');
            if (!stopped && gen === generation) schedule('watch restarted');
          }
        })();
      } catch (err) {
        this.log.debug({ err: errText(err), bucket }, 'nats watch not started; retrying');
        if (!stopped && gen === generation) schedule(why ?? 'watch started');
      }
    };
    const schedule = (why: string): void => {
      clearTimeout(retry);
      retry = setTimeout(() => void begin(why), this.retryMs);
      retry.unref();
    };
    const onReconnect = (): void => void begin('nats reconnected');
    this.reconnectListeners.add(onReconnect);
    await begin(undefined);

    const stop: StopWatching = async () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(retry);
      this.reconnectListeners.delete(onReconnect);
      this.watchers.delete(stop);
      iter?.stop();
    };
    this.watchers.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.connectTimer);
    await Promise.all([...this.watchers].map((s) => s()));
    const c = this.conn;
    this.conn = undefined;
    if (c && !c.nc.isClosed()) await c.nc.close();
  }

  // ---- writes ------------------------------------------------------------------------------

  private async writableBucket(name: string, doing: string): Promise<KV> {
    const c = await this.ready(doing);
    try {
      // Creates the bucket on first use (the control API is the only writer).
      return await c.js.views.kv(name, { history: NATS_KV_HISTORY });
    } catch (err) {
      throw new StoreUnavailableError(this.location, `${doing}: cannot open bucket ${name}: ${errText(err)}`, err);
    }
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
    const doing = `reading ${this.source(ns, collection, name)}`;
    const c = await this.ready(doing);
    const kv = await this.bucket(c, bucketName(ns), doing);
    if (!kv) return null;
    const got = await this.readKey(kv, ns, collection, name);
    if (got && 'problem' in got) throw new Error(`${this.source(ns, collection, name)}: ${got.problem}`);
    return got;
  }

  async putDocument(ns: Namespace, collection: Collection, name: string, body: string, format: DocumentFormat, opts: PutOptions = {}): Promise<{ version: string }> {
    assertDocumentKey(ns, collection, name);
    if (!COLLECTION_RULES[collection].formats.includes(format)) throw new Error(`a ${documentNoun(collection)} cannot be stored as ${format}: use ${COLLECTION_RULES[collection].formats.join(' or ')}`);
    const src = this.source(ns, collection, name);
    const kv = await this.writableBucket(bucketName(ns), `writing ${src}`);
    return this.casPut(kv, keyOf(collection, name), JSON.stringify({ format, body }), opts.ifVersion, src, async () => (await this.getDocument(ns, collection, name))?.version ?? null);
  }

  /** put / create / update by `ifVersion` (undefined = unconditional, null = must not exist). */
  private async casPut(kv: KV, key: string, json: string, ifVersion: string | null | undefined, src: string, currentVersion: () => Promise<string | null>): Promise<{ version: string }> {
    const value = new TextEncoder().encode(json);
    try {
      let rev: number;
      if (ifVersion === undefined) rev = await kv.put(key, value);
      else if (ifVersion === null) rev = await kv.create(key, value); // also succeeds over a DEL marker
      else {
        const want = Number(ifVersion);
        if (!Number.isInteger(want) || want < 1) throw new VersionConflictError(src, ifVersion, await currentVersion());
        rev = await kv.update(key, value, want);
      }
      return { version: String(rev) };
    } catch (err) {
      if (err instanceof VersionConflictError) throw err;
      if (isWrongSequence(err) || (ifVersion === null && isKeyExists(err))) throw new VersionConflictError(src, ifVersion ?? null, await currentVersion());
      throw new StoreUnavailableError(this.location, `writing ${src}: ${errText(err)}`, err);
    }
  }

  async deleteDocument(ns: Namespace, collection: Collection, name: string, opts: DeleteOptions = {}): Promise<boolean> {
    assertDocumentKey(ns, collection, name);
    const src = this.source(ns, collection, name);
    const current = await this.getDocument(ns, collection, name);
    if (opts.ifVersion !== undefined && opts.ifVersion !== (current?.version ?? null)) throw new VersionConflictError(src, opts.ifVersion, current?.version ?? null);
    if (!current) return false;
    const kv = await this.writableBucket(bucketName(ns), `deleting ${src}`);
    try {
      // previousSeq makes the delete itself conditional, closing the read-then-delete race.
      await kv.delete(keyOf(collection, name), { previousSeq: Number(current.version) });
      return true;
    } catch (err) {
      if (isWrongSequence(err)) throw new VersionConflictError(src, opts.ifVersion ?? current.version, (await this.getDocument(ns, collection, name))?.version ?? null);
      throw new StoreUnavailableError(this.location, `deleting ${src}: ${errText(err)}`, err);
    }
  }

  leases(): LeaseBackend {
    const src = (name: string): string => `nats:${LEASE_BUCKET}/${name}`;
    const get = async (name: string): Promise<{ body: string; version: string } | null> => {
      const doing = `reading lease ${src(name)}`;
      const kv = await this.bucket(await this.ready(doing), LEASE_BUCKET, doing);
      if (!kv) return null;
      let e: KvEntry | null;
      try {
        e = await kv.get(name);
      } catch (err) {
        throw new StoreUnavailableError(this.location, `${doing}: ${errText(err)}`, err);
      }
      if (!e || e.operation !== 'PUT') return null;
      return { body: new TextDecoder().decode(e.value), version: String(e.revision) };
    };
    return casLeaseBackend(`nats:${LEASE_BUCKET}`, {
      get,
      put: async (name, body, ifVersion) => this.casPut(await this.writableBucket(LEASE_BUCKET, `writing lease ${src(name)}`), name, body, ifVersion, src(name), async () => (await get(name))?.version ?? null),
      isConflict: (err) => err instanceof VersionConflictError,
    });
  }

  async listNamespaces(): Promise<Namespace[]> {
    const c = await this.ready('listing buckets');
    const out: Namespace[] = [];
    try {
      for await (const stream of c.jsm.streams.names()) {
        const ns = stream.startsWith('KV_') ? namespaceOfBucket(stream.slice(3)) : undefined;
        if (ns) out.push(ns);
      }
    } catch (err) {
      throw new StoreUnavailableError(this.location, `listing buckets: ${errText(err)}`, err);
    }
    return out.sort((a, b) => `${a.org}/${a.env}`.localeCompare(`${b.org}/${b.env}`));
  }
}

type NatsTimer = NodeJS.Timeout | undefined;

function isStreamNotFound(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: string; message?: string } | null;
  return e?.api_error?.err_code === 10059 || /stream not found/i.test(e?.message ?? '');
}

/** kv.create on a key that exists (not a DEL marker) answers "wrong last sequence" too on current servers; older clients report it as "key exists". */
function isKeyExists(err: unknown): boolean {
  return /key exists/i.test((err as { message?: string } | null)?.message ?? '');
}

/** JetStream's "wrong last sequence" (err_code 10071) is how KV reports a failed CAS. */
function isWrongSequence(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string } | null;
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(e?.message ?? '');
}

function errText(err: unknown): string {
  const e = err as { code?: string; message?: string } | null;
  return [e?.code, e?.message].filter(Boolean).join(' ') || String(err);
}
