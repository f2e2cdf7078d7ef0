// The release controller: acts only while it holds the lease, finds runs (store watch, API
// nudges, a periodic sweep of every namespace), drives each through the scheduler, and starts
// runs that gateway metadata asks for. The parts: DriveScheduler (when), RunDriver (what, per
// run), Measurer (metrics), HookCaller (HTTP), EventHookDispatcher (notifications in the
// background), MetadataTrigger, RunRepository (records). This class only wires and times them.
import type { Namespace, StopWatching } from '../../store/store.js';
import { namespaceKey } from '../../store/store.js';
import type { TrafficWindowSource } from '../../metrics/window-source.js';
import type { Logger } from '../../runtime/log.js';
import { HookCaller } from '../hook-caller.js';
import { ReleaseMetrics } from '../metrics.js';
import type { AgentAckSource, GatewayReader, GatewayRouteWriter, Leadership, ReleaseDocumentStore } from '../ports.js';
import type { ReleaseService } from '../release-service.js';
import { isTerminal } from '../run-record.js';
import { EventHookDispatcher } from './event-hooks.js';
import { Measurer } from './measurer.js';
import { MetadataTrigger } from './metadata-trigger.js';
import { DEFAULT_DRIVER_SETTINGS, RunDriver, type RunDriverSettings } from './run-driver.js';
import { DriveScheduler } from './scheduler.js';

export interface ReleaseControllerSettings extends RunDriverSettings {
  /** Full sweep of every namespace (runs and metadata triggers). */
  sweepMs: number;
  /** How often leadership is checked (taking over starts a sweep at once). */
  leaderCheckMs: number;
  /** Runs driven at once. */
  concurrency: number;
  /** Only these namespaces; null = every namespace the store lists. */
  namespaces: Namespace[] | null;
  /** Start runs from `release.vamp.io/policy` gateway metadata. */
  metadataTrigger: boolean;
}

export const DEFAULT_CONTROLLER_SETTINGS: ReleaseControllerSettings = { ...DEFAULT_DRIVER_SETTINGS, sweepMs: 5000, leaderCheckMs: 500, concurrency: 32, namespaces: null, metadataTrigger: true };

export interface ReleaseControllerDeps {
  store: ReleaseDocumentStore;
  gateways: GatewayReader;
  writer: GatewayRouteWriter;
  agents?: AgentAckSource | undefined;
  metricsSource: TrafficWindowSource | null;
  service: ReleaseService;
  leadership: Leadership;
  logger: Logger;
  metrics?: ReleaseMetrics;
  hooks?: HookCaller;
  settings?: Partial<ReleaseControllerSettings>;
  now?: () => Date;
}

const keyOf = (ns: Namespace, gateway: string): string => `${ns.org}/${ns.env}/${gateway}`;
function parseKey(key: string): { ns: Namespace; gateway: string } {
  const [org = '', env = '', gateway = ''] = key.split('/');
  return { ns: { org, env }, gateway };
}

export class ReleaseController {
  readonly metrics: ReleaseMetrics;
  readonly settings: ReleaseControllerSettings;
  private readonly log: Logger;
  private readonly hooks: HookCaller;
  private readonly ownsHooks: boolean;
  private readonly events: EventHookDispatcher;
  private readonly driver: RunDriver;
  private readonly scheduler: DriveScheduler;
  private readonly trigger: MetadataTrigger;
  private readonly watches = new Map<string, Promise<StopWatching | null>>();
  private readonly delivered = new Map<string, number>();
  private readonly offService: () => void;
  private sweepTimer: NodeJS.Timeout | undefined;
  private leaderTimer: NodeJS.Timeout | undefined;
  private wasLeader = false;
  private sweeping: Promise<void> | undefined;
  private lastSweep = 0;
  private stopped = true;

