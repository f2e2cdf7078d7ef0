/**
 * Aggregated metrics documents: one per gateway, route and window (default 10 s) to
 * `weir-metrics-<org>-<env>-YYYY.MM.DD`, the input a Vamp-style release policy reads.
 *
 * - Window: by the time a request ENDED (`t` + Tt), because HAProxy logs at the end: by accept time a long
 *   request would land in a window already closed. A window is closed `graceMs` after its end; records for
 *   a closed window are counted as late (weir_metrics_late_records_total) and not folded into a later one.
 * - response_time_ms: Ta (active time; Tt for TCP, which has no Ta). Percentiles are exact (nearest rank on
 *   the sorted samples) up to `maxSamples` per window; above it a uniform reservoir sample of `maxSamples`
 *   is kept (Algorithm R), so memory per window is bounded and the percentiles become estimates.
 * - health = 1 − error_ratio (a ratio, not Vamp's 0/1 flag): `health >= baselines.health` with a baseline
 *   such as 0.97 then reads "at most 3 % errors". errors_5xx counts HTTP 5xx; for TCP it counts sessions the
 *   server side ended abnormally (termination state starting with `S`).
 * - `_id` = sha256(namespace, agent, gateway, route, window start): a retried or replayed flush is a 409 in
 *   ES, never a second document. A window flushed twice (agent restarted inside it) keeps the first.
 */
import { createHash } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { Namespace, TrafficRecord } from './log-record.js';

// A type alias (not an interface) so it is assignable to the shipper's Record<string, unknown> documents.
export type MetricsDocument = {
  '@timestamp': string;
  weir: { gateway: string; route: string; namespace: string; org: string; env: string; mode: 'http' | 'tcp' };
  agent: { id: string; type: 'weir' };
  window_s: number;
  requests: number;
  rate: number;
  response_time_ms: { p50: number; p95: number; p99: number };
  errors_5xx: number;
  error_ratio: number;
  health: number;
};

export interface MetricsItem {
  id: string;
  index: string;
  document: MetricsDocument;
}

interface Window {
  start: number;
  gateway: string;
  route: string;
  mode: 'http' | 'tcp';
  requests: number;
  errors: number;
  samples: number[];
  seen: number;
}

export interface WindowAggregatorOptions {
  ns: Namespace;
  agentId: string;
  windowSeconds: number;
  /** How long after a window ends records may still arrive. Default 2 s. */
  graceMs?: number;
  maxSamples?: number;
  registry?: Registry;
  emit: (item: MetricsItem) => void;
  now?: () => number;
  random?: () => number;
}

export function metricsIndexName(ns: Namespace, time: Date): string {
  const d = time.toISOString();
  return `weir-metrics-${ns.org}-${ns.env}-${d.slice(0, 4)}.${d.slice(5, 7)}.${d.slice(8, 10)}`;
}

export function metricsDocumentId(ns: Namespace, agentId: string, gateway: string, route: string, windowStart: number): string {
  return createHash('sha256').update(`${ns.org}\u0000${ns.env}\u0000${agentId}\u0000${gateway}\u0000${route}\u0000${windowStart}`).digest('base64url').slice(0, 32);
}

/** Index template for `weir-metrics-*`. */
export function metricsIndexTemplate(): Record<string, unknown> {
  const kw = { type: 'keyword' };
  return {
    index_patterns: ['weir-metrics-*'],
    priority: 200,
    _meta: { managed_by: 'weir' },
    template: {
      settings: { number_of_shards: 1 },
      mappings: {
        dynamic: false,
        properties: {
          '@timestamp': { type: 'date' },
          weir: { properties: { gateway: kw, route: kw, namespace: kw, org: kw, env: kw, mode: kw } },
          agent: { properties: { id: kw, type: kw } },
          window_s: { type: 'integer' },
          requests: { type: 'long' },
          rate: { type: 'double' },
          response_time_ms: { properties: { p50: { type: 'double' }, p95: { type: 'double' }, p99: { type: 'double' } } },
          errors_5xx: { type: 'long' },
          error_ratio: { type: 'double' },
          health: { type: 'double' },
        },
      },
    },
  };
}

