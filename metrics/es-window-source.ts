// The window source on Elasticsearch (production): the agents' `weir-metrics-<org>-<env>-*` documents
// (es-window-documents.ts), pooled by Elasticsearch in one search: sums of the exact counts per route, and
// `hdr` percentiles over the `latency.histogram` field, whose values are the fixed bucket indices — exact in
// index space, so the answer is the one the NATS source computes from the same windows (within the
// histogram's 2 %, see latency-histogram.ts). Contributing agents: a date histogram per agent (one bucket
// per window it reported, idle-gateway documents included).
// Before the client: it would load apache-arrow at start (see es-arrow-deferred.ts).
import './es-arrow-deferred.js';
import { errors, type Client, type estypes } from '@elastic/elasticsearch';
import type { Logger } from '../runtime/log.js';
import type { Namespace } from '../store/store.js';
import { createEsClient, esLocation, loadEsConnection } from './es-connection.js';
import type { ElasticsearchSettings } from './es-settings.js';
import { metricsIndexPattern } from './es-window-documents.js';
import { bucketValue } from './latency-histogram.js';
import { LATENCY_BOUND_Z, MetricsUnavailableError, type LatencyBounds, type RouteAggregate, type SeriesPoint, type SeriesQuery, type TrafficSeriesSource, type PooledAggregates, type WindowQuery, type WindowSeries } from './window-source.js';

type Json = Record<string, unknown>;

/** A query waits at most this long: a slow cluster is "unavailable", not a hung judge or API request. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** Far above any gateway's routes, and any namespace's agents: every one gets its exact bucket. */
const MAX_ROUTES = 1000;
const MAX_AGENTS = 10_000;

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const buckets = (v: unknown): Json[] => {
  const b = obj(v).buckets;
  return Array.isArray(b) ? (b as Json[]) : [];
};

function filterFor(ns: Namespace, gateway: string, from: Date, lastStart: Date): Json[] {
  return [
    // org and env rather than `weir.namespace` (`org-env`), which is ambiguous when either contains a `-`.
    { term: { 'weir.org': ns.org } },
    { term: { 'weir.env': ns.env } },
    { term: { 'weir.gateway': gateway } },
    { range: { '@timestamp': { gte: from.toISOString(), lte: lastStart.toISOString() } } },
  ];
}

// p50/p95/p99 and a grid around them: the 95 % interval of a percentile is read from the grid,
// rounded outward (never narrower than the order-statistic ranks the NATS source uses).
const GRID = [1, 5, 10, 15, 20, 25, 30, 35, 40, 42.5, 45, 47.5, 52.5, 55, 57.5, 60, 65, 70, 75, 80, 85, 88, 90, 91, 92, 93, 94, 96, 97, 97.5, 98, 98.5, 99.2, 99.4, 99.6, 99.8, 99.9, 100];
const PERCENTS = [...new Set([50, 95, 99, ...GRID])].sort((a, b) => a - b);

function bounds(pct: Json, samples: number): LatencyBounds {
  const b = (q: number): [number, number] => {
    const half = 100 * LATENCY_BOUND_Z * Math.sqrt((q * (1 - q)) / samples);
    const lo = [...PERCENTS].reverse().find((p) => p <= 100 * q - half) ?? PERCENTS[0]!;
    const hi = PERCENTS.find((p) => p >= 100 * q + half) ?? 100;
    return [percentile(pct, lo) ?? 0, percentile(pct, hi) ?? 0];
  };
  return { p50: b(0.5), p95: b(0.95), p99: b(0.99) };
}

/** Sums and percentiles of one set of documents. */
const figures = (): Json => ({
  requests: { sum: { field: 'requests' } },
  errors: { sum: { field: 'errors_5xx' } },
  samples: { sum: { field: 'latency.samples' } },
  sum_ms: { sum: { field: 'latency.sum_ms' } },
  pct: { percentiles: { field: 'latency.histogram', percents: PERCENTS, hdr: { number_of_significant_value_digits: 3 } } },
});

/** Per route and all routes pooled (the same sub-aggregations for a whole span or one step). */
const routeAggs = (): Json => ({
  ...figures(),
  routes: { terms: { field: 'weir.route', size: MAX_ROUTES }, aggs: figures() },
});