  constructor(private readonly deps: ReleaseControllerDeps) {
    this.settings = { ...DEFAULT_CONTROLLER_SETTINGS, ...deps.settings };
    this.log = deps.logger;
    this.metrics = deps.metrics ?? new ReleaseMetrics();
    const now = deps.now ?? (() => new Date());
    this.ownsHooks = !deps.hooks;
    this.hooks =
      deps.hooks ??
      new HookCaller({
        logger: this.log.child({ component: 'hooks' }),
        onResult: (h, out, seconds) => {
          this.metrics.hookCalls.inc({ type: h.type, verdict: out.verdict });
          this.metrics.hookSeconds.observe({ type: h.type }, seconds);
        },
      });
    this.events = new EventHookDispatcher(
      this.hooks,
      (ns, gateway, runId, upTo) => {
        this.delivered.set(runId, Math.max(upTo, this.delivered.get(runId) ?? 0));
        this.scheduler.nudge(keyOf(ns, gateway));
      },
      this.log,
      now,
    );
    this.driver = new RunDriver({
      runs: deps.service.runs,
      gateways: deps.gateways,
      writer: deps.writer,
      agents: deps.agents,
      measurer: new Measurer({ source: deps.metricsSource, agents: deps.agents, hooks: this.hooks }),
      hooks: this.hooks,
      events: this.events,
      leadership: deps.leadership,
      metrics: this.metrics,
      logger: this.log,
      settings: this.settings,
      now,
      delivered: (id) => this.delivered.get(id),
    });
    this.scheduler = new DriveScheduler(
      async (key) => {
        const { ns, gateway } = parseKey(key);
        const r = await this.driver.drive(ns, gateway);
        this.metrics.drives.inc({ result: r.result });
        return r.nextAt;
      },
      { concurrency: this.settings.concurrency, onError: (key, err) => this.log.error({ err, key }, 'release pass failed') },
    );
    this.trigger = new MetadataTrigger(deps.service, deps.gateways, this.log);
    // API writes in this process reach the controller at once, without waiting for a watch.
    this.offService = deps.service.onRunChanged((ns, gateway) => this.nudge(ns, gateway));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const checkLeader = (): void => {
      const leader = this.deps.leadership.isLeader();
      this.metrics.leader.set(leader ? 1 : 0);
      if (leader && !this.wasLeader) {
        this.log.info({ epoch: this.deps.leadership.epoch }, 'release controller is acting (lease held)');
        void this.sweep();
      }
      if (!leader && this.wasLeader) this.log.info('release controller stands by (lease lost)');
      this.wasLeader = leader;
      if (leader && Date.now() - this.lastSweep >= this.settings.sweepMs) void this.sweep();
    };
    this.leaderTimer = setInterval(checkLeader, this.settings.leaderCheckMs);
    checkLeader();
  }

  nudge(ns: Namespace, gateway: string): void {
    if (this.stopped) return;
    this.scheduler.nudge(keyOf(ns, gateway));
  }

  /** Lists every namespace's runs and drives the unfinished ones; runs the metadata trigger. */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    if (this.stopped || !this.deps.leadership.isLeader()) return;
    this.lastSweep = Date.now();
    let namespaces: Namespace[];
    try {
      namespaces = this.settings.namespaces ?? (this.deps.gateways.listNamespaces ? await this.deps.gateways.listNamespaces() : []);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot list namespaces; retrying at the next sweep');
      return;
    }
    for (const ns of namespaces) {
      if (this.stopped) return;
      this.watch(ns);
      try {
        const { runs } = await this.deps.service.runs.listCurrent(ns);
        for (const { run } of runs) {
          const open = !isTerminal(run.phase) || run.finish.state === 'pending' || !run.history || run.postReleaseHooks === 'pending' || (this.delivered.get(run.id) ?? 0) > run.eventHooksSent;
          const key = keyOf(ns, run.gateway);
          if (open && !this.scheduler.known(key)) this.scheduler.nudge(key);
        }
        if (this.settings.metadataTrigger) await this.trigger.scan(ns);
      } catch (err) {
        this.log.warn({ namespace: namespaceKey(ns), err: (err as Error).message }, 'release sweep of a namespace failed');
      }
    }
  }

  /** A store watch on the namespace's run records (file and NATS KV; Vault has none and relies on the sweep). */
  private watch(ns: Namespace): void {
    const k = namespaceKey(ns);
    if (this.watches.has(k)) return;
    const w = this.deps.store
      .watchDocuments(ns, 'releases', (_reason, hint) => {
        if (hint?.name) this.nudge(ns, hint.name);
        else void this.sweep();
      })
      .catch((err: unknown) => {
        this.log.warn({ namespace: k, err: (err as Error).message }, 'cannot watch release records; relying on the sweep');
        this.watches.delete(k);
        return null;
      });
    this.watches.set(k, w);
  }

  /** In-flight passes finish; hooks in the background get their own timeouts to finish. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.leaderTimer);
    clearTimeout(this.sweepTimer);
    this.offService();
    await this.sweeping;
    await this.scheduler.stop();
    await this.events.close();
    for (const w of this.watches.values()) {
      const stop = await w;
      await stop?.().catch(() => undefined);
    }
    this.watches.clear();
    if (this.ownsHooks) await this.hooks.close();
  }
}
