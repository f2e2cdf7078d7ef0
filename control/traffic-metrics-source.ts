// Traffic metrics for the control API, computed on demand from the per-request documents the agents ship
// (`weir-logs-<org>-<env>-*`, see agent/telemetry/log-record.ts `toEcsDocument`): Vamp's metrics and health
// endpoints, but from one Elasticsearch aggregation instead of a workflow writing events every minute.
//
// Definitions follow the agent's `weir-metrics-*` window documents (window-aggregator.ts, docs/TELEMETRY.md)
// so a number read here means the same as one a release policy reads there:
// - response time: Ta (active time) for HTTP, Tt for TCP and for HTTP records without a Ta;
// - errors_5xx: HTTP 5xx; for TCP, sessions the server side ended abnormally (termination state `S…`);
// - health = 1 − error_ratio; rate = requests / window (Vamp's `total / window`).
// The window is by `@timestamp` (when HAProxy accepted the request), not by end time as in the window
// documents: a query has no window to close, and a request in flight has no log line yet anyway.
import { errors, type Client, type estypes } from '@elastic/elasticsearch';
import type { Logger } from '../runtime/log.js';
import { createEsClient, loadEsConnection } from '../agent/telemetry/es-shipper.js';
import type { ElasticsearchSettings } from '../agent/telemetry/telemetry-settings.js';
import type { Namespace } from '../store/store.js';
import { TrafficMetricsUnavailableError, type TrafficMetricsQuery, type TrafficMetricsResult, type TrafficMetricsSource, type TrafficStats } from './seams.js';

/** An API request waits at most this long for Elasticsearch; a slow cluster becomes a 503, not a hung client. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** Buckets of the per-route split: far above any real gateway's routes, so every route gets its exact count. */
const MAX_ROUTES = 1000;
const PERCENTS = [50, 95, 99] as const;

type Json = Record<string, unknown>;

export const logsIndexPattern = (ns: Namespace): string => `weir-logs-${ns.org}-${ns.env}-*`;

// Ta is the response time when HAProxy reported it (HTTP, Ta >= 0); otherwise Tt (TCP, or an HTTP request
// aborted before it had one). Two disjoint filter buckets replace the script a single field would need.
const ACTIVE_TIMED: Json = { bool: { filter: [{ term: { 'weir.mode': 'http' } }, { range: { 'haproxy.time_active_ms': { gte: 0 } } }] } };
const TOTAL_TIMED: Json = { bool: { filter: [{ range: { 'haproxy.time_total_ms': { gte: 0 } } }], must_not: [ACTIVE_TIMED] } };
const ERRORS: Json = {
  bool: {
    should: [
      { bool: { filter: [{ term: { 'weir.mode': 'http' } }, { range: { 'http.response.status_code': { gte: 500, lt: 600 } } }] } },
      { bool: { filter: [{ term: { 'weir.mode': 'tcp' } }, { prefix: { 'haproxy.termination_state': { value: 'S' } } }] } },
    ],
    minimum_should_match: 1,
  },
};

function timingAggs(field: string): Json {
  return { pct: { percentiles: { field, percents: [...PERCENTS] } }, sum: { sum: { field } }, n: { value_count: { field } } };
}

/** The aggregations for one set of documents (the whole selection, or one route bucket). */
const statsAggs = (): Json => ({
  errors: { filter: ERRORS },
  active: { filter: ACTIVE_TIMED, aggs: timingAggs('haproxy.time_active_ms') },
  total: { filter: TOTAL_TIMED, aggs: timingAggs('haproxy.time_total_ms') },
});