/** The `_search` behind `aggregate` (exported for tests and docs). */
export function aggregateSearchRequest(q: WindowQuery, windowSeconds: number): Json {
  const lastStart = new Date(q.to.getTime() - windowSeconds * 1000);
  return {
    index: metricsIndexPattern(q.ns),
    // A namespace without traffic has no index yet: no windows, not an error.
    ignore_unavailable: true,
    allow_no_indices: true,
    size: 0,
    query: { bool: { filter: filterFor(q.ns, q.gateway, q.from, lastStart) } },
    aggs: {
      ...routeAggs(),
      agents: { terms: { field: 'agent.id', size: MAX_AGENTS }, aggs: { windows: { date_histogram: { field: '@timestamp', fixed_interval: `${windowSeconds}s`, min_doc_count: 1 } } } },
    },
  };
}

/** The `_search` behind `series`: the same per step (steps on the epoch grid; `from` is a multiple of the step). */
export function seriesSearchRequest(q: SeriesQuery, windowSeconds: number): Json {
  const lastStart = new Date(q.to.getTime() - windowSeconds * 1000);
  return {
    index: metricsIndexPattern(q.ns),
    ignore_unavailable: true,
    allow_no_indices: true,
    size: 0,
    query: { bool: { filter: filterFor(q.ns, q.gateway, q.from, lastStart) } },
    aggs: {
      steps: {
        date_histogram: { field: '@timestamp', fixed_interval: `${q.stepSeconds}s`, min_doc_count: 1 },
        aggs: { ...routeAggs(), agents: { terms: { field: 'agent.id', size: MAX_AGENTS } } },
      },
    },
  };
}

function percentile(pct: Json, p: number): number | null {
  const values = obj(pct.values);
  // ES keys percentiles by their decimal form ("50.0").
  const v = num(values[p.toFixed(1)]) ?? num(values[String(p)]);
  return v === null ? null : bucketValue(Math.round(v)) / 1000;
}

function routeAggregate(b: Json, seconds: number): RouteAggregate {
  const requests = num(obj(b.requests).value) ?? 0;
  const errorsN = num(obj(b.errors).value) ?? 0;
  const samples = num(obj(b.samples).value) ?? 0;
  const sumMs = num(obj(b.sum_ms).value) ?? 0;
  const pct = obj(b.pct);
  const errorRate = requests > 0 ? errorsN / requests : 0;
  return {
    route: String(b.key),
    requests,
    errors: errorsN,
    errorRate,
    rate: seconds > 0 ? requests / seconds : 0,
    p50: samples > 0 ? percentile(pct, 50) : null,
    p95: samples > 0 ? percentile(pct, 95) : null,
    p99: samples > 0 ? percentile(pct, 99) : null,
    mean: samples > 0 ? sumMs / samples / 1000 : null,
    health: 1 - errorRate,
    latencySamples: samples,
    latencyBounds: samples > 0 ? bounds(pct, samples) : null,
  };
}

/** What went wrong, in words an operator can act on; never the credentials in the URL. */
export function describeEsFailure(err: unknown, where: string): string {
  if (err instanceof errors.ResponseError) {
    const e = obj(obj(err.body).error);
    const cause = obj(Array.isArray(e.root_cause) ? e.root_cause[0] : undefined);
    const reason = typeof e.reason === 'string' ? `${String(e.type ?? 'error')}: ${e.reason}` : typeof cause.reason === 'string' ? cause.reason : err.message;
    return `Elasticsearch at ${where} answered HTTP ${err.statusCode ?? '?'}: ${reason}`;
  }
  if (err instanceof errors.TimeoutError) return `Elasticsearch at ${where} did not answer in time`;
  if (err instanceof errors.ElasticsearchClientError) return `Elasticsearch at ${where} is unreachable: ${err.message}`;
  return `querying Elasticsearch at ${where} failed: ${err instanceof Error ? err.message : String(err)}`;
}

export interface ElasticsearchWindowSourceOptions {
  /** The agents' window (WEIR_TELEMETRY_WINDOW_S). Default 10. */
  windowSeconds?: number;
  logger?: Logger;
}

