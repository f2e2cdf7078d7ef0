// The agent: store → model → plan → apply, one way, with metrics and status on the side.
//   store (list/watch) ─▶ GatewayBook.resolve (parse, validate, per-gateway fallback)
//     ─▶ buildHaproxyModel ─▶ plan(running, desired) ─▶ Applier (runtime now, reload coalesced)
// All syncs and applies run one at a time on a single chain, so the running model is never
// raced; reloads wait for the minimum interval, runtime changes never wait for a reload.
import { mkdir, access, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../runtime/log.js';
import { AgentMetrics } from './metrics.js';
import { reservedPorts, type AgentSettings } from './settings.js';
import { GatewayBook, type GatewayProblem, type ResolvedGateway } from './sync/gateway-book.js';
import { buildHaproxyModel, type HaproxyModel, type ModelSettings } from './plan/haproxy-model.js';
import { plan } from './plan/planner.js';
import { ConfigRenderer, DEFAULT_TEMPLATE_DIR, spansOf, type RenderedConfig } from './render/renderer.js';
import { Applier, ConfigRejectedError } from './apply/applier.js';
import { HaproxyProcess } from './haproxy/process.js';
import { RuntimeClient } from './haproxy/runtime-client.js';
import { MasterClient } from './haproxy/master-client.js';
import { readLastGood, writeLastGood, type LastGood } from './state/last-good.js';
import { namespaceKey, type ChangeHint, type GatewayStore, type StopWatching, type StoreEntry, type StoreSnapshot } from '../store/store.js';
import { patchSnapshot } from './sync/snapshot-patch.js';
import { AgentTelemetry } from './telemetry/agent-telemetry.js';
import type { RenderSettings } from './render/renderer.js';
import { MassRemovalGuard, type HeldRemoval } from './guards/mass-removal.js';
import { agentInstance, type AgentInstance } from './guards/agent-instance.js';
import { checkFdBudget } from './guards/fd-budget.js';
import { DnsRecordCheck, type AgentWarning } from './discovery/dns-record-check.js';
import { AgentTls, type CertificateStore } from './tls/agent-tls.js';
import type { CertificateStatus } from './tls/certificate-book.js';
import { readLoaded, runtimeDifference, writeLoaded } from './apply/adoption-check.js';
import { RetryTimer } from './sync/retry-timer.js';

/** More gateways than this named in one go are read with one list instead. */
const MAX_TARGETED_READS = 32;

export interface AgentStatus {
  agentId: string;
  namespace: string;
  store: { location: string; ok: boolean; error: string | null; lastReadAt: string | null };
  haproxy: { running: boolean; pid: number | null; adopted: boolean; restarts: number };
  servingFromCache: boolean;
  /** Why the last-good cache could not be used at start, if it could not. */
  cacheError: string | null;
  ready: boolean;
  applied: Array<{ name: string; version: string; source: string }>;
  problems: GatewayProblem[];
  lastApply: { at: string; kind: string; checksum: string } | null;
  lastError: string | null;
  pendingReload: boolean;
  /** Ports the agent's own listeners hold, which no gateway may use. */
  reservedPorts: Array<{ port: number; holder: string }>;
  /** [guards] This process (two processes with one agent id are told apart by it). */
  instance: AgentInstance;
  /** [guards] A removal of most gateways at once, held back until the store keeps saying so. */
  massRemoval: HeldRemoval | null;
  /** [edge] Worth an operator's look, nothing refused: DNS records without a slot, … */
  warnings: AgentWarning[];
  /** [edge] Certificates the gateways reference or HAProxy serves (never a key). */
  certificates: CertificateStatus[];
}

interface Paths {
  configFile: string;
  mapsDir: string;
  stageDir: string;
  serverStateFile: string;
  adminSocket: string;
  masterSocket: string;
  pidFile: string;
  cacheFile: string;
  /** [edge] crt-lists and certificate PEMs. */
  tlsDir: string;
  /** [edge] Checksum of what the master last loaded (or was brought to at runtime): adoption without a reload. */
  loadedFile: string;
}

export class Agent {
  readonly metrics: AgentMetrics;
  private readonly paths: Paths;
  private readonly book: GatewayBook;
  private readonly reservedPortList: AgentStatus['reservedPorts'];
  private readonly applier: Applier;
  private readonly runtime: RuntimeClient;
  private readonly master: MasterClient;
  private readonly haproxy: HaproxyProcess;
  private readonly modelSettings: ModelSettings;
  /** [telemetry] null when WEIR_TELEMETRY=off. */
  readonly telemetry: AgentTelemetry | null;
  private readonly renderSettings: RenderSettings;
  /** [guards] Holds back removals that look like a store that lies. */
  private readonly removalGuard: MassRemovalGuard;
  /** [guards] What the last-good cache says HAProxy served, until this agent applies something itself. */
  private bootServed: ResolvedGateway[] = [];
  private readonly instance = agentInstance();
  /** [edge] Record counts of DNS/SRV targets against their slots. */
  private readonly dnsCheck: DnsRecordCheck;
  /** [edge] Certificates from the store for TLS gateways. */
  private readonly tls: AgentTls;

  private chain: Promise<void> = Promise.resolve();
  private syncQueued = false;
  private debounceTimer: NodeJS.Timeout | null = null;
  private debounceDelayMs = 0;
  /** What the next sync reads: the whole namespace, or only these gateways. */
  private pendingFull = false;
  private readonly pendingNames = new Set<string>();
  /** The store as last read (a full list, patched by targeted reads); null forces a full list. */
  private snapshot: StoreSnapshot | null = null;
  private persistTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;
  /** A reload job is on the chain and has not started: the next request joins it. */
  private reloadQueued = false;
  /** A failed store read or reload is retried after 0.5 s, doubling: never left to the next poll. */
  private readonly storeRetry = new RetryTimer(500, () => this.pollIntervalMs());
  private readonly reloadRetry = new RetryTimer(500, () => this.pollIntervalMs());
  private stopWatching: StopWatching | null = null;
  private stopped = false;

  private running: HaproxyModel | null = null;
  private latestDesired: ResolvedGateway[] | null = null;
  private haproxyStarted = false;
  private lastReloadAt = 0;
  /** Gateways whose current version HAProxy's config check refused, by name → version + messages. */
  private readonly haproxyRejected = new Map<string, { version: string; source: string; errors: string[] }>();
  private problems: GatewayProblem[] = [];
  private status: Omit<AgentStatus, 'applied' | 'problems' | 'haproxy' | 'ready' | 'pendingReload' | 'reservedPorts' | 'instance' | 'massRemoval' | 'warnings' | 'certificates'>;
  private restarts = 0;
  private adopted = false;
  private storeErrorLogged = false;

  constructor(
    readonly settings: AgentSettings,
    private readonly store: CertificateStore,
    private readonly logger: Logger,
  ) {
    this.metrics = new AgentMetrics();
    this.removalGuard = new MassRemovalGuard(settings.edge.massRemoval, this.metrics.registry, Date.now, { logger, reread: () => this.requestSync('mass-removal hold elapsed') });
    this.tls = new AgentTls(store, settings.namespace, this.metrics.registry, logger.child({ component: 'tls' }));
    this.dnsCheck = new DnsRecordCheck({
      nameservers: settings.edge.dns.nameservers,
      intervalMs: settings.edge.dns.checkIntervalMs,
      registry: this.metrics.registry,
      logger: logger.child({ component: 'dns-check' }),
      running: () => this.running,
      onChange: () => this.notifyStatus(),
    });
    const reserved = reservedPorts(settings);
    this.book = new GatewayBook(reserved);
    this.reservedPortList = [...reserved].map(([port, holder]) => ({ port, holder }));
    const s = settings.stateDir;
    this.paths = {
      configFile: join(s, 'haproxy.cfg'),
      mapsDir: join(s, 'maps'),
      stageDir: join(s, 'stage'),
      tlsDir: join(s, 'tls'),
      loadedFile: join(s, 'loaded.sha256'),
      serverStateFile: join(s, 'server-state'),
      adminSocket: join(s, 'admin.sock'),
      masterSocket: settings.masterSocket ?? join(s, 'master.sock'),
      pidFile: join(s, 'haproxy.pid'),
      cacheFile: join(s, 'last-good.json'),
    };
    this.modelSettings = { bindAddress: settings.bindAddress, mapsDir: this.paths.mapsDir, minSlots: settings.serverSlots, vhostPort: settings.vhostPort, dns: settings.edge.dns, tlsDir: this.paths.tlsDir };
    this.runtime = new RuntimeClient({ socket: this.paths.adminSocket, logger: logger.child({ component: 'runtime' }) });
    this.haproxy = new HaproxyProcess({
      bin: settings.haproxyBin,
      configPath: this.paths.configFile,
      masterSocket: this.paths.masterSocket,
      pidFile: this.paths.pidFile,
      adopt: true,
      detached: settings.onExit === 'keep',
      // [edge] A master socket given = HAProxy lives elsewhere (its own container): attach only, never spawn.
      attachOnly: settings.masterSocket !== null,
      logger: logger.child({ component: 'haproxy' }),
    });
    this.master = new MasterClient({ socket: this.paths.masterSocket, logger, stderrTail: () => this.haproxy.recentStderr() });
    this.applier = new Applier({
      bin: settings.haproxyBin,
      paths: this.paths,
      renderer: new ConfigRenderer(settings.templateDir ?? DEFAULT_TEMPLATE_DIR),
      renderSettings: (this.renderSettings = {
        adminSocket: this.paths.adminSocket,
        serverStateFile: this.paths.serverStateFile,
        hardStopAfter: settings.hardStopAfter,
        maxReloads: settings.maxReloads,
        maxconn: settings.maxconn,
        logTarget: settings.logTarget,
        monitorPort: settings.monitorPort,
      }),
      runtime: this.runtime,
      master: this.master,
      logger,
      onRuntimeCommands: (ok, failed) => {
        this.metrics.runtimeCommands.inc({ result: 'ok' }, ok);
        if (failed) this.metrics.runtimeCommands.inc({ result: 'error' }, failed);
      },
      // [telemetry] the per-route log sampling files (created below, with the telemetry).
      sideFiles: {
        ensure: (config) => this.telemetry?.ensureSampleFiles(config) ?? Promise.resolve(),
        prune: (config) => this.telemetry?.pruneSampleFiles(config) ?? Promise.resolve(),
      },
    });
    this.status = {
      agentId: settings.agentId || hostname(),
      namespace: namespaceKey(settings.namespace),
      store: { location: store.location, ok: false, error: null, lastReadAt: null },
      servingFromCache: false,
      cacheError: null,
      lastApply: null,
      lastError: null,
    };
    // [telemetry] log receiver + traffic/backend metrics in this registry; labels follow every apply.
    this.telemetry = settings.telemetry.enabled
      ? new AgentTelemetry({
          settings: settings.telemetry,
          namespace: settings.namespace,
          agentId: this.status.agentId,
          stateDir: s,
          logTarget: settings.logTarget,
          registry: this.metrics.registry,
          adminSocket: this.paths.adminSocket,
          logger,
          running: () => this.running,
          applied: () => this.book.appliedGateways().map((a) => ({ gateway: a.gateway.name, routes: a.gateway.routes.map((r) => r.name) })),
        })
      : null;
    if (this.telemetry) this.onStatusChange(() => this.telemetry?.refresh());
    this.haproxy.on('started', ({ pid, adopted }) => {
      this.adopted = adopted;
      this.metrics.haproxyUp.set(1);
      this.logger.info({ pid, adopted }, adopted ? 'attached to running HAProxy master' : 'HAProxy master started');
    });
    this.haproxy.on('exited', ({ code, signal }) => {
      this.metrics.haproxyUp.set(0);
      if (!this.stopped) this.logger.error({ code, signal }, 'HAProxy master exited; restarting from the last good config');
      // The restart reads the files on disk: write runtime changes still waiting to be persisted.
      if (!this.stopped) this.flushPersist();
    });
    this.haproxy.on('restarting', ({ attempt, delayMs }) => {
      this.restarts += 1;
      this.metrics.haproxyRestarts.inc();
      this.logger.warn({ attempt, delayMs }, 'restarting HAProxy');
    });
  }

  async start(): Promise<void> {
    await mkdir(this.paths.mapsDir, { recursive: true });
    await this.ensureStateFile();
    const ns = this.settings.namespace;
    this.logger.info({ namespace: namespaceKey(ns), store: this.store.location, stateDir: this.settings.stateDir }, 'agent starting');
    // [telemetry] before the first render: the receiver's port becomes HAProxy's log target.
    if (this.telemetry) Object.assign(this.renderSettings, await this.telemetry.start());

    let cache: LastGood | null = null;
    try {
      cache = await readLastGood(this.paths.cacheFile, namespaceKey(ns));
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'last-good cache refused');
      this.status.cacheError = (err as Error).message;
    }
    // [guards] The cache is what HAProxy last served: a first read that drops most of it is held.
    if (cache) this.bootServed = this.parseEntries(cache.entries);

    const first = await this.readStore();
    if (first) {
      await this.enqueue(() => this.applyResolution(first.desired, first.problems, 'start'));
    } else if (cache) {
      await this.bootFromCache(cache);
    } else {
      this.logger.error('store unreadable and no usable last-good cache: HAProxy starts with no gateways until the store answers');
      await this.enqueue(() => this.startEmpty());
    }

    this.stopWatching = await this.store.watch(ns, (reason, hint) => this.requestSync(reason, hint)).catch((err: unknown) => {
      this.logger.warn({ err: (err as Error).message }, 'store watch unavailable; polling only');
      return null;
    });
    this.schedulePoll();
    this.dnsCheck.start();
    await this.tls.watch((reason) => this.requestSync(reason));
  }

  /**
   * [nats-link] Whether change events are arriving. While they are, the poll is only a safety
   * net and runs at WEIR_POLL_INTERVAL_WITH_NATS_MS: a Vault list reads every key, so 20 agents
   * polling 1,000 gateways every 5 s would be 4,000 reads/s. When events stop, the normal
   * interval applies at once.
   */
  setEventsConnected(connected: boolean): void {
    if (connected === this.eventsConnected) return;
    this.eventsConnected = connected;
    this.logger.info({ pollIntervalMs: this.pollIntervalMs() }, connected ? 'change events connected: polling less often' : 'change events lost: polling at the normal interval');
    // Either way the next poll follows the new interval (the link syncs once on connect).
    if (this.pollTimer) {
      clearTimeout(this.pollTimer);
      this.schedulePoll();
    }
  }

  private eventsConnected = false;

  private pollIntervalMs(): number {
    const s = this.settings;
    return this.eventsConnected ? Math.max(s.pollIntervalMs, s.pollIntervalWithNatsMs) : s.pollIntervalMs;
  }

  /**
   * Polls at the interval ±10 %: agents rolled out together would otherwise list the store in
   * lockstep, a load spike on Vault every interval.
   */
  private schedulePoll(): void {
    if (this.stopped) return;
    const ms = this.pollIntervalMs() * (0.9 + 0.2 * Math.random());
    this.pollTimer = setTimeout(() => {
      this.requestSync('poll');
      this.schedulePoll();
    }, ms);
    this.pollTimer.unref();
  }

  /**
   * Asks for a sync. Without a hint (file events, polls) the whole namespace is re-read after
   * the debounce, so bursts become one read. With a hint (a NATS event or KV watch naming one
   * gateway) only that key is read, at once: hints that arrive while a sync runs are read
   * together by the next one, and a hint naming the version already served is dropped.
   */
  requestSync(reason: string, hint?: ChangeHint): void {
    if (this.stopped) return;
    if (hint && this.alreadyServes(hint)) {
      this.logger.debug({ reason, gateway: hint.name, version: hint.version }, 'change already applied');
      return;
    }
    if (hint && this.store.read && this.snapshot) this.pendingNames.add(hint.name);
    else this.pendingFull = true;
    const delay = hint ? 0 : this.settings.debounceMs;
    if (this.debounceTimer) {
      if (delay >= this.debounceDelayMs) return;
      clearTimeout(this.debounceTimer);
    }
    this.debounceDelayMs = delay;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      if (this.syncQueued) return;
      this.syncQueued = true;
      void this.enqueue(async () => {
        this.syncQueued = false;
        await this.sync(this.takePending());
      }).catch((err: unknown) => this.logger.error({ err, reason }, 'sync failed'));
    }, delay);
  }

  /** Runs one full sync now and waits for it (tests, CLI). */
  async syncNow(): Promise<void> {
    await this.enqueue(() => this.sync('full'));
  }

  /** True when the hinted version (or absence) is what HAProxy serves and nothing is wrong with it. */
  private alreadyServes(hint: ChangeHint): boolean {
    if (hint.version === undefined || this.problems.some((p) => p.name === hint.name)) return false;
    const served = this.book.appliedEntry(hint.name);
    return hint.version === null ? served === undefined : served?.version === hint.version;
  }

  private takePending(): 'full' | string[] | null {
    const scope = this.pendingFull || this.pendingNames.size > MAX_TARGETED_READS ? 'full' : this.pendingNames.size > 0 ? [...this.pendingNames] : null;
    this.pendingFull = false;
    this.pendingNames.clear();
    return scope;
  }

  /** One store read (the namespace, or some gateways) and apply; only ever run on the chain. */
  private async sync(scope: 'full' | string[] | null): Promise<void> {
    if (scope === null) return; // an earlier sync took these requests
    const res = await this.readStore(scope);
    if (res) await this.applyResolution(res.desired, res.problems, 'sync');
  }

  /** Waits until every queued sync/apply has finished, including a deferred write of the running state. */
  async idle(): Promise<void> {
    this.flushPersist();
    let last: Promise<void> | null = null;
    while (last !== this.chain) {
      last = this.chain;
      await last.catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.debounceTimer, this.pollTimer, this.reloadTimer]) if (t) clearTimeout(t);
    this.storeRetry.cancel();
    this.reloadRetry.cancel();
    this.removalGuard.stop();
    await this.stopWatching?.().catch(() => undefined);
    await this.dnsCheck.stop();
    await this.tls.stop();
    this.flushPersist();
    await this.idle();
    await this.cacheChain.catch(() => undefined);
    await this.store.close().catch(() => undefined);
    this.runtime.close();
    this.master.close();
    // [telemetry] last counter read and the worker sessions closed, or HAProxy's stop would wait for them.
    await this.telemetry?.beforeHaproxyStop();
    await this.haproxy.stop({ mode: this.settings.onExit });
    // [telemetry] after HAProxy: its last lines are in; flushes Elasticsearch for a bounded time.
    await this.telemetry?.stop().catch((err: unknown) => this.logger.error({ err }, 'telemetry stop failed'));
    this.logger.info({ haproxy: this.settings.onExit }, 'agent stopped');
  }

  getStatus(): AgentStatus {
    const problems = [...this.problems];
    for (const [name, r] of this.haproxyRejected) {
      if (!problems.some((p) => p.name === name && p.version === r.version)) {
        const serving = this.book.appliedGateways().find((a) => a.gateway.name === name);
        problems.push({ name, source: r.source, version: r.version, errors: r.errors, servingVersion: serving?.entry.version ?? null });
      }
    }
    return {
      ...this.status,
      haproxy: { running: this.haproxy.isRunning(), pid: this.haproxy.pid ?? null, adopted: this.adopted, restarts: this.restarts },
      ready: this.isReady(),
      applied: this.book.appliedEntries().map((e) => ({ name: e.name, version: e.version, source: e.source })),
      problems,
      pendingReload: this.reloadTimer !== null || this.reloadQueued,
      reservedPorts: this.reservedPortList,
      instance: this.instance,
      massRemoval: this.removalGuard.status(),
      warnings: [...this.dnsCheck.warnings(), ...this.tls.warnings()],
      certificates: this.tls.status(),
    };
  }

  isReady(): boolean {
    return this.haproxyStarted && this.haproxy.isRunning() && (this.status.lastApply !== null || this.status.servingFromCache);
  }

  /**
   * [nats-link] Calls `listener` after every sync/apply/reload job (each may change what is
   * applied, the problems or lastError). Cheap to call often: listeners compare what they need.
   */
  onStatusChange(listener: () => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private readonly statusListeners = new Set<() => void>();

  private notifyStatus(): void {
    for (const l of this.statusListeners) {
      try {
        l();
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'status listener failed');
      }
    }
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    // [nats-link] every job ends with a status notification, whatever its outcome.
    const next = this.chain.then(fn, fn).finally(() => this.notifyStatus());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async ensureStateFile(): Promise<void> {
    // HAProxy warns about an empty or missing state file; a bare version line is a valid empty one.
    try {
      await access(this.paths.serverStateFile);
    } catch {
      await writeFile(this.paths.serverStateFile, '1\n');
    }
  }

  /** `scope`: the whole namespace, or only these gateways (patched into the last snapshot). */
  private async readStore(scope: 'full' | string[] = 'full'): Promise<{ desired: ResolvedGateway[]; problems: GatewayProblem[] } | null> {
    const ns = this.settings.namespace;
    const base = this.snapshot;
    const read = this.store.read?.bind(this.store);
    const targeted = scope !== 'full' && base !== null && read !== undefined;
    const scopeLabel = targeted ? 'gateways' : 'namespace';
    try {
      const t0 = performance.now();
      const snapshot = targeted ? patchSnapshot(base, new Set(scope), await Promise.all(scope.map((name) => read(ns, name)))) : await this.store.list(ns);
      this.snapshot = snapshot;
      this.lastSyncTimings.listMs = performance.now() - t0;
      this.lastSyncTimings.scope = scopeLabel;
      this.metrics.syncs.inc({ scope: scopeLabel, result: 'ok' });
      this.metrics.storeUp.set(1);
      if (!this.status.store.ok) this.logger.info({ store: this.store.location }, 'store readable');
      this.status.store = { location: this.store.location, ok: true, error: null, lastReadAt: new Date().toISOString() };
      this.storeErrorLogged = false;
      this.storeRetry.reset();
      const t1 = performance.now();
      const res = this.book.resolve(snapshot);
      this.lastSyncTimings.resolveMs = performance.now() - t1;
      const guarded = this.guardRemovals(res.desired);
      // [edge] TLS gateways need their certificates; one that cannot get them serves its last good version.
      const tls = await this.tls.resolve(guarded, (name) => this.servedFallback(guarded, name), !targeted, this.settings.vhostPort);
      return { desired: tls.desired, problems: [...res.problems, ...tls.problems] };
    } catch (err) {
      // A change read while the store was failing may be lost: the next sync lists everything.
      this.snapshot = null;
      this.metrics.syncs.inc({ scope: scopeLabel, result: 'store_error' });
      this.metrics.storeUp.set(0);
      const message = (err as Error).message;
      this.status.store = { ...this.status.store, ok: false, error: message };
      // Log the outage once, not on every poll; traffic keeps flowing on the running config.
      if (!this.storeErrorLogged) this.logger.error({ err: message }, 'store unreadable; keeping the running configuration');
      this.storeErrorLogged = true;
      // A change read while the store was failing would otherwise wait for the next poll.
      this.storeRetry.schedule(() => this.requestSync('retry after a failed store read'));
      return null;
    }
  }

  /**
   * [guards] The store's answer, or, when it would remove most served gateways at once, that
   * answer plus the gateways it drops, until the store has said the same for the hold time.
   */
  private guardRemovals(desired: ResolvedGateway[]): ResolvedGateway[] {
    const applied = this.book.appliedGateways();
    return this.removalGuard.guard(desired, applied.length > 0 || this.status.lastApply ? applied : this.bootServed);
  }

  /** [edge] The served version of a gateway, when it differs from the desired one. */
  private servedFallback(desired: ResolvedGateway[], name: string): ResolvedGateway | undefined {
    const served = this.book.appliedGateways().find((a) => a.gateway.name === name);
    const wanted = desired.find((d) => d.gateway.name === name);
    return served && wanted && served.entry.version !== wanted.entry.version ? served : undefined;
  }

  /** [edge] A certificate changed (NATS `certificates.changed`): re-read it and the namespace. */
  requestCertificateSync(name: string): void {
    this.tls.markStale(name);
    this.requestSync(`certificate ${name} changed`);
  }

  /** [guards] A deletion the control API announced on NATS: applied at once, never held. */
  noteAnnouncedDeletion(name: string): void {
    this.removalGuard.noteAnnouncedDeletion(name);
  }

  private parseEntries(entries: StoreEntry[]): ResolvedGateway[] {
    const resolved: ResolvedGateway[] = [];
    for (const entry of entries) {
      const parsed = this.book.parse(entry);
      if (parsed.ok) resolved.push({ entry, gateway: parsed.gateway });
    }
    return resolved;
  }

  private async bootFromCache(cache: LastGood): Promise<void> {
    this.logger.warn({ writtenAt: cache.writtenAt, gateways: cache.entries.length }, 'store unreadable: booting HAProxy from the last-good cache');
    const resolved = this.parseEntries(cache.entries);
    this.book.commit(resolved);
    const rendered: RenderedConfig = { config: cache.config, maps: cache.maps, ...(cache.tlsFiles ? { tlsFiles: cache.tlsFiles } : {}), spans: spansOf(cache.config), checksum: cache.configChecksum };
    if (this.refusedForFds(rendered.config, 'start')) return;
    await this.applier.install(rendered);
    await this.startHaproxy();
    await this.noteLoaded(rendered.checksum);
    // The running slot layout came from an earlier run: the first store read reloads to re-sync it.
    this.running = null;
    this.status.servingFromCache = true;
    this.metrics.servingFromCache.set(1);
    this.metrics.setConfigChecksum(cache.configChecksum);
    this.metrics.appliedGateways.set(resolved.length);
  }

  /** HAProxy with no gateways (monitor only), so probes answer; not an apply and never cached. */
  private async startEmpty(): Promise<void> {
    const alive = await this.master.showProc().then(() => true, () => false);
    if (alive) {
      // A kept HAProxy still serves its last config: adopt it and leave its files alone.
      await this.startHaproxy();
      this.running = null;
      return;
    }
    const model = buildHaproxyModel([], this.modelSettings);
    const rendered = await this.applier.stage(model);
    await this.applier.install(rendered);
    await this.startHaproxy();
    await this.noteLoaded(rendered.checksum);
    this.running = model;
  }

  /** [edge] Files installed, then HAProxy started on them: it runs them. Adopted, nobody knows what it loaded. */
  private async noteLoaded(checksum: string): Promise<void> {
    if (this.adopted) await rm(this.paths.loadedFile, { force: true });
    else await writeLoaded(this.paths.loadedFile, checksum);
  }

  private async startHaproxy(): Promise<void> {
    await this.haproxy.start();
    await this.haproxy.waitReady(30_000);
    this.haproxyStarted = true;
  }

  private async applyResolution(desired: ResolvedGateway[], problems: GatewayProblem[], kind: 'start' | 'sync'): Promise<void> {
    // A version HAProxy refused stays refused until the definition changes.
    let filtered = desired;
    for (const d of desired) {
      const rejected = this.haproxyRejected.get(d.gateway.name);
      if (!rejected) continue;
      if (rejected.version === d.entry.version) filtered = this.book.withoutGateway(filtered, d.gateway.name);
      else this.haproxyRejected.delete(d.gateway.name);
    }
    this.problems = problems;
    this.metrics.invalidGateways.set(new Set([...problems.map((p) => p.source), ...this.haproxyRejected.keys()]).size);
    this.latestDesired = filtered;

    if (!this.haproxyStarted) {
      await this.reloadNow(kind);
      return;
    }
    const started = process.hrtime.bigint();
    const tb = performance.now();
    const desiredModel = buildHaproxyModel(filtered.map((d) => d.gateway), this.modelSettings, this.running ?? undefined, this.tls.files());
    const tp = performance.now();
    const p = plan(this.running, desiredModel);
    const tr = performance.now();
    let needReload = p.reload;
    if (p.runtime.length > 0 && this.running) {
      try {
        await this.applier.applyRuntime(p.runtime);
        this.running = p.afterRuntime;
        this.metrics.applies.inc({ kind: 'runtime', result: 'ok' });
        this.metrics.applyDuration.observe({ kind: 'runtime' }, Number(process.hrtime.bigint() - started) / 1e9);
        const ms = (v: number): number => Math.round(v * 10) / 10;
        this.logger.info(
          {
            ops: p.runtime.length,
            timingsMs: {
              read: this.lastSyncTimings.scope,
              list: ms(this.lastSyncTimings.listMs),
              resolve: ms(this.lastSyncTimings.resolveMs),
              model: ms(tp - tb),
              plan: ms(tr - tp),
              runtime: ms(performance.now() - tr),
            },
          },
          'applied through the runtime API',
        );
        // HAProxy serves it now: report it applied at once; files and cache follow in the next job.
        if (!needReload) this.recordApply('runtime', null, filtered);
        this.schedulePersist();
      } catch (err) {
        this.metrics.applies.inc({ kind: 'runtime', result: 'error' });
        this.logger.warn({ err: (err as Error).message }, 'runtime apply failed; falling back to a reload');
        needReload = true;
      }
    } else if (!needReload) {
      // Nothing HAProxy-visible changed (metadata, formatting); the versions still move forward.
      this.book.commit(filtered);
      this.tls.commit(filtered);
      this.metrics.appliedGateways.set(filtered.length);
      if (this.status.servingFromCache) this.clearCacheFlag();
    }
    if (needReload) this.scheduleReload(p.reloadReasons);
  }

  /** The served configuration is older than the desired one: reload again after a backoff. */
  private retryReload(): void {
    if (!this.haproxyStarted || this.stopped) return;
    const inMs = this.reloadRetry.schedule(() => this.scheduleReload(['retry after a failed reload']));
    if (inMs !== null) this.logger.info({ inMs }, 'reload will be retried');
  }

  private scheduleReload(reasons: string[]): void {
    // One pending reload (timed or queued) picks up the latest desired state. Without the queued
    // check, two syncs planned before the first reload ran would reload twice for one change.
    if (this.reloadTimer || this.reloadQueued) return;
    const wait = this.lastReloadAt + this.settings.reloadMinIntervalMs - Date.now();
    this.logger.info({ reasons, inMs: Math.max(0, wait) }, 'reload needed');
    const queue = (): void => {
      this.reloadQueued = true;
      void this.enqueue(() => this.reloadNow('reload')).catch(() => undefined);
    };
    if (wait <= 0) return queue();
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      queue();
    }, wait);
  }

  private async reloadNow(kind: 'start' | 'sync' | 'reload'): Promise<void> {
    // From here on, a sync plans against what this reload installs: it may queue the next one.
    this.reloadQueued = false;
    if (this.stopped && this.haproxyStarted) return;
    let desired = this.latestDesired ?? [];
    const started = process.hrtime.bigint();
    let model: HaproxyModel | null = null;
    let rendered: RenderedConfig | null = null;
    for (let attempt = 0; attempt < 8 && !rendered; attempt++) {
      model = buildHaproxyModel(desired.map((d) => d.gateway), this.modelSettings, this.running ?? undefined, this.tls.files());
      try {
        rendered = await this.applier.stage(model);
      } catch (err) {
        if (!(err instanceof ConfigRejectedError) || err.culprits.size === 0) {
          this.metrics.reloadFailures.inc({ stage: 'check' });
          this.metrics.applies.inc({ kind: kind === 'start' ? 'start' : 'reload', result: 'error' });
          this.status.lastError = (err as Error).message;
          this.logger.error({ err: (err as Error).message }, 'configuration refused; keeping the running one');
          // Not a gateway's fault (a check that timed out under load, a missing file): try again.
          this.retryReload();
          return;
        }
        for (const [name, messages] of err.culprits) {
          const d = desired.find((x) => x.gateway.name === name);
          if (d) this.haproxyRejected.set(name, { version: d.entry.version, source: d.entry.source, errors: messages.map((m) => `${d.entry.source}: haproxy: ${m}`) });
          this.metrics.gatewayRejections.inc({ reason: 'haproxy' });
          this.logger.error({ gateway: name, errors: messages }, 'HAProxy refused this gateway; serving its last good version');
          desired = this.book.withoutGateway(desired, name);
        }
      }
    }
    if (!rendered || !model) return;
    if (this.refusedForFds(rendered.config, kind)) return;

    try {
      if (!this.haproxyStarted) {
        const loaded = await readLoaded(this.paths.loadedFile);
        await this.applier.install(rendered);
        await this.startHaproxy();
        if (this.adopted) {
          // [edge] An adopted master that provably runs this rendering keeps its worker (no reload).
          const difference = loaded === rendered.checksum ? await runtimeDifference(this.runtime, model).catch((err: unknown) => `cannot compare: ${(err as Error).message}`) : 'another configuration on disk';
          if (difference === null) this.logger.info({ checksum: rendered.checksum.slice(0, 16) }, 'adopted HAProxy runs this configuration: no reload');
          else {
            this.logger.info({ why: difference }, 'adopted HAProxy: reloading to this configuration');
            await this.applier.installAndReload(rendered, model);
          }
        }
      } else {
        const outcome = await this.applier.installAndReload(rendered, model);
        this.metrics.reloads.inc();
        this.metrics.reloadDuration.observe(outcome.durationMs / 1000);
        this.logger.info({ durationMs: outcome.durationMs, worker: outcome.workerPid }, 'HAProxy reloaded');
      }
      await writeLoaded(this.paths.loadedFile, rendered.checksum);
      this.lastReloadAt = Date.now();
      this.running = model;
      this.metrics.applies.inc({ kind: kind === 'start' ? 'start' : 'reload', result: 'ok' });
      this.metrics.applyDuration.observe({ kind: 'reload' }, Number(process.hrtime.bigint() - started) / 1e9);
      this.recordApply(kind === 'start' ? 'start' : 'reload', rendered.checksum, desired);
      this.reloadRetry.reset();
    } catch (err) {
      this.lastReloadAt = Date.now();
      this.metrics.reloadFailures.inc({ stage: 'reload' });
      this.metrics.applies.inc({ kind: kind === 'start' ? 'start' : 'reload', result: 'error' });
      this.status.lastError = (err as Error).message;
      if (this.haproxyStarted) {
        this.logger.error({ err: (err as Error).message }, 'reload failed; previous configuration restored');
        this.retryReload();
      }
      // E.g. more servers than the file-descriptor limit allows: -c passes, the start fails. The
      // supervisor keeps retrying; /readyz stays 503 and /status carries HAProxy's own reason.
      else this.logger.error({ err: (err as Error).message }, 'HAProxy does not start with this configuration; not ready');
    }
  }

  /**
   * [guards] Before HAProxy starts or reloads: a config needing more file descriptors than the
   * limit passes `haproxy -c` and then fails in HAProxy; refuse it here, with both numbers.
   */
  private refusedForFds(config: string, kind: 'start' | 'sync' | 'reload'): boolean {
    // A master started elsewhere (WEIR_HAPROXY_MASTER_SOCKET) has limits of its own, checked once attached.
    if (!this.haproxyStarted && this.settings.masterSocket !== null) return false;
    const problem = checkFdBudget(config, this.haproxyStarted ? this.haproxy.pid : null);
    if (!problem) return false;
    this.metrics.reloadFailures.inc({ stage: 'fd_limit' });
    this.metrics.applies.inc({ kind: kind === 'start' ? 'start' : 'reload', result: 'error' });
    this.status.lastError = problem.message;
    this.logger.error({ needed: problem.needs.total, limit: problem.limit }, problem.message);
    return true;
  }

  /** `checksum` null: a runtime apply whose files the persist job writes (and then records). */
  private recordApply(kind: string, checksum: string | null, applied: ResolvedGateway[]): void {
    this.book.commit(applied);
    this.tls.commit(applied);
    const at = new Date();
    this.status.lastApply = { at: at.toISOString(), kind, checksum: checksum ?? this.status.lastApply?.checksum ?? '' };
    this.status.lastError = null;
    this.metrics.lastApplySuccess.set(at.getTime() / 1000);
    this.metrics.appliedGateways.set(applied.length);
    this.clearCacheFlag();
    if (checksum !== null) {
      this.metrics.setConfigChecksum(checksum);
      this.writeCache(applied.map((a) => a.entry), checksum);
    }
  }

  private persistQueued = false;
  /** Where the last sync spent its time (logged with each runtime apply). */
  private readonly lastSyncTimings: { listMs: number; resolveMs: number; scope: 'namespace' | 'gateways' } = { listMs: 0, resolveMs: 0, scope: 'namespace' };

  /**
   * Writes the running state (config with slot addresses, map files) to disk so a reload or a
   * restart keeps runtime changes, then the last-good cache. A job of its own, after the runtime
   * apply has been reported: it writes whatever runs when it runs, so it is never stale. It
   * waits `persistDelayMs` first, so a burst of changes (a canary stepping its weights) is
   * written once, and the render and fsyncs stay off the path of the next change.
   */
  private schedulePersist(): void {
    if (this.persistQueued || this.persistTimer) return;
    this.persistTimer = setTimeout(() => this.flushPersist(), this.settings.persistDelayMs);
  }

  /** Queues the deferred persist now, if one is waiting (stop, idle). */
  private flushPersist(): void {
    if (!this.persistTimer) return;
    clearTimeout(this.persistTimer);
    this.persistTimer = null;
    this.enqueuePersist();
  }

  private enqueuePersist(): void {
    if (this.persistQueued) return;
    this.persistQueued = true;
    void this.enqueue(async () => {
      this.persistQueued = false;
      if (!this.running) return;
      const rendered = await this.applier.render(this.running);
      await this.applier.persist(rendered);
      // [edge] The files now say what the worker runs (its runtime changes included).
      await writeLoaded(this.paths.loadedFile, rendered.checksum);
      if (this.reloadTimer === null) {
        this.metrics.setConfigChecksum(rendered.checksum);
        if (this.status.lastApply) this.status.lastApply.checksum = rendered.checksum;
        this.writeCache(this.book.appliedEntries(), rendered.checksum);
      }
    }).catch((err: unknown) => this.logger.error({ err: (err as Error).message }, 'cannot write the running configuration to disk'));
  }

  private clearCacheFlag(): void {
    this.status.servingFromCache = false;
    this.metrics.servingFromCache.set(0);
  }

  private cacheChain: Promise<void> = Promise.resolve();

  /** Written off the apply path: a slow disk never delays a traffic change. */
  private writeCache(entries: StoreEntry[], checksum: string): void {
    const rendered = this.applier.rendered;
    if (!rendered) return;
    this.cacheChain = this.cacheChain
      .then(() =>
        writeLastGood(this.paths.cacheFile, {
          namespace: namespaceKey(this.settings.namespace),
          entries,
          config: rendered.config,
          maps: rendered.maps,
          ...(rendered.tlsFiles && Object.keys(rendered.tlsFiles).length > 0 ? { tlsFiles: rendered.tlsFiles } : {}),
          configChecksum: checksum,
        }),
      )
      .catch((err: unknown) => this.logger.error({ err: (err as Error).message }, 'cannot write the last-good cache'));
  }
}

