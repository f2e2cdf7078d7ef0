import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BoundHistogram } from '../../metrics/bound-histogram.js';
import type { ParseFailureReason, TrafficRecord } from './log-record.js';

/** Label value for any gateway/route not in the applied set: keeps cardinality bounded by configuration. */
export const OTHER = 'other';

export type DropReason = 'spool_full' | 'spool_error' | 'rejected' | 'queue_full' | 'closed';

export interface TelemetryMetricsOptions {
  registry?: Registry;
  /** Request latencies in seconds; default spans 1 ms .. 30 s. */
  responseTimeBuckets?: number[];
}

/** The latency histograms of one (gateway, route), bound to its labels. */
export interface RouteChildren {
  total: { observe: (v: number) => void };
  active: { observe: (v: number) => void };
}

export class TelemetryMetrics {
  readonly registry: Registry;
  private known = new Map<string, Set<string>>();
  /** Bumped by setKnown: callers that cache labels or children per route drop them when it changes. */
  generation = 0;
  private readonly responseTime: BoundHistogram<'gateway' | 'route' | 'phase'>;
  readonly linesReceived: Counter;
  readonly linesParsed: Counter;
  private readonly linesFailed: Counter<'reason'>;
  readonly recordsShipped: Counter;
  readonly recordsSpooled: Counter;
  private readonly recordsDropped: Counter<'reason'>;
  readonly bulkDuration: Histogram<'outcome'>;
  readonly queueDepth: Gauge;
  readonly spoolBytes: Gauge;

  constructor(opts: TelemetryMetricsOptions = {}) {
    const registers = [(this.registry = opts.registry ?? new Registry())];
    // Request counts and bytes come from HAProxy's counters (route-metrics.ts); the log lines only time requests.
    this.responseTime = new BoundHistogram({
      name: 'weir_http_response_time_seconds',
      help: 'HAProxy request timings from the log lines, which may be sampled (weir_log_sample_keep_ratio): _count counts timed lines, not requests (weir_http_requests_total does); phase="total" is Tt, phase="active" is Ta',
      labelNames: ['gateway', 'route', 'phase'],
      buckets: opts.responseTimeBuckets ?? [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.linesReceived = new Counter({ name: 'weir_log_lines_received_total', help: 'HAProxy log lines received', registers });
    this.linesParsed = new Counter({ name: 'weir_log_lines_parsed_total', help: 'HAProxy log lines parsed into records', registers });
    this.linesFailed = new Counter({ name: 'weir_log_lines_failed_total', help: 'HAProxy log lines that failed to parse', labelNames: ['reason'], registers });
    this.recordsShipped = new Counter({ name: 'weir_log_records_shipped_total', help: 'Records acknowledged by Elasticsearch (including 409 already-indexed)', registers });
    this.recordsSpooled = new Counter({ name: 'weir_log_records_spooled_total', help: 'Records written to the disk spool', registers });
    this.recordsDropped = new Counter({ name: 'weir_log_records_dropped_total', help: 'Records lost (spool bound, permanent ES rejection, full queue)', labelNames: ['reason'], registers });
    this.bulkDuration = new Histogram({
      name: 'weir_elasticsearch_bulk_duration_seconds',
      help: 'Elasticsearch bulk request duration',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.queueDepth = new Gauge({ name: 'weir_log_queue_depth', help: 'Records in the in-memory shipping queue', registers });
    this.spoolBytes = new Gauge({ name: 'weir_log_spool_bytes', help: 'Bytes in the disk spool', registers });
  }

  /** The applied gateways and their routes; anything else is labelled `other`. Call on every apply. */
  setKnown(gateways: Iterable<{ gateway: string; routes: Iterable<string> }>): void {
    const next = new Map<string, Set<string>>();
    for (const g of gateways) next.set(g.gateway, new Set(g.routes));
    this.known = next;
    this.children.clear();
    this.generation += 1;
  }

  /** gateway → applied route names (the label values allowed). */
  knownRoutes(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.known;
  }

  labelsFor(record: TrafficRecord): { gateway: string; route: string } {
    return this.labelsOf(record.gateway, record.route, record.frontend);
  }

  /** A record without a gateway (no backend, `<NOSRV>`) is labelled by its frontend, which is the gateway's name. */
  labelsOf(gateway: string | null, route: string | null, frontend: string): { gateway: string; route: string } {
    const gwName = gateway ?? frontend;
    const routes = this.known.get(gwName);
    if (!routes) return { gateway: OTHER, route: OTHER };
    return { gateway: gwName, route: route !== null && routes.has(route) ? route : OTHER };
  }

  /**
   * The children per (gateway, route), looked up once per route rather than per line. Bounded like the labels
   * (applied gateways and routes, plus "other"), and cleared when the known set changes.
   */
  private children = new Map<string, RouteChildren>();

  childrenFor(l: { gateway: string; route: string }): RouteChildren {
    const key = `${l.gateway}\0${l.route}`;
    let c = this.children.get(key);
    if (!c) {
      c = { total: this.responseTime.labels({ ...l, phase: 'total' }), active: this.responseTime.labels({ ...l, phase: 'active' }) };
      this.children.set(key, c);
    }
    return c;
  }

  /** Records the line's timings; returns its bounded labels (for the window aggregates). */
  observe(record: TrafficRecord): { gateway: string; route: string } {
    const labels = this.labelsFor(record);
    if (record.mode !== 'http') return labels;
    const c = this.childrenFor(labels);
    if (record.timings.Tt >= 0) c.total.observe(record.timings.Tt / 1000);
    if (record.timings.Ta >= 0) c.active.observe(record.timings.Ta / 1000);
    return labels;
  }

  parseFailed(reason: ParseFailureReason): void {
    this.linesFailed.inc({ reason });
  }

  dropped(reason: DropReason, n = 1): void {
    if (n > 0) this.recordsDropped.inc({ reason }, n);
  }
}
