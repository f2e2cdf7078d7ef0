/**
 * Per-route window aggregates (default 10 s): exact counts from HAProxy's counters, latency from the log
 * lines. One `GatewayWindowReport` per applied gateway and window (idle routes as zeros) goes to `emit`
 * (NATS, Elasticsearch `weir-metrics-*`).
 *
 * - Counts: the tap's totals read at each window boundary (the aggregator asks for a read at the boundary;
 *   the first read at or after it is the boundary's snapshot). A window's counts are the difference of its
 *   two boundary snapshots: exact however lines are sampled or lost, off by at most the read's latency at
 *   the edges. When no read succeeded at a boundary (HAProxy restarting), the window gets nothing and the
 *   next one gets both: totals stay exact, the split between the two windows does not.
 *   HTTP: requests = responses (every status class), errors = 5xx. TCP: requests = sessions started,
 *   errors = connection errors + response errors (econ + eresp).
 * - Latency: Ta (Tt for TCP) of the lines whose request ENDED in the window (`t` + Tt; HAProxy logs at the
 *   end), into the fixed-bucket histogram of metrics/latency-histogram.ts. A window is closed `graceMs`
 *   after its end; lines for a closed window are counted in weir_metrics_late_records_total.
 */
import { Counter, type Registry } from 'prom-client';
import { LatencyHistogram } from '../../metrics/latency-histogram.js';
import type { GatewayWindowReport, RouteWindow } from '../../metrics/window-report.js';
import type { TapRow } from './counter-tap.js';
import type { Namespace, TrafficRecord } from './log-record.js';
import { C } from './stat-counters.js';

export interface WindowAggregatorOptions {
  ns: Namespace;
  agentId: string;
  windowSeconds: number;
  /** How long after a window ends its lines may still arrive. Default 2 s. */
  graceMs?: number;
  registry?: Registry;
  /** Asks the counter tap for a read now (at each boundary). */
  readCounters: () => void;
  /** gateway → applied route names. */
  known: () => ReadonlyMap<string, ReadonlySet<string>>;
  emit: (report: GatewayWindowReport) => void;
  now?: () => number;
}

interface OpenWindow {
  /** backend → histogram of the lines that ended in the window. */
  latency: Map<string, LatencyHistogram>;
  modes: Map<string, 'http' | 'tcp'>;
}

/** Requests and errors a route's counters grew by. */
function delta(cur: TapRow | undefined, prev: TapRow | undefined): { requests: number; errors: number; mode: 'http' | 'tcp' | null } {
  if (!cur) return { requests: 0, errors: 0, mode: null };
  const d = (i: number): number => Math.max(0, cur.counters[i]! - (prev?.counters[i] ?? 0));
  if (cur.mode === 'tcp') return { requests: d(C.stot), errors: d(C.econ) + d(C.eresp), mode: 'tcp' };
  const requests = d(C.hrsp_1xx) + d(C.hrsp_2xx) + d(C.hrsp_3xx) + d(C.hrsp_4xx) + d(C.hrsp_5xx) + d(C.hrsp_other);
  return { requests, errors: d(C.hrsp_5xx), mode: 'http' };
}

export class WindowAggregator {
  private readonly windows = new Map<number, OpenWindow>();
  /** Boundary (epoch ms) → the first counter totals read at or after it. */
  private readonly snapshots = new Map<number, ReadonlyMap<string, TapRow>>();
  /** The snapshot the last closed window ended on (or the first read): the next window starts from it. */
  private baseline: ReadonlyMap<string, TapRow> | null = null;
  /** Windows with start < this are closed. */
  private closedBefore = 0;
  private timer: NodeJS.Timeout | null = null;
  private boundaryTimer: NodeJS.Timeout | null = null;
  private readonly windowMs: number;
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly late: Counter | null;
  private readonly emitted: Counter | null;

  constructor(private readonly opts: WindowAggregatorOptions) {
    this.windowMs = opts.windowSeconds * 1000;
    this.graceMs = opts.graceMs ?? 2000;
    this.now = opts.now ?? Date.now;
    const registers = opts.registry ? [opts.registry] : [];
    this.late = opts.registry ? new Counter({ name: 'weir_metrics_late_records_total', help: 'Log lines that arrived after their metrics window was closed (not in any window\'s latency histogram)', registers }) : null;
    this.emitted = opts.registry ? new Counter({ name: 'weir_metrics_windows_total', help: 'Gateway window reports closed (published to NATS and/or Elasticsearch)', registers }) : null;
    this.closedBefore = Math.floor(this.now() / this.windowMs) * this.windowMs;
  }

  start(): void {
    this.timer ??= setInterval(() => this.closeDue(), Math.min(1000, this.windowMs / 2));
    this.timer.unref();
    this.scheduleBoundary();
  }