/** The one `_search` request (size 0) behind a metrics answer. Exported so tests and docs can show it. */
export function metricsSearchRequest(q: TrafficMetricsQuery): Json {
  const filter: Json[] = [
    // org and env rather than `weir.namespace` (`org-env`), which is ambiguous when either contains a `-`;
    // the index pattern has the same ambiguity, so this filter is what keeps tenants apart.
    { term: { 'weir.org': q.ns.org } },
    { term: { 'weir.env': q.ns.env } },
    { term: { 'weir.gateway': q.gateway } },
    ...(q.route !== undefined ? [{ term: { 'weir.route': q.route } }] : []),
    { range: { '@timestamp': { gte: `now-${q.windowSeconds}s`, lte: 'now' } } },
  ];
  const aggs = statsAggs();
  if (q.route === undefined) aggs.routes = { terms: { field: 'weir.route', size: MAX_ROUTES }, aggs: statsAggs() };
  return {
    index: logsIndexPattern(q.ns),
    // A namespace without traffic has no index yet: that is zero requests, not an error.
    ignore_unavailable: true,
    allow_no_indices: true,
    size: 0,
    // Exact counts: by default hits.total stops at 10 000.
    track_total_hits: true,
    query: { bool: { filter } },
    aggs,
  };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const round = (n: number): number => Math.round(n * 1000) / 1000;

interface Timing {
  n: number;
  sum: number;
  pct: Array<number | null>;
}

function timing(bucket: Json): Timing {
  const values = obj(obj(bucket.pct).values);
  // ES keys percentiles by their decimal form ("50.0"); accept "50" too.
  const pct = PERCENTS.map((p) => num(values[p.toFixed(1)]) ?? num(values[String(p)]));
  return { n: num(obj(bucket.n).value) ?? 0, sum: num(obj(bucket.sum).value) ?? 0, pct };
}

/**
 * Stats of one bucket. The two timing groups are disjoint; when both have samples (an HTTP gateway with some
 * aborted requests) the percentiles are their sample-weighted mean, an estimate; the average is exact.
 */
function stats(bucket: Json, requests: number, windowSeconds: number): TrafficStats {
  const a = timing(obj(bucket.active));
  const t = timing(obj(bucket.total));
  const n = a.n + t.n;
  const pct = PERCENTS.map((_, i) => {
    const pa = a.pct[i] ?? null;
    const pt = t.pct[i] ?? null;
    if (t.n === 0 || pt === null) return a.n > 0 && pa !== null ? round(pa) : null;
    if (a.n === 0 || pa === null) return round(pt);
    return round((pa * a.n + pt * t.n) / n);
  });
  const errors5xx = num(obj(bucket.errors).doc_count) ?? 0;
  const ratio = requests > 0 ? errors5xx / requests : 0;
  return {
    requests,
    rate_per_s: round(requests / windowSeconds),
    response_time_ms: { p50: pct[0] ?? null, p95: pct[1] ?? null, p99: pct[2] ?? null, avg: n > 0 ? round((a.sum + t.sum) / n) : null },
    errors_5xx: errors5xx,
    error_ratio: round(ratio),
    health: round(1 - ratio),
  };
}

/** Turns a `_search` response into the result; exported for unit use with canned responses. */
export function readMetricsResponse(res: unknown, q: TrafficMetricsQuery, from: Date, to: Date): TrafficMetricsResult {
  const body = obj(res);
  const total = obj(obj(body.hits).total);
  const aggs = obj(body.aggregations);
  const requests = num(total.value) ?? 0;
  const out: TrafficMetricsResult = { from: from.toISOString(), to: to.toISOString(), total: stats(aggs, requests, q.windowSeconds), source: 'elasticsearch' };
  if (q.route === undefined) {
    const buckets = obj(aggs.routes).buckets;
    out.perRoute = (Array.isArray(buckets) ? buckets : []).map((b) => {
      const bucket = obj(b);
      return { route: String(bucket.key), ...stats(bucket, num(bucket.doc_count) ?? 0, q.windowSeconds) };
    });
  }
  return out;
}

/** What went wrong, in words an operator can act on; never the credentials in the URL. */
function describeFailure(err: unknown, where: string): string {
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

export interface ElasticsearchTrafficMetricsOptions {
  logger?: Logger;
  /** The control API's clock, for `from`/`to` (tests). */
  now?: () => Date;
}

export class ElasticsearchTrafficMetrics implements TrafficMetricsSource {
  private readonly where: string;

  constructor(
    private readonly client: Client,
    url: string,
    private readonly opts: ElasticsearchTrafficMetricsOptions = {},
  ) {
    let where = url;
    try {
      where = new URL(url).origin;
    } catch {
      /* keep as given: settings validated it already */
    }
    this.where = where;
  }

  /** From WEIR_ELASTICSEARCH_* settings (see `elasticsearchSettingsFromEnv`); reads the CA file. */
  static async fromSettings(es: ElasticsearchSettings, opts: ElasticsearchTrafficMetricsOptions & { requestTimeoutMs?: number } = {}): Promise<ElasticsearchTrafficMetrics> {
    const client = createEsClient(await loadEsConnection(es, opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS));
    return new ElasticsearchTrafficMetrics(client, es.url, opts);
  }

  async query(q: TrafficMetricsQuery): Promise<TrafficMetricsResult> {
    const to = this.opts.now?.() ?? new Date();
    const from = new Date(to.getTime() - q.windowSeconds * 1000);
    let res: unknown;
    try {
      // The client splits the request into URL parameters (index, ignore_unavailable, ...) and the body.
      res = await this.client.search(metricsSearchRequest(q) as estypes.SearchRequest);
    } catch (err) {
      const message = describeFailure(err, this.where);
      this.opts.logger?.warn({ err, gateway: q.gateway, ns: `${q.ns.org}/${q.ns.env}` }, 'traffic metrics query failed');
      throw new TrafficMetricsUnavailableError(message);
    }
    return readMetricsResponse(res, q, from, to);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
