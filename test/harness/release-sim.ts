// An in-memory world for release-controller unit tests: documents with CAS versions, gateways
// edited through the same text edits and model validation the control API uses, agents that
// apply instantly (or not), and a traffic source that turns the gateway's weights over time
// into 10 s window aggregates per route. Time is a fake clock the test moves.
import { editRoutes } from '../../control/gateway-text.js';
import { parseGateway } from '../../model/index.js';
import { MetricsUnavailableError, type RouteAggregate, type TrafficWindowSource, type WindowAggregates, type WindowQuery } from '../../metrics/window-source.js';
import { GatewayWriteError, type AgentAckSource, type AgentApplied, type GatewayReader, type GatewayRouteWriter, type ReleaseDocumentStore, type RouteWrite, type StoredDocument } from '../../release/ports.js';
import { VersionConflictError } from '../../store/store-writer.js';
import type { Namespace } from '../../store/store.js';
import type { Collection } from '../../store/collections.js';
import { HookCaller } from '../../release/hook-caller.js';
import { ReleaseMetrics } from '../../release/metrics.js';
import { ReleaseService } from '../../release/release-service.js';
import { EventHookDispatcher } from '../../release/controller/event-hooks.js';
import { Measurer } from '../../release/controller/measurer.js';
import { RunDriver } from '../../release/controller/run-driver.js';
import type { RunRecord } from '../../release/run-record.js';
import { silentLogger } from '../../runtime/log.js';

export const ns = { org: 'acme', env: 'prod' };
export const ctx = { ns, actor: 'ci (t1)', role: 'deployer', requestId: 'r1' };

type Doc = { body: string; format: 'yaml' | 'json'; version: string };

export class MemoryStore implements ReleaseDocumentStore, GatewayReader {
  readonly kind = 'file' as const;
  readonly docs = new Map<string, Doc>();
  private seq = 0;
  writes = 0;

  private key(ns: Namespace, c: string, name: string): string {
    return `${ns.org}/${ns.env}/${c}/${name}`;
  }

  put(ns: Namespace, c: string, name: string, body: string, format: 'yaml' | 'json', ifVersion?: string | null): { version: string } {
    const k = this.key(ns, c, name);
    const cur = this.docs.get(k);
    if (ifVersion !== undefined && (ifVersion === null ? cur !== undefined : cur?.version !== ifVersion)) throw new VersionConflictError(k, ifVersion, cur?.version ?? null);
    const version = `v${++this.seq}`;
    this.docs.set(k, { body, format, version });
    this.writes++;
    return { version };
  }

  entry(ns: Namespace, c: string, name: string): StoredDocument | null {
    const d = this.docs.get(this.key(ns, c, name));
    return d ? { name, source: this.key(ns, c, name), format: d.format, body: d.body, version: d.version } : null;
  }

  list_(ns: Namespace, c: string): StoredDocument[] {
    const prefix = `${ns.org}/${ns.env}/${c}/`;
    return [...this.docs.entries()].filter(([k]) => k.startsWith(prefix)).map(([k, d]) => ({ name: k.slice(prefix.length), source: k, format: d.format, body: d.body, version: d.version }));
  }

  async listDocuments(ns: Namespace, c: Collection) {
    return { entries: this.list_(ns, c), problems: [] };
  }
  async getDocument(ns: Namespace, c: Collection, name: string) {
    return this.entry(ns, c, name);
  }
  async putDocument(ns: Namespace, c: Collection, name: string, body: string, format: 'yaml' | 'json', opts: { ifVersion?: string | null } = {}) {
    return this.put(ns, c, name, body, format, opts.ifVersion);
  }
  async deleteDocument(ns: Namespace, c: Collection, name: string, opts: { ifVersion?: string } = {}) {
    const k = this.key(ns, c, name);
    const cur = this.docs.get(k);
    if (opts.ifVersion !== undefined && cur?.version !== opts.ifVersion) throw new VersionConflictError(k, opts.ifVersion, cur?.version ?? null);
    return this.docs.delete(k);
  }
  async watchDocuments() {
    return async () => undefined;
  }
  // GatewayReader
  async get(ns: Namespace, name: string) {
    return this.entry(ns, 'gateways', name);
  }
  async list(ns: Namespace) {
    return { entries: this.list_(ns, 'gateways') };
  }
  async listNamespaces(): Promise<Namespace[]> {
    const out = new Map<string, Namespace>();
    for (const k of this.docs.keys()) {
      const [org = '', env = ''] = k.split('/');
      out.set(`${org}/${env}`, { org, env });
    }
    return [...out.values()];
  }
}

