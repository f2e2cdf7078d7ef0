/**
 * Per-route Prometheus counters served from HAProxy's own counters (CounterTap) at scrape time: exact,
 * monotonic across reloads, and free per request. Every route is a backend `<gateway>:<route>`; only the
 * routes of applied gateways are exported (labels stay bounded by configuration). HAProxy's shared
 * internal backends (`weir_http_503`: no route matched; `weir_vhost_404`; `weir_tcp_none`) are exported as
 * gateway="other", route="other". A removed route's series disappears; if the route comes back within the
 * tap's prune time its counter continues where it stopped.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CounterTap, TapRow } from './counter-tap.js';
import { C, G } from './stat-counters.js';
import { OTHER } from './traffic-metrics.js';

type RouteLabels = { gateway: string; route: string };

export interface RouteMetricsOptions {
  registry: Registry;
  tap: CounterTap;
  /** gateway → its applied route names. */
  known: () => ReadonlyMap<string, ReadonlySet<string>>;
  /** Reuse a read younger than this for a scrape. Default 0: every scrape reads (one read per scrape). */
  maxAgeMs?: number;
}

/** Backend name → labels, or null when the backend is not an applied route (not exported). */
export function routeLabels(backend: string, known: ReadonlyMap<string, ReadonlySet<string>>): RouteLabels | null {
  const colon = backend.indexOf(':');
  if (colon < 0) return backend.startsWith('weir_') ? { gateway: OTHER, route: OTHER } : null;
  const gateway = backend.slice(0, colon);
  const route = backend.slice(colon + 1);
  return known.get(gateway)?.has(route) ? { gateway, route } : null;
}

export class RouteMetrics {
  constructor(opts: RouteMetricsOptions) {
    const registers = [opts.registry];
    const maxAge = opts.maxAgeMs ?? 0;
    // prom-client collects every metric of a scrape concurrently: they share one read and one grouping.
    let shared: Promise<Array<{ labels: RouteLabels; row: TapRow }>> | null = null;
    const rows = (): Promise<Array<{ labels: RouteLabels; row: TapRow }>> => {
      shared ??= (async () => {
        await opts.tap.refresh(maxAge).catch(() => undefined);
        const known = opts.known();
        const grouped = new Map<string, { labels: RouteLabels; row: TapRow }>();
        for (const [backend, row] of opts.tap.totals()) {
          const labels = routeLabels(backend, known);
          if (!labels) continue;
          const key = `${labels.gateway}\0${labels.route}`;
          const g = grouped.get(key);
          if (!g) grouped.set(key, { labels, row });
          else {
            // Several internal backends fold into other/other.
            for (let i = 0; i < row.counters.length; i++) g.row.counters[i]! += row.counters[i]!;
            for (let i = 0; i < row.gauges.length; i++) g.row.gauges[i]! += row.gauges[i]!;
          }
        }
        setImmediate(() => (shared = null));
        return [...grouped.values()];
      })();
      return shared;
    };
    const counter = <L extends string>(name: string, help: string, labelNames: L[], fill: (c: Counter<L>, r: { labels: RouteLabels; row: TapRow }) => void): void => {
      new Counter<L>({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          for (const r of await rows()) fill(this, r);
        },
      });
    };
    const simple = (name: string, help: string, field: number, http = false): void =>
      counter(name, help, ['gateway', 'route'], (c, r) => {
        if (!http || r.row.mode === 'http') c.inc(r.labels, r.row.counters[field]!);
      });
    const CLASSES: Array<[string, number]> = [
      ['1xx', C.hrsp_1xx],
      ['2xx', C.hrsp_2xx],
      ['3xx', C.hrsp_3xx],
      ['4xx', C.hrsp_4xx],
      ['5xx', C.hrsp_5xx],
      ['other', C.hrsp_other],
    ];
    counter('weir_http_requests_total', 'HTTP responses per route and status class, from HAProxy\'s counters (exact; code_class="other" = protocol errors)', ['gateway', 'route', 'code_class'], (c, r) => {
      if (r.row.mode !== 'http') return;
      for (const [cls, i] of CLASSES) c.inc({ ...r.labels, code_class: cls }, r.row.counters[i]!);
    });
    simple('weir_http_response_bytes_total', 'Bytes sent to clients by an HTTP route (HAProxy bout)', C.bout, true);
    counter('weir_traffic_bytes_total', 'Bytes through a route, from HAProxy\'s counters (direction in = from clients, out = to clients)', ['gateway', 'route', 'direction'], (c, r) => {
      c.inc({ ...r.labels, direction: 'in' }, r.row.counters[C.bin]!);
      c.inc({ ...r.labels, direction: 'out' }, r.row.counters[C.bout]!);
    });
    simple('weir_backend_sessions_total', 'Sessions (HTTP requests or TCP connections) assigned to the route (HAProxy stot)', C.stot);
    simple('weir_backend_connection_errors_total', 'Failed connection attempts to the route\'s servers (HAProxy econ)', C.econ);
    simple('weir_backend_response_errors_total', 'Responses aborted or invalid from the route\'s servers (HAProxy eresp)', C.eresp);
    simple('weir_backend_retries_total', 'Connection retries to the route\'s servers (HAProxy wretr)', C.wretr);
    simple('weir_backend_redispatches_total', 'Requests redispatched to another server of the route (HAProxy wredis)', C.wredis);
    simple('weir_backend_client_aborts_total', 'Data transfers aborted by the client (HAProxy cli_abrt)', C.cli_abrt);
    simple('weir_backend_server_aborts_total', 'Data transfers aborted by the server (HAProxy srv_abrt)', C.srv_abrt);
    const gauge = (name: string, help: string, field: number): void => {
      new Gauge<'gateway' | 'route'>({
        name,
        help,
        labelNames: ['gateway', 'route'],
        registers,
        async collect() {
          this.reset();
          for (const r of await rows()) this.set(r.labels, r.row.gauges[field]!);
        },
      });
    };
    gauge('weir_backend_current_sessions', 'Current sessions on the route, over every live HAProxy worker (HAProxy scur)', G.scur);
    gauge('weir_backend_current_queue', 'Requests queued for the route (HAProxy qcur)', G.qcur);
    const tap = opts.tap;
    new Gauge({
      name: 'weir_haproxy_counted_workers',
      help: 'HAProxy workers whose counters are being read (more than 1 while an old worker drains after a reload)',
      registers,
      collect() {
        this.set(tap.liveWorkers().length);
      },
    });
    new Counter({
      name: 'weir_haproxy_stats_read_failures_total',
      help: 'Reads of HAProxy\'s counters that reached no worker (HAProxy down or restarting)',
      registers,
      collect() {
        this.reset();
        this.inc(tap.failedReads);
      },
    });
  }
}