  private scheduleBoundary(): void {
    const at = this.now();
    const next = (Math.floor(at / this.windowMs) + 1) * this.windowMs;
    this.boundaryTimer = setTimeout(() => {
      this.opts.readCounters();
      this.scheduleBoundary();
    }, next - at + 1);
    this.boundaryTimer.unref();
  }

  /** `labels` are the bounded gateway/route labels (see TelemetryMetrics.labelsFor). */
  observe(record: TrafficRecord, labels: { gateway: string; route: string }): void {
    if (labels.route === 'other') return;
    this.observeAt(record.time.getTime(), record.mode, record.timings.Tt, record.timings.Ta, `${labels.gateway}:${labels.route}`);
  }

  /**
   * The same from the line's values: `timeMs` its accept time, `backend` the bounded `<gateway>:<route>` (never
   * `other`: those are not aggregated).
   */
  observeAt(timeMs: number, mode: 'http' | 'tcp', tt: number, ta: number, backend: string): void {
    const end = timeMs + Math.max(0, tt);
    const start = Math.floor(end / this.windowMs) * this.windowMs;
    if (start < this.closedBefore) {
      this.late?.inc();
      return;
    }
    const t = mode === 'http' && ta >= 0 ? ta : tt;
    if (t < 0) return;
    let w = this.windows.get(start);
    if (!w) this.windows.set(start, (w = { latency: new Map(), modes: new Map() }));
    let h = w.latency.get(backend);
    if (!h) w.latency.set(backend, (h = new LatencyHistogram()));
    h.add(t);
    w.modes.set(backend, mode);
  }

  /** Every counter read (CounterTap onRead). */
  onCounters(totals: ReadonlyMap<string, TapRow>, at: number): void {
    if (!this.baseline) {
      this.baseline = totals;
      return;
    }
    const boundary = Math.floor(at / this.windowMs) * this.windowMs;
    if (boundary >= this.closedBefore && !this.snapshots.has(boundary)) this.snapshots.set(boundary, totals);
  }

  /** Closes windows whose end + grace has passed. */
  closeDue(): void {
    this.closeBefore(Math.floor((this.now() - this.graceMs) / this.windowMs) * this.windowMs);
  }

  /** Closes every open window (shutdown): the current one with the counts read so far. */
  closeAll(latest?: ReadonlyMap<string, TapRow>): void {
    const end = (Math.floor(this.now() / this.windowMs) + 1) * this.windowMs;
    if (latest && this.baseline) this.snapshots.set(end, latest);
    this.closeBefore(end);
  }

  openWindows(): number {
    return this.windows.size;
  }

  private closeBefore(limit: number): void {
    for (let start = this.closedBefore; start + this.windowMs <= limit; start += this.windowMs) this.closeWindow(start);
    this.closedBefore = Math.max(this.closedBefore, limit);
    for (const s of this.windows.keys()) if (s < this.closedBefore) this.windows.delete(s);
    for (const b of this.snapshots.keys()) if (b < this.closedBefore) this.snapshots.delete(b);
  }

  private closeWindow(start: number): void {
    const w = this.windows.get(start);
    this.windows.delete(start);
    const end = start + this.windowMs;
    const snap = this.snapshots.get(end);
    // No read at the boundary: this window gets no counts and the baseline stays, so the next one has them.
    const counts = snap && this.baseline ? { cur: snap, prev: this.baseline } : null;
    if (snap && this.baseline) this.baseline = snap;
    if (!counts && !w && !this.baseline) return; // nothing counted yet (agent just started, HAProxy not read)
    for (const [gateway, routes] of this.opts.known()) {
      let mode: 'http' | 'tcp' = 'http';
      const rows: RouteWindow[] = [];
      for (const route of routes) {
        const backend = `${gateway}:${route}`;
        const d = counts ? delta(counts.cur.get(backend), counts.prev.get(backend)) : { requests: 0, errors: 0, mode: null };
        const h = w?.latency.get(backend);
        mode = d.mode ?? w?.modes.get(backend) ?? mode;
        rows.push({ route, requests: d.requests, errors: d.errors, latency: { samples: h?.count ?? 0, sum_ms: h?.sumMs ?? 0, histogram: h ? h.toSparse() : { values: [], counts: [] } } });
      }
      this.opts.emit({ v: 1, org: this.opts.ns.org, env: this.opts.ns.env, gateway, agent: this.opts.agentId, mode, start, window_s: this.opts.windowSeconds, routes: rows });
      this.emitted?.inc();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.boundaryTimer) clearTimeout(this.boundaryTimer);
    this.timer = null;
    this.boundaryTimer = null;
  }
}