export class Clock {
  t: number;
  constructor(start = Date.parse('2030-01-01T00:00:00.000Z')) {
    this.t = start;
  }
  now = (): Date => new Date(this.t);
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Weights over time, recorded at every gateway write, for the traffic simulation. */
export interface WeightChange {
  at: number;
  weights: Record<string, number>;
}

export class SimGateways implements GatewayRouteWriter {
  readonly timeline = new Map<string, WeightChange[]>();
  refuse: string | null = null;
  constructor(
    private readonly store: MemoryStore,
    private readonly clock: Clock,
  ) {}

  create(ns: Namespace, name: string, weights: Record<string, number>): string {
    const routes = Object.entries(weights)
      .map(([r, w]) => `  ${r}:\n    weight: ${w}%\n    targets: ["127.0.0.1:${9000 + r.length}"]\n`)
      .join('');
    const v = this.store.put(ns, 'gateways', name, `name: ${name}\nport: 8080\nroutes:\n${routes}`, 'yaml').version;
    this.record(ns, name);
    return v;
  }

  private record(ns: Namespace, name: string): void {
    const e = this.store.entry(ns, 'gateways', name);
    if (!e) return;
    const r = parseGateway(e.body, { source: name, format: 'yaml', expectedName: name });
    if (!r.ok) throw new Error(r.errors.map((x) => x.message).join('; '));
    const list = this.timeline.get(`${ns.org}/${ns.env}/${name}`) ?? [];
    list.push({ at: this.clock.t, weights: Object.fromEntries(r.gateway.routes.map((x) => [x.name, x.weight])) });
    this.timeline.set(`${ns.org}/${ns.env}/${name}`, list);
  }

  /** A person's edit (not through the release controller). */
  setWeights(ns: Namespace, name: string, weights: Record<string, number>): void {
    const e = this.store.entry(ns, 'gateways', name) as StoredDocument;
    const edited = editRoutes(e.body, 'yaml', new Map(Object.entries(weights).map(([r, w]) => [r, { weight: w }])));
    if (!edited.ok) throw new Error('edit failed');
    this.store.put(ns, 'gateways', name, edited.body, 'yaml', e.version);
    this.record(ns, name);
  }

  weights(ns: Namespace, name: string): Record<string, number> {
    return this.timeline.get(`${ns.org}/${ns.env}/${name}`)?.at(-1)?.weights ?? {};
  }

  writes: Array<{ at: number; action: string; routes: Record<string, RouteWrite> }> = [];

  async writeRoutes(ns: Namespace, gateway: string, routes: Record<string, RouteWrite>, opts: { action: string; ifVersion?: string }): Promise<{ version: string }> {
    if (this.refuse) throw new GatewayWriteError('invalid', this.refuse);
    const e = this.store.entry(ns, 'gateways', gateway);
    if (!e) throw new GatewayWriteError('not_found', 'no gateway');
    if (opts.ifVersion !== undefined && e.version !== opts.ifVersion) throw new GatewayWriteError('conflict', 'version changed');
    const edits = new Map(Object.entries(routes).map(([r, w]) => [r, { weight: w.weight, condition: w.condition, condition_strength: w.condition === null ? null : w.conditionStrength }]));
    const edited = editRoutes(e.body, 'yaml', edits);
    if (!edited.ok) throw new GatewayWriteError('invalid', JSON.stringify(edited));
    const parsed = parseGateway(edited.body, { source: gateway, format: 'yaml', expectedName: gateway });
    if (!parsed.ok) throw new GatewayWriteError('invalid', parsed.errors.map((x) => `${x.path}: ${x.message}`).join('; '));
    const { version } = this.store.put(ns, 'gateways', gateway, edited.body, 'yaml', e.version);
    this.writes.push({ at: this.clock.t, action: opts.action, routes });
    this.record(ns, gateway);
    return { version };
  }
}

/** Agents that apply every stored gateway version at once, unless `lagging`. */
export class SimAgents implements AgentAckSource {
  lagging = false;
  quiet = false;
  private applied = new Map<string, string>();
  constructor(private readonly store: MemoryStore) {}
  agents(ns: Namespace): AgentApplied[] {
    const gws = this.store.list_(ns, 'gateways');
    if (!this.lagging) for (const g of gws) this.applied.set(`${ns.org}/${ns.env}/${g.name}`, g.version);
    return ['agent-1', 'agent-2'].map((agentId) => ({
      agentId,
      quiet: this.quiet,
      applied: gws.flatMap((g) => {
        const v = this.applied.get(`${ns.org}/${ns.env}/${g.name}`);
        return v ? [{ name: g.name, version: v }] : [];
      }),
      problems: [],
    }));
  }
}

/** Per-route behaviour: total gateway request rate is shared by weight. */
export interface RouteBehaviour {
  errorRate: number;
  p95: number;
}

export class SimTraffic implements TrafficWindowSource {
  readonly kind = 'nats' as const;
  readonly location = 'sim';
  down = false;
  /** Requests per second through the whole gateway. */
  rate = 50;
  behaviour: Record<string, RouteBehaviour> = {};
  queries = 0;
  constructor(
    private readonly gateways: SimGateways,
    private readonly clock: Clock,
  ) {}

