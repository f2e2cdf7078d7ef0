// What an agent publishes for each closed window: one report per gateway (every applied route, idle ones as
// zeros, so "this agent served the gateway and saw nothing" differs from "this agent did not report"), and
// how reports pool into the aggregates of `window-source.ts`. The NATS source pools reports itself; the
// Elasticsearch source lets Elasticsearch sum the same numbers (`es-window-documents.ts`).
import type { Namespace } from '../store/store.js';
import { LatencyHistogram, type SparseHistogram } from './latency-histogram.js';
import { LATENCY_BOUND_Z, type LatencyBounds, type RouteAggregate, type SeriesPoint, type PooledAggregates, type WindowSeries } from './window-source.js';

function latencyBounds(h: LatencyHistogram): LatencyBounds {
  const b = (q: number): [number, number] => {
    const [lo, hi] = h.quantileBounds(q, LATENCY_BOUND_Z) ?? [0, 0];
    return [lo / 1000, hi / 1000];
  };
  return { p50: b(0.5), p95: b(0.95), p99: b(0.99) };
}

export interface RouteWindow {
  route: string;
  /** Exact: HAProxy's counters (HTTP responses; TCP sessions started) over the window. */
  requests: number;
  /** HTTP 5xx responses; TCP connection and response errors. */
  errors: number;
  /** From the (possibly sampled) log lines that ended in the window: Ta for HTTP, Tt for TCP. */
  latency: { samples: number; sum_ms: number; histogram: SparseHistogram };
}

export interface GatewayWindowReport {
  v: 1;
  org: string;
  env: string;
  gateway: string;
  agent: string;
  mode: 'http' | 'tcp';
  /** Window start, epoch ms (on the window grid). */
  start: number;
  window_s: number;
  routes: RouteWindow[];
}

/** Identity of a report: a retried or replayed publish of the same window is the same report. */
export const reportKey = (r: Pick<GatewayWindowReport, 'agent' | 'gateway' | 'start'>): string => `${r.agent}\u0000${r.gateway}\u0000${r.start}`;

/** Checks a report read back from the wire; null when it is not one (never trusted blindly). */
export function parseReport(raw: unknown, ns: Namespace, gateway: string): GatewayWindowReport | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Partial<GatewayWindowReport>;
  if (r.v !== 1 || r.org !== ns.org || r.env !== ns.env || r.gateway !== gateway) return null;
  if (typeof r.agent !== 'string' || r.agent === '' || !Number.isFinite(r.start) || !Number.isInteger(r.window_s) || (r.window_s ?? 0) <= 0 || !Array.isArray(r.routes)) return null;
  const routes: RouteWindow[] = [];
  for (const x of r.routes) {
    const h = x?.latency?.histogram;
    if (typeof x?.route !== 'string' || !Number.isFinite(x.requests) || !Number.isFinite(x.errors) || !h || !Array.isArray(h.values) || !Array.isArray(h.counts)) return null;
    routes.push({ route: x.route, requests: Math.max(0, x.requests), errors: Math.max(0, x.errors), latency: { samples: Number(x.latency.samples) || 0, sum_ms: Number(x.latency.sum_ms) || 0, histogram: { values: h.values, counts: h.counts } } });
  }
  return { v: 1, org: ns.org, env: ns.env, gateway, agent: r.agent, mode: r.mode === 'tcp' ? 'tcp' : 'http', start: r.start!, window_s: r.window_s!, routes };
}

/** Running sums for one route over any set of windows. */
export class RouteAccumulator {
  requests = 0;
  errors = 0;
  readonly latency = new LatencyHistogram();
  samples = 0;

  add(w: RouteWindow): void {
    this.requests += w.requests;
    this.errors += w.errors;
    this.samples += w.latency.samples;
    this.latency.merge(w.latency.histogram, w.latency.sum_ms);
  }

