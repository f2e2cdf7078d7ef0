// The window aggregates in Elasticsearch: `weir-metrics-<org>-<env>-YYYY.MM.DD`, written by agents (when
// shipping is on) and read by the Elasticsearch window source. One document per route and window for a
// gateway that had traffic on the agent in that window (idle routes as zeros), one document without
// `weir.route` for a gateway it served with no traffic at all: every window an agent closed leaves a trace,
// so an agent that stopped reporting is told apart from one that saw nothing.
//
// `latency.histogram` is an Elasticsearch `histogram` field whose values are the bucket indices of
// `latency-histogram.ts` (not milliseconds): `percentiles` with `hdr` over it are exact in index space and
// map back to milliseconds with `bucketValue`. `response_time_ms` keeps the per-window percentiles for
// dashboards.
import { createHash } from 'node:crypto';
import type { Namespace } from '../store/store.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { GatewayWindowReport } from './window-report.js';

export type MetricsDocument = {
  '@timestamp': string;
  weir: { gateway: string; route?: string; namespace: string; org: string; env: string; mode: 'http' | 'tcp' };
  agent: { id: string; type: 'weir' };
  window_s: number;
  requests: number;
  rate: number;
  response_time_ms?: { p50: number | null; p95: number | null; p99: number | null };
  errors_5xx: number;
  error_ratio: number;
  health: number;
  latency: { samples: number; sum_ms: number; histogram?: { values: number[]; counts: number[] } };
};

export interface MetricsItem {
  id: string;
  index: string;
  document: MetricsDocument;
}

export function metricsIndexName(ns: Namespace, time: Date): string {
  const d = time.toISOString();
  return `weir-metrics-${ns.org}-${ns.env}-${d.slice(0, 4)}.${d.slice(5, 7)}.${d.slice(8, 10)}`;
}

export const metricsIndexPattern = (ns: Namespace): string => `weir-metrics-${ns.org}-${ns.env}-*`;

/** Deterministic: a retried or replayed window is a 409 on `create`, never a second document. */
export function metricsDocumentId(ns: Namespace, agentId: string, gateway: string, route: string | null, windowStart: number): string {
  return createHash('sha256').update(`${ns.org}\u0000${ns.env}\u0000${agentId}\u0000${gateway}\u0000${route ?? ''}\u0000${windowStart}`).digest('base64url').slice(0, 32);
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
          latency: { properties: { samples: { type: 'long' }, sum_ms: { type: 'double' }, histogram: { type: 'histogram' } } },
        },
      },
    },
  };
}

/** A closed gateway window → its documents. */
export function metricsDocuments(report: GatewayWindowReport): MetricsItem[] {
  const ns = { org: report.org, env: report.env };
  const time = new Date(report.start);
  const base = {
    '@timestamp': time.toISOString(),
    agent: { id: report.agent, type: 'weir' as const },
    window_s: report.window_s,
  };
  const weir = { gateway: report.gateway, namespace: `${ns.org}-${ns.env}`, org: ns.org, env: ns.env, mode: report.mode };
  const index = metricsIndexName(ns, time);
  const active = report.routes.some((r) => r.requests > 0 || r.latency.samples > 0);
  if (!active) {
    const document: MetricsDocument = { ...base, weir, requests: 0, rate: 0, errors_5xx: 0, error_ratio: 0, health: 1, latency: { samples: 0, sum_ms: 0 } };
    return [{ id: metricsDocumentId(ns, report.agent, report.gateway, null, report.start), index, document }];
  }
  return report.routes.map((r) => {
    const h = LatencyHistogram.fromSparse(r.latency.histogram);
    const ratio = r.requests > 0 ? r.errors / r.requests : 0;
    const document: MetricsDocument = {
      ...base,
      weir: { ...weir, route: r.route },
      requests: r.requests,
      rate: r.requests / report.window_s,
      response_time_ms: { p50: h.quantile(0.5), p95: h.quantile(0.95), p99: h.quantile(0.99) },
      errors_5xx: r.errors,
      error_ratio: ratio,
      health: 1 - ratio,
      latency: { samples: r.latency.samples, sum_ms: r.latency.sum_ms, ...(r.latency.histogram.values.length ? { histogram: r.latency.histogram } : {}) },
    };
    return { id: metricsDocumentId(ns, report.agent, report.gateway, r.route, report.start), index, document };
  });
}