export class ElasticsearchWindowSource implements TrafficSeriesSource {
  readonly kind = 'elasticsearch' as const;
  readonly location: string;
  readonly windowSeconds: number;

  constructor(
    private readonly client: Client,
    url: string,
    private readonly opts: ElasticsearchWindowSourceOptions = {},
  ) {
    this.location = esLocation(url);
    this.windowSeconds = opts.windowSeconds ?? 10;
  }

  /** From WEIR_ELASTICSEARCH_* settings (`elasticsearchSettingsFromEnv`); reads the CA file. */
  static async fromSettings(es: ElasticsearchSettings, opts: ElasticsearchWindowSourceOptions & { requestTimeoutMs?: number } = {}): Promise<ElasticsearchWindowSource> {
    const client = createEsClient(await loadEsConnection(es, opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS));
    return new ElasticsearchWindowSource(client, es.url, opts);
  }

  async aggregate(q: WindowQuery): Promise<PooledAggregates> {
    const res = await this.search(aggregateSearchRequest(q, this.windowSeconds), q);
    const aggs = obj(res.aggregations);
    const agents = buckets(aggs.agents).map((b) => ({ id: String(b.key), starts: buckets(b.windows).filter((w) => (num(w.doc_count) ?? 0) > 0).map((w) => num(w.key) ?? 0) }));
    const starts = agents.flatMap((a) => a.starts);
    const first = starts.length ? Math.min(...starts) : q.from.getTime();
    const last = starts.length ? Math.max(...starts) + this.windowSeconds * 1000 : q.to.getTime();
    const seconds = (last - first) / 1000;
    return {
      from: new Date(first),
      to: new Date(last),
      windowSeconds: this.windowSeconds,
      routes: Object.fromEntries(buckets(aggs.routes).map((b) => [String(b.key), routeAggregate(b, seconds)])),
      total: routeAggregate({ ...aggs, key: '*' }, seconds),
      agents: agents.map((a) => ({ id: a.id, windows: a.starts.length })).sort((x, y) => x.id.localeCompare(y.id)),
    };
  }

  async series(q: SeriesQuery): Promise<WindowSeries> {
    const res = await this.search(seriesSearchRequest(q, this.windowSeconds), q);
    const stepMs = q.stepSeconds * 1000;
    const steps = Math.max(0, Math.ceil((q.to.getTime() - q.from.getTime()) / stepMs));
    const byStart = new Map(buckets(obj(res.aggregations).steps).map((b) => [num(b.key) ?? 0, b]));
    const names = new Set<string>();
    for (const b of byStart.values()) for (const r of buckets(b.routes)) names.add(String(r.key));
    const starts = Array.from({ length: steps }, (_, k) => q.from.getTime() + k * stepMs);
    const routes: Record<string, SeriesPoint[]> = {};
    for (const name of [...names].sort()) {
      routes[name] = starts.map((t) => {
        const r = buckets(byStart.get(t)?.routes).find((x) => String(x.key) === name) ?? { key: name };
        return { start: new Date(t), ...routeAggregate(r, q.stepSeconds) };
      });
    }
    return {
      from: q.from,
      to: new Date(q.from.getTime() + steps * stepMs),
      stepSeconds: q.stepSeconds,
      windowSeconds: this.windowSeconds,
      routes,
      total: starts.map((t) => ({ start: new Date(t), ...routeAggregate({ ...(byStart.get(t) ?? {}), key: '*' }, q.stepSeconds) })),
      agents: starts.map((t) => ({ start: new Date(t), agents: buckets(byStart.get(t)?.agents).map((a) => String(a.key)).sort() })),
    };
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async search(body: Json, q: WindowQuery): Promise<Json> {
    try {
      // The client splits the request into URL parameters (index, ignore_unavailable, ...) and the body.
      return obj(await this.client.search(body as estypes.SearchRequest));
    } catch (err) {
      const message = describeEsFailure(err, this.location);
      this.opts.logger?.warn({ err: message, gateway: q.gateway, ns: `${q.ns.org}/${q.ns.env}` }, 'metrics window query failed');
      throw new MetricsUnavailableError('elasticsearch', message, err);
    }
  }
}