  /** `seconds`: the span covered, for the rate. */
  toAggregate(route: string, seconds: number): RouteAggregate {
    const errorRate = this.requests > 0 ? this.errors / this.requests : 0;
    const s = (q: number): number | null => {
      const v = this.latency.quantile(q);
      return v === null ? null : v / 1000;
    };
    return {
      route,
      requests: this.requests,
      errors: this.errors,
      errorRate,
      rate: seconds > 0 ? this.requests / seconds : 0,
      p50: s(0.5),
      p95: s(0.95),
      p99: s(0.99),
      mean: this.latency.count > 0 ? this.latency.sumMs / this.latency.count / 1000 : null,
      health: 1 - errorRate,
      latencySamples: this.latency.count,
      latencyBounds: this.latency.count > 0 ? latencyBounds(this.latency) : null,
    };
  }
}

/** Keeps the reports a query counts: window inside [from, to), one per agent, gateway and window. */
export function selectReports(reports: Iterable<GatewayWindowReport>, from: Date, to: Date): GatewayWindowReport[] {
  const seen = new Map<string, GatewayWindowReport>();
  for (const r of reports) {
    if (r.start < from.getTime() || r.start + r.window_s * 1000 > to.getTime()) continue;
    seen.set(reportKey(r), r);
  }
  return [...seen.values()];
}

/** Pools reports (already selected) into per-route aggregates and the contributing agents. */
export function poolReports(reports: GatewayWindowReport[], from: Date, to: Date, windowSeconds: number): PooledAggregates {
  const routes = new Map<string, RouteAccumulator>();
  const all = new RouteAccumulator();
  const agents = new Map<string, Set<number>>();
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const r of reports) {
    first = Math.min(first, r.start);
    last = Math.max(last, r.start + r.window_s * 1000);
    let a = agents.get(r.agent);
    if (!a) agents.set(r.agent, (a = new Set()));
    a.add(r.start);
    for (const w of r.routes) {
      let acc = routes.get(w.route);
      if (!acc) routes.set(w.route, (acc = new RouteAccumulator()));
      acc.add(w);
      all.add(w);
    }
  }
  const covered = Number.isFinite(first) ? new Date(first) : from;
  const coveredTo = Number.isFinite(last) ? new Date(last) : to;
  const seconds = (coveredTo.getTime() - covered.getTime()) / 1000;
  return {
    from: covered,
    to: coveredTo,
    windowSeconds,
    routes: Object.fromEntries([...routes].map(([name, acc]) => [name, acc.toAggregate(name, seconds)])),
    total: all.toAggregate('*', seconds),
    agents: [...agents].map(([id, w]) => ({ id, windows: w.size })).sort((x, y) => x.id.localeCompare(y.id)),
  };
}

/** The same pooled per step of `stepSeconds` from `from` (a multiple of the window). */
export function seriesOfReports(reports: GatewayWindowReport[], from: Date, to: Date, stepSeconds: number, windowSeconds: number): WindowSeries {
  const stepMs = stepSeconds * 1000;
  const steps = Math.max(0, Math.ceil((to.getTime() - from.getTime()) / stepMs));
  const byStep = Array.from({ length: steps }, () => ({ routes: new Map<string, RouteAccumulator>(), all: new RouteAccumulator(), agents: new Set<string>() }));
  const names = new Set<string>();
  for (const r of reports) {
    const k = Math.floor((r.start - from.getTime()) / stepMs);
    const slot = byStep[k];
    if (!slot) continue;
    slot.agents.add(r.agent);
    for (const w of r.routes) {
      names.add(w.route);
      let acc = slot.routes.get(w.route);
      if (!acc) slot.routes.set(w.route, (acc = new RouteAccumulator()));
      acc.add(w);
      slot.all.add(w);
    }
  }
  const empty = new RouteAccumulator();
  const routes: Record<string, SeriesPoint[]> = {};
  for (const name of [...names].sort()) {
    routes[name] = byStep.map((slot, k) => ({ start: new Date(from.getTime() + k * stepMs), ...(slot.routes.get(name) ?? empty).toAggregate(name, stepSeconds) }));
  }
  return {
    from,
    to: new Date(from.getTime() + steps * stepMs),
    stepSeconds,
    windowSeconds,
    routes,
    total: byStep.map((slot, k) => ({ start: new Date(from.getTime() + k * stepMs), ...slot.all.toAggregate('*', stepSeconds) })),
    agents: byStep.map((slot, k) => ({ start: new Date(from.getTime() + k * stepMs), agents: [...slot.agents].sort() })),
  };
}
