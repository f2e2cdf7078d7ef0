// Gateways in NATS JetStream KV.
//
// Bucket:  one per namespace, `weir_<org>_<env>`. org and env are DNS labels, which never
//          contain `_`, so `_` separates them unambiguously and no two namespaces share a bucket
//          (`-` is kept as is; bucket names allow [A-Za-z0-9_-]).
// Key:     the gateway name (a DNS label).
// Value:   JSON bytes {"format":"yaml"|"json","body":"<the user's text>"} (same envelope as Vault).
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
import { keySnapshot, StoreUnavailableError, type ChangeHint, type GatewayStore, type Namespace, type StopWatching, type StoreEntry, type StoreEntryProblem, type StoreSnapshot } from './store.js';
import {
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

export class NatsKvStore implements GatewayStore, GatewayStoreWriter {
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

  /** Binds the namespace's bucket; undefined when it does not exist yet. */
  private async bucket(c: Connected, ns: Namespace, doing: string): Promise<KV | undefined> {
    const name = bucketName(ns);
    try {
      await c.jsm.streams.info(`KV_${name}`);
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      throw new StoreUnavailableError(this.location, `${doing}: cannot look up bucket ${name}: ${errText(err)}`, err);
    }
    return c.js.views.kv(name, { bindOnly: true });
  }

  private source(ns: Namespace, name: string): string {
    return `nats:${bucketName(ns)}/${name}`;
  }

  async list(ns: Namespace): Promise<StoreSnapshot> {
    const doing = `listing bucket ${bucketName(ns)}`;
    const c = await this.ready(doing);
    const kv = await this.bucket(c, ns, doing);
    if (!kv) return { entries: [], problems: [] };
    const keys: string[] = [];
    try {
      for await (const k of await kv.keys()) keys.push(k);
    } catch (err) {
      throw new StoreUnavailableError(this.location, `${doing}: ${errText(err)}`, err);
    }
    const problems: StoreEntryProblem[] = [];
    const entries: StoreEntry[] = [];
    await forEachLimited(keys, this.opts.readConcurrency ?? 16, async (key) => {
      if (!isDnsLabel(key)) {
        problems.push({ source: this.source(ns, key), message: `gateway name ${JSON.stringify(key)} is not a DNS label: use lowercase a-z, 0-9 and '-', 1-63 chars` });
        return;
      }
      const got = await this.readKey(kv, ns, key);
      if (got && 'problem' in got) problems.push({ source: this.source(ns, key), message: got.problem, name: key });
      else if (got) entries.push(got);
    });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    problems.sort((a, b) => a.source.localeCompare(b.source));
    return { entries, problems };
  }

  async read(ns: Namespace, name: string): Promise<StoreSnapshot> {
    assertStoreKey(ns, name);
    const doing = `reading ${this.source(ns, name)}`;
    const kv = await this.bucket(await this.ready(doing), ns, doing);
    return keySnapshot(this.source(ns, name), name, kv ? await this.readKey(kv, ns, name) : null);
  }

  private async readKey(kv: KV, ns: Namespace, name: string): Promise<StoreEntry | { problem: string } | null> {
    let e: KvEntry | null;
    try {
      e = await kv.get(name);
    } catch (err) {
      throw new StoreUnavailableError(this.location, `reading ${this.source(ns, name)}: ${errText(err)}`, err);
    }
    return this.decode(ns, name, e);
  }

  private decode(ns: Namespace, name: string, e: KvEntry | null): StoreEntry | { problem: string } | null {
    if (!e || e.operation !== 'PUT') return null; // DEL/PURGE markers are absent entries
    let value: { format?: unknown; body?: unknown };
    try {
      value = JSON.parse(new TextDecoder().decode(e.value)) as typeof value;
    } catch {
      return { problem: 'value is not JSON: expected {"format": "yaml"|"json", "body": "<text>"}' };
    }
    if ((value.format !== 'yaml' && value.format !== 'json') || typeof value.body !== 'string') {
      return { problem: 'value is not a Weir gateway: expected {"format": "yaml"|"json", "body": "<text>"}' };
    }
    return { name, source: this.source(ns, name), format: value.format, body: value.body, version: String(e.revision) };
  }

  async watch(ns: Namespace, onChange: (reason: string, hint?: ChangeHint) => void): Promise<StopWatching> {
    const bucket = bucketName(ns);
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
        const kv = await this.bucket(c, ns, `watching bucket ${bucket}`);
        if (!kv) throw new Error(`bucket ${bucket} does not exist yet`);
        const it = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
        if (stopped || gen !== generation) {
          it.stop();
          return;
        }
        iter = it;
        // Changes made while we were not watching (outage, bucket just created) are unknown: nudge.
        if (why) onChange(why);
        void (async () => {
          try {
            for await (const e of it) onChange(`${e.operation} ${bucket}/${e.key}@${e.revision}`, isDnsLabel(e.key) ? { name: e.key, version: e.operation === 'PUT' ? String(e.revision) : null } : undefined);
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

  private async writableBucket(ns: Namespace, doing: string): Promise<KV> {
    const c = await this.ready(doing);
    try {
      // Creates the bucket on first use (the control API is the only writer).
      return await c.js.views.kv(bucketName(ns), { history: NATS_KV_HISTORY });
    } catch (err) {
      throw new StoreUnavailableError(this.location, `${doing}: cannot open bucket ${bucketName(ns)}: ${errText(err)}`, err);
    }
  }

  async get(ns: Namespace, name: string): Promise<StoreEntry | null> {
    assertStoreKey(ns, name);
    const doing = `reading ${this.source(ns, name)}`;
    const c = await this.ready(doing);
    const kv = await this.bucket(c, ns, doing);
    if (!kv) return null;
    const got = await this.readKey(kv, ns, name);
    if (got && 'problem' in got) throw new Error(`${this.source(ns, name)}: ${got.problem}`);
    return got;
  }

  async put(ns: Namespace, name: string, body: string, format: StoreFormat, opts: PutOptions = {}): Promise<{ version: string }> {
    assertStoreKey(ns, name);
    const src = this.source(ns, name);
    const kv = await this.writableBucket(ns, `writing ${src}`);
    const value = new TextEncoder().encode(JSON.stringify({ format, body }));
    try {
      let rev: number;
      if (opts.ifVersion === undefined) rev = await kv.put(name, value);
      else if (opts.ifVersion === null) rev = await kv.create(name, value); // also succeeds over a DEL marker
      else {
        const want = Number(opts.ifVersion);
        if (!Number.isInteger(want) || want < 1) throw new VersionConflictError(src, opts.ifVersion, (await this.get(ns, name))?.version ?? null);
        rev = await kv.update(name, value, want);
      }
      return { version: String(rev) };
    } catch (err) {
      if (err instanceof VersionConflictError) throw err;
      if (isWrongSequence(err)) throw new VersionConflictError(src, opts.ifVersion ?? null, (await this.get(ns, name))?.version ?? null);
      throw new StoreUnavailableError(this.location, `writing ${src}: ${errText(err)}`, err);
    }
  }

  async delete(ns: Namespace, name: string, opts: DeleteOptions = {}): Promise<boolean> {
    assertStoreKey(ns, name);
    const src = this.source(ns, name);
    const current = await this.get(ns, name);
    if (opts.ifVersion !== undefined && opts.ifVersion !== (current?.version ?? null)) throw new VersionConflictError(src, opts.ifVersion, current?.version ?? null);
    if (!current) return false;
    const kv = await this.writableBucket(ns, `deleting ${src}`);
    try {
      // previousSeq makes the delete itself conditional, closing the read-then-delete race.
      await kv.delete(name, { previousSeq: Number(current.version) });
      return true;
    } catch (err) {
      if (isWrongSequence(err)) throw new VersionConflictError(src, opts.ifVersion ?? current.version, (await this.get(ns, name))?.version ?? null);
      throw new StoreUnavailableError(this.location, `deleting ${src}: ${errText(err)}`, err);
    }
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

/** JetStream's "wrong last sequence" (err_code 10071) is how KV reports a failed CAS. */
function isWrongSequence(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string } | null;
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(e?.message ?? '');
}

function errText(err: unknown): string {
  const e = err as { code?: string; message?: string } | null;
  return [e?.code, e?.message].filter(Boolean).join(' ') || String(err);
}