  async aggregate(q: WindowQuery): Promise<WindowAggregates> {
    this.queries++;
    if (this.down) throw new MetricsUnavailableError('sim', 'connection refused');
    const timeline = this.gateways.timeline.get(`${q.ns.org}/${q.ns.env}/${q.gateway}`) ?? [];
    const W = 10_000;
    const first = Math.ceil(q.from.getTime() / W) * W;
    const routes: Record<string, RouteAggregate> = {};
    let windows = 0;
    for (let s = first; s + W <= q.to.getTime() && s + W <= this.clock.t; s += W) {
      windows++;
      const w = [...timeline].reverse().find((c) => c.at <= s)?.weights ?? {};
      for (const [route, weight] of Object.entries(w)) {
        const n = Math.round((this.rate * 10 * weight) / 100);
        const b = this.behaviour[route] ?? { errorRate: 0, p95: 0.02 };
        const r = (routes[route] ??= { route, requests: 0, errors: 0, errorRate: 0, rate: 0, p50: null, p95: null, p99: null, health: 1, latencySamples: 0, latencyBounds: null });
        r.requests += n;
        r.errors += Math.round(n * b.errorRate);
        if (n > 0) {
          r.p95 = b.p95;
          r.p50 = b.p95 / 2;
          r.p99 = b.p95 * 1.5;
          // A simulated source with exact figures: the bounds are the figures themselves.
          r.latencyBounds = { p50: [r.p50, r.p50], p95: [b.p95, b.p95], p99: [r.p99, r.p99] };
        }
        r.latencySamples += n;
      }
    }
    for (const r of Object.values(routes)) {
      r.errorRate = r.requests ? r.errors / r.requests : 0;
      r.health = 1 - r.errorRate;
      r.rate = windows ? r.requests / (windows * 10) : 0;
    }
    return { from: new Date(first), to: q.to, windowSeconds: 10, routes, agents: windows ? [{ id: 'agent-1', windows }, { id: 'agent-2', windows }] : [] };
  }
  async close(): Promise<void> {}
}

export function releaseWorld(policyText: string, opts: { hooks?: HookCaller } = {}) {
  const clock = new Clock();
  const store = new MemoryStore();
  const gws = new SimGateways(store, clock);
  const agents = new SimAgents(store);
  const traffic = new SimTraffic(gws, clock);
  const service = new ReleaseService({ store, gateways: store, now: clock.now });
  const hooks = opts.hooks ?? new HookCaller();
  const leadership = { isLeader: () => true, epoch: 1 };
  const delivered = new Map<string, number>();
  const makeDriver = (epoch = leadership) =>
    new RunDriver({
      runs: service.runs,
      gateways: store,
      writer: gws,
      agents,
      measurer: new Measurer({ source: traffic, agents, hooks }),
      hooks,
      events: new EventHookDispatcher(hooks, (_n, _g, id, upTo) => delivered.set(id, upTo), silentLogger(), clock.now),
      leadership: epoch,
      metrics: new ReleaseMetrics(),
      logger: silentLogger(),
      settings: { metricsLagMs: 2500, ackWaitMs: 0, ackPollMs: 1, ackRecheckMs: 250, completenessWaitMs: 6000 },
      now: clock.now,
      delivered: (id) => delivered.get(id),
    });
  store.put(ns, 'release-policies', 'canary', policyText, 'yaml');
  gws.create(ns, 'shop', { v1: 100, v2: 0 });
  let driver = makeDriver();
  const current = async (): Promise<RunRecord> => ((await service.runs.current(ns, 'shop')) as { run: RunRecord }).run;
  /** Drives, moving the clock to each wake-up, until the run waits for input, finishes, or `until` holds. */
  const runFor = async (ms: number, until?: (r: RunRecord) => boolean): Promise<RunRecord> => {
    const end = clock.t + ms;
    for (let i = 0; i < 10_000; i++) {
      const r = await driver.drive(ns, 'shop');
      const run = await current();
      if (until?.(run)) return run;
      if (r.nextAt === null) {
        if (clock.t >= end) return run;
        clock.advance(1000);
        continue;
      }
      if (r.nextAt > end) {
        clock.t = end;
        return current();
      }
      clock.t = Math.max(clock.t + 1, r.nextAt);
    }
    throw new Error('runFor did not settle');
  };
  return { clock, store, gws, agents, traffic, service, current, runFor, restart: () => (driver = makeDriver()), makeDriver, setDriver: (d: RunDriver) => (driver = d), drive: () => driver.drive(ns, 'shop') };
}