/** Nearest-rank percentile of sorted values. */
function nearestRank(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export class WindowAggregator {
  private readonly windows = new Map<string, Window>();
  /** Windows with start < this are closed. */
  private closedBefore = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly windowMs: number;
  private readonly graceMs: number;
  private readonly maxSamples: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly late: Counter | null;
  private readonly emitted: Counter | null;

  constructor(private readonly opts: WindowAggregatorOptions) {
    this.windowMs = opts.windowSeconds * 1000;
    this.graceMs = opts.graceMs ?? 2000;
    this.maxSamples = opts.maxSamples ?? 50_000;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const registers = opts.registry ? [opts.registry] : [];
    this.late = opts.registry ? new Counter({ name: 'weir_metrics_late_records_total', help: 'Records that arrived after their metrics window was closed (not in any metrics document)', registers }) : null;
    this.emitted = opts.registry ? new Counter({ name: 'weir_metrics_documents_total', help: 'Aggregated metrics documents produced', registers }) : null;
  }

  start(): void {
    this.timer ??= setInterval(() => this.closeDue(), Math.min(1000, this.windowMs / 2));
    this.timer.unref();
  }

  /** `labels` are the bounded gateway/route labels (see TelemetryMetrics.labelsFor). */
  observe(record: TrafficRecord, labels: { gateway: string; route: string }): void {
    const end = record.time.getTime() + Math.max(0, record.timings.Tt);
    const start = Math.floor(end / this.windowMs) * this.windowMs;
    if (start < this.closedBefore) {
      this.late?.inc();
      return;
    }
    const key = `${start}\u0000${labels.gateway}\u0000${labels.route}`;
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { start, gateway: labels.gateway, route: labels.route, mode: record.mode, requests: 0, errors: 0, samples: [], seen: 0 }));
    w.requests += 1;
    const http = record.mode === 'http';
    if (http ? record.status >= 500 && record.status < 600 : record.terminationState.startsWith('S')) w.errors += 1;
    const t = http && record.timings.Ta >= 0 ? record.timings.Ta : record.timings.Tt;
    if (t < 0) return;
    w.seen += 1;
    if (w.samples.length < this.maxSamples) w.samples.push(t);
    else {
      const j = Math.floor(this.random() * w.seen);
      if (j < this.maxSamples) w.samples[j] = t;
    }
  }

  /** Closes windows whose end + grace has passed. */
  closeDue(): void {
    this.closeBefore(Math.floor((this.now() - this.graceMs) / this.windowMs) * this.windowMs);
  }

  /** Closes every open window (shutdown). A partial window keeps window_s and rate over the whole window. */
  closeAll(): void {
    this.closeBefore(Number.POSITIVE_INFINITY);
  }

  openWindows(): number {
    return this.windows.size;
  }

  private closeBefore(limit: number): void {
    if (Number.isFinite(limit)) this.closedBefore = Math.max(this.closedBefore, limit);
    for (const [key, w] of this.windows) {
      if (w.start >= limit) continue;
      this.windows.delete(key);
      this.opts.emit(this.toItem(w));
      this.emitted?.inc();
    }
  }

  private toItem(w: Window): MetricsItem {
    const { ns, agentId } = this.opts;
    const sorted = w.samples.sort((a, b) => a - b);
    const ratio = w.requests ? w.errors / w.requests : 0;
    const time = new Date(w.start);
    const document: MetricsDocument = {
      '@timestamp': time.toISOString(),
      weir: { gateway: w.gateway, route: w.route, namespace: `${ns.org}-${ns.env}`, org: ns.org, env: ns.env, mode: w.mode },
      agent: { id: agentId, type: 'weir' },
      window_s: this.opts.windowSeconds,
      requests: w.requests,
      rate: w.requests / this.opts.windowSeconds,
      response_time_ms: { p50: nearestRank(sorted, 50), p95: nearestRank(sorted, 95), p99: nearestRank(sorted, 99) },
      errors_5xx: w.errors,
      error_ratio: ratio,
      health: 1 - ratio,
    };
    return { id: metricsDocumentId(ns, agentId, w.gateway, w.route, w.start), index: metricsIndexName(ns, time), document };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
