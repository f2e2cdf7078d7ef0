// Control API traffic metrics from the agents' window aggregates in Elasticsearch: window reports go into the
// Elasticsearch double through the agent's real path (metricsDocuments → EsShipper → _bulk, with the
// weir-metrics template), then the metrics endpoints are read over HTTP and checked against numbers worked
// out by hand: exact counts, rate over the span covered, pooled percentiles (the fixed-bucket histogram),
// health, per-route split, contributing agents, the window and the series, tenants, and 400/403/404/503.
// (The NATS source, with real agents: metrics-nats-source.test.ts.)
import { join } from 'node:path';
import { silentLogger } from '../../runtime/log.js';
import { FileStore } from '../../store/file-store.js';
import { EsShipper } from '../../agent/telemetry/es-shipper.js';
import { createEsClient } from '../../metrics/es-connection.js';
import { elasticsearchSettingsFromEnv } from '../../metrics/es-settings.js';
import { metricsDocuments, metricsIndexTemplate } from '../../metrics/es-window-documents.js';
import { ElasticsearchWindowSource } from '../../metrics/es-window-source.js';
import { LatencyHistogram } from '../../metrics/latency-histogram.js';
import type { GatewayWindowReport } from '../../metrics/window-report.js';
import type { Namespace } from '../../store/store.js';
import { runControl } from '../../control/main.js';
import { openApiDocument } from '../../control/openapi.js';
import { WindowTrafficMetrics } from '../../control/traffic-metrics-source.js';
import type { TrafficMetricsReply, TrafficSeriesReply } from '../../control/seams.js';
import { startElasticsearchDouble, type ElasticsearchDouble } from '../doubles/elasticsearch.js';
import { A, B, code, gatewayYaml, message, nsPath, startControl, type ControlFixture } from '../harness/control.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('control API: traffic metrics from the window aggregates in Elasticsearch');
let es: ElasticsearchDouble;
let dir: { path: string; remove: () => Promise<void> };
let fx: ControlFixture;
let windows: ElasticsearchWindowSource;

const AMBIGUOUS: Namespace = { org: 'acme-prod', env: 'x' }; // its indices match weir-metrics-acme-prod-* too
const DEV: Namespace = { org: 'acme', env: 'dev' };
/** A window boundary; the API's clock stands 3.5 s after it, so the last closed window ends at T. */
const T = Math.floor(Date.now() / 10_000) * 10_000;
const NOW = T + 3500;

type RouteSpec = { requests: number; errors?: number; lat?: number[] };
function report(ns: Namespace, gateway: string, agent: string, start: number, routes: Record<string, RouteSpec>, mode: 'http' | 'tcp' = 'http'): GatewayWindowReport {
  return {
    v: 1,
    org: ns.org,
    env: ns.env,
    gateway,
    agent,
    mode,
    start,
    window_s: 10,
    routes: Object.entries(routes).map(([route, r]) => {
      const h = new LatencyHistogram();
      for (const v of r.lat ?? []) h.add(v);
      return { route, requests: r.requests, errors: r.errors ?? 0, latency: { samples: h.count, sum_ms: h.sumMs, histogram: h.toSparse() } };
    }),
  };
}

const range = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));
const reports: GatewayWindowReport[] = [];
// web, agent a1: the last six windows; v1 200 requests (5 errors) with 100 sampled latencies 1..100 ms; v2 20
// requests of 300 ms; v3 idle.
for (let k = 1; k <= 6; k++) reports.push(report(A, 'web', 'a1', T - k * 10_000, { v1: { requests: 200, errors: 5, lat: range(100, (i) => i + 1) }, v2: { requests: 20, lat: range(20, () => 300) }, v3: { requests: 0 } }));
// Agent a2 started late: the last three windows only.
for (let k = 1; k <= 3; k++) reports.push(report(A, 'web', 'a2', T - k * 10_000, { v1: { requests: 50, lat: range(10, () => 200) }, v2: { requests: 0 }, v3: { requests: 0 } }));
// Ten minutes ago: outside 60 s and 5 m, inside 1 h.
reports.push(report(A, 'web', 'a1', T - 600_000, { v1: { requests: 10, errors: 10, lat: range(10, () => 1000) }, v2: { requests: 0 }, v3: { requests: 0 } }));
// An idle window of a third agent: it reported (alive), saw nothing.
reports.push(report(A, 'web', 'a3', T - 10_000, { v1: { requests: 0 }, v2: { requests: 0 }, v3: { requests: 0 } }));
// Other gateway, other tenant, a namespace whose indices share the pattern, and the TCP gateway.
reports.push(report(A, 'api', 'a1', T - 10_000, { main: { requests: 7, errors: 7, lat: [5] } }));
reports.push(report(B, 'web', 'b1', T - 10_000, { v1: { requests: 9, lat: [5] } }));
reports.push(report(AMBIGUOUS, 'web', 'x1', T - 10_000, { v1: { requests: 4, errors: 4, lat: [5] } }));
reports.push(report(A, 'db', 'a1', T - 10_000, { main: { requests: 4, errors: 1, lat: [10, 20, 30, 40] } }, 'tcp'));

/** Ships reports as the agent does: documents, deterministic _id, daily index, bulk create, the template first. */
async function ship(rs: GatewayWindowReport[]): Promise<void> {
  const client = createEsClient({ url: es.url, requestTimeoutMs: 5000 });
  const shipper = new EsShipper({ client, batchSize: 200, flushIntervalMs: 10, extraTemplates: { 'weir-metrics': metricsIndexTemplate() } });
  try {
    await shipper.start();
    for (const r of rs) for (const item of metricsDocuments(r)) await shipper.push(item);
    assert.ok(await shipper.flush(5000), 'shipped');
  } finally {
    await shipper.close(1000);
    await client.close();
  }
}

t.before(async () => {
  es = await startElasticsearchDouble();
  dir = await tempDir('weir-control-metrics-');
  const store = new FileStore(dir.path);
  await store.put(A, 'web', gatewayYaml(8080, { v1: 40, v2: 40, v3: 20 }), 'yaml');
  await store.put(A, 'api', gatewayYaml(8081, { main: 100 }), 'yaml');
  await store.put(A, 'db', 'port: "5432/tcp"\nroutes:\n  main:\n    targets: ["127.0.0.1:5433"]\n', 'yaml');
  await store.put(B, 'web', gatewayYaml(8080, { v1: 100 }), 'yaml');
  await store.put(DEV, 'web', gatewayYaml(8080, { v1: 100 }), 'yaml');
  // Through the settings parser the control API uses, not a hand-made client.
  windows = await ElasticsearchWindowSource.fromSettings(elasticsearchSettingsFromEnv({ WEIR_ELASTICSEARCH_URL: es.url })!, { requestTimeoutMs: 2000 });
  fx = await startControl(store, { trafficMetrics: new WindowTrafficMetrics(windows, { now: () => NOW }) });
  await ship(reports);
});

t.after(async () => {
  await fx.close();
  await windows.close();
  await es.stop();
  await dir.remove();
});

const get = async <R = TrafficMetricsReply>(path: string, token?: string): Promise<{ status: number; m: R; code: string | undefined; message: string }> => {
  const r = await fx.api('GET', path, token !== undefined ? { token } : {});
  return { status: r.status, m: r.json as R, code: code(r), message: message(r) };
};
const close = (actual: number | null | undefined, expected: number, what: string, tol = 0.01): void => {
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= tol, `${what}: ${String(actual)} ≈ ${expected}`);
};
/** What the pooled histogram answers for these samples, in ms. */
const pooled = (samples: number[], q: number): number => {
  const h = new LatencyHistogram();
  for (const v of samples) h.add(v);
  return Math.round(h.quantile(q)! * 1000) / 1000; // the API answers in ms to 3 decimals
};
const v1Samples = [...range(6, () => 0).flatMap(() => range(100, (i) => i + 1)), ...range(30, () => 200)];

t('gateway: exact counts over the last closed windows, pooled percentiles, agents that reported; one size-0 search', async () => {
  const before = es.searches.length;
  const { status, m } = await get(nsPath(A, '/gateways/web/metrics?window=60s'));
  assert.is(status, 200);
  assert.is(es.searches.length, before + 1, 'one _search');
  const s = es.searches.at(-1)!;
  assert.is(s.index, 'weir-metrics-acme-prod-*');
  assert.is(s.params.ignore_unavailable, 'true');
  assert.is(s.body.size, 0);

  assert.is(m.gateway, 'web');
  assert.is(m.window_s, 60);
  assert.is(m.source, 'elasticsearch');
  assert.is(m.from, new Date(T - 60_000).toISOString());
  assert.is(m.to, new Date(T).toISOString());
  assert.is(m.requests, 6 * 220 + 150);
  close(m.rate_per_s, (6 * 220 + 150) / 60, 'rate');
  assert.is(m.errors_5xx, 30);
  close(m.health, 1 - 30 / 1470, 'health', 0.001);
  assert.is(m.latency_samples, 600 + 120 + 30);
  assert.equal(m.agents, [
    { id: 'a1', windows: 6 },
    { id: 'a2', windows: 3 },
    { id: 'a3', windows: 1 },
  ]);

  assert.equal(m.per_route?.map((r) => r.route), ['v1', 'v2', 'v3'], 'definition order; idle v3 included');
  const [v1, v2, v3] = m.per_route!;
  assert.is(v1!.requests, 1350);
  assert.is(v1!.errors_5xx, 30);
  assert.is(v1!.latency_samples, 630);
  close(v1!.rate_per_s, 1350 / 60, 'v1 rate');
  assert.is(v1!.response_time_ms.p50, pooled(v1Samples, 0.5));
  assert.is(v1!.response_time_ms.p95, pooled(v1Samples, 0.95));
  assert.is(v1!.response_time_ms.p99, pooled(v1Samples, 0.99), 'p99: the 200 ms samples of a2');
  close(v1!.response_time_ms.avg, (6 * 5050 + 30 * 200) / 630, 'v1 avg (exact over the samples)');
  assert.is(v2!.requests, 120);
  assert.is(v2!.health, 1);
  close(v2!.response_time_ms.p99, 300, 'v2 p99 (within 2 %)', 6);
  assert.equal(v3, { route: 'v3', requests: 0, rate_per_s: 0, response_time_ms: { p50: null, p95: null, p99: null, avg: null }, errors_5xx: 0, error_ratio: 0, health: 1, latency_samples: 0 });
});

t('route endpoint; the window decides what counts (old errors only in 1h); default window is 60s', async () => {
  const r = await get(nsPath(A, '/gateways/web/routes/v1/metrics'));
  assert.is(r.status, 200);
  assert.is(r.m.route, 'v1');
  assert.is(r.m.window_s, 60);
  assert.is(r.m.per_route, undefined);
  assert.is(r.m.requests, 1350);
  const hour = await get(nsPath(A, '/gateways/web/routes/v1/metrics?window=1h'));
  assert.is(hour.m.window_s, 3600);
  assert.is(hour.m.requests, 1360);
  assert.is(hour.m.errors_5xx, 40);
  close(hour.m.response_time_ms.p99, 1000, 'the old 1 s samples (within 2 %)', 20);
  const five = await get(nsPath(A, '/gateways/web/metrics?window=5m'));
  assert.is(five.m.window_s, 300);
  assert.is(five.m.requests, 1470, 'ten minutes ago is outside 5m');
  const odd = await get(nsPath(A, '/gateways/web/metrics?window=15s'));
  assert.is(odd.m.window_s, 20, 'rounded up to whole windows');
});

t('series: one point per step from the same windows, agents per step, the same totals', async () => {
  const { status, m } = await get<TrafficSeriesReply>(nsPath(A, '/gateways/web/metrics?window=60s&step=10s'));
  assert.is(status, 200);
  assert.is(m.step_s, 10);
  assert.is(m.window_s, 60);
  assert.is(m.source, 'elasticsearch');
  assert.is(m.total.length, 6);
  assert.equal(m.total.map((p) => p.t), range(6, (i) => T - (6 - i) * 10_000).map((x) => new Date(x).toISOString()));
  assert.equal(m.total.map((p) => p.requests), [220, 220, 220, 270, 270, 270]);
  assert.equal(m.total.map((p) => p.rate_per_s), [22, 22, 22, 27, 27, 27]);
  assert.equal(m.agents.map((a) => a.agents), [['a1'], ['a1'], ['a1'], ['a1', 'a2'], ['a1', 'a2'], ['a1', 'a2', 'a3']]);
  assert.equal(m.per_route?.map((r) => r.route), ['v1', 'v2', 'v3']);
  const v1 = m.per_route![0]!.points;
  assert.equal(v1.map((p) => p.errors_5xx), [5, 5, 5, 5, 5, 5]);
  close(v1[0]!.error_ratio, 0.025, 'error ratio per step', 0.001);
  assert.is(v1[5]!.response_time_ms.p99, pooled([...range(100, (i) => i + 1), ...range(10, () => 200)], 0.99));
  assert.ok(m.per_route![2]!.points.every((p) => p.requests === 0 && p.response_time_ms.p50 === null), 'idle route: zeros');

  const twenty = await get<TrafficSeriesReply>(nsPath(A, '/gateways/web/routes/v2/metrics?window=60s&step=20s'));
  assert.is(twenty.status, 200);
  assert.is(twenty.m.route, 'v2');
  assert.is(twenty.m.per_route, undefined);
  assert.is(twenty.m.total.length, 3);
  const to20 = Math.floor((NOW - 3000) / 20_000) * 20_000;
  assert.is(twenty.m.to, new Date(to20).toISOString(), 'steps on the step grid');
  const inSpan = range(6, (k) => T - (k + 1) * 10_000).filter((s) => s >= to20 - 60_000 && s < to20).length;
  assert.is(twenty.m.total.reduce((n, p) => n + p.requests, 0), 20 * inSpan);
});

t('TCP gateway: the windows\' sessions and errors, Tt latencies', async () => {
  const { status, m } = await get(nsPath(A, '/gateways/db/metrics'));
  assert.is(status, 200);
  assert.is(m.requests, 4);
  assert.is(m.errors_5xx, 1);
  close(m.health, 0.75, 'health');
  close(m.response_time_ms.avg, 25, 'avg Tt');
  assert.is(m.response_time_ms.p50, 20, 'rank round(0.5 · 4) = 2');
});

t('tenants: viewer of the namespace reads; other tenants 403 before Elasticsearch; no windows yet = zeros, no agents', async () => {
  assert.is((await get(nsPath(A, '/gateways/web/metrics'), fx.tok.viewerA)).status, 200);
  const before = es.searches.length;
  const denied = await get(nsPath(A, '/gateways/web/metrics'), fx.tok.viewerB);
  assert.is(denied.status, 403);
  assert.is((await fx.api('GET', nsPath(A, '/gateways/web/metrics'), { token: null })).status, 401);
  assert.is(es.searches.length, before, 'no query for a denied request');
  const other = await get(nsPath(B, '/gateways/web/metrics'), fx.tok.viewerB);
  assert.is(other.m.requests, 9, "globex's own traffic only");
  assert.equal(other.m.agents, [{ id: 'b1', windows: 1 }]);
  const dev = await get(nsPath(DEV, '/gateways/web/metrics'));
  assert.is(dev.status, 200, 'a namespace without indices answers');
  assert.is(dev.m.requests, 0);
  assert.equal(dev.m.agents, [], 'no agent reported: not "zero traffic"');
  assert.is(dev.m.response_time_ms.p50, null);
  assert.equal(dev.m.per_route?.map((r) => [r.route, r.requests]), [['v1', 0]]);
});

t('400 bad window or step, 404 unknown gateway or route (checked in the store, no query)', async () => {
  for (const w of ['0s', '25h', '86401s', 'abc', '10', '1d', '-5s']) {
    const r = await get(nsPath(A, `/gateways/web/metrics?window=${encodeURIComponent(w)}`));
    assert.is(r.status, 400, w);
    assert.is(r.code, 'invalid_window', w);
  }
  for (const [q, re] of [['step=15s', /multiple of the agents' 10s window/], ['step=0s', /between 1s and 1h/], ['step=2h', /between 1s and 1h/], ['window=24h&step=10s', /8640 steps; at most 1000/]] as const) {
    const r = await get(nsPath(A, `/gateways/web/metrics?${q}`));
    assert.is(r.status, 400, q);
    assert.is(r.code, 'invalid_step', q);
    assert.match(r.message, re);
  }
  const before = es.searches.length;
  const g = await get(nsPath(A, '/gateways/nope/metrics'));
  assert.is(g.status, 404);
  assert.is(g.code, 'gateway_not_found');
  const r = await get(nsPath(A, '/gateways/web/routes/v9/metrics'));
  assert.is(r.status, 404);
  assert.is(r.code, 'route_not_found');
  assert.match(r.message, /v1, v2, v3/);
  assert.is(es.searches.length, before);
});

t('OpenAPI documents both endpoints with window and step, and both reply shapes', () => {
  const doc = openApiDocument() as {
    paths: Record<string, Record<string, { operationId: string; parameters: Array<{ name: string; in: string }>; responses: Record<string, { content?: Record<string, { schema: { oneOf?: Array<{ $ref: string }> } }> }> }>>;
    components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> };
  };
  for (const [path, op] of [['/api/v1/namespaces/{org}/{env}/gateways/{name}/metrics', 'gatewayMetrics'], ['/api/v1/namespaces/{org}/{env}/gateways/{name}/routes/{route}/metrics', 'routeMetrics']] as const) {
    const g = doc.paths[path]?.get;
    assert.is(g?.operationId, op);
    assert.ok(g?.parameters.some((p) => p.name === 'window' && p.in === 'query'));
    assert.ok(g?.parameters.some((p) => p.name === 'step' && p.in === 'query'));
    assert.equal(g?.responses['200']?.content?.['application/json']?.schema.oneOf?.map((r) => r.$ref), ['#/components/schemas/TrafficMetrics', '#/components/schemas/TrafficSeries']);
    assert.ok(g?.responses['503'] && g.responses['404'] && g.responses['403'] && g.responses['400']);
  }
  assert.ok(doc.components.schemas.TrafficSeries?.required?.includes('total'));
  assert.ok(doc.components.schemas.TrafficStats?.required?.includes('latency_samples'));
});

t('Elasticsearch failing or down: 503 metrics_unavailable with its reason; the server keeps serving', async () => {
  es.failNextRequests(1, 503);
  const failing = await get(nsPath(A, '/gateways/web/metrics'));
  assert.is(failing.status, 503);
  assert.is(failing.code, 'metrics_unavailable');
  assert.match(failing.message, /HTTP 503/);
  assert.match(failing.message, /no master/);
  assert.is((await get(nsPath(A, '/gateways/web/metrics'))).status, 200, 'recovers with Elasticsearch');
  await es.stop();
  try {
    const down = await get(nsPath(A, '/gateways/web/metrics?step=10s'));
    assert.is(down.status, 503);
    assert.is(down.code, 'metrics_unavailable');
    assert.match(down.message, /unreachable/);
    assert.is((await fx.api('GET', nsPath(A, '/gateways'))).status, 200, 'the rest of the API is unaffected');
  } finally {
    await es.start();
  }
});

t('not configured: 503 naming both settings; runControl wires Elasticsearch from the environment', async () => {
  const bare = await startControl(fx.store);
  try {
    const r = await bare.api('GET', nsPath(A, '/gateways/web/metrics'));
    assert.is(r.status, 503);
    assert.is(code(r), 'metrics_unavailable');
    assert.match(message(r), /WEIR_NATS_URL/);
    assert.match(message(r), /WEIR_ELASTICSEARCH_URL/);
  } finally {
    await bare.close();
  }
  const env = { WEIR_STORE: `file://${dir.path}`, WEIR_CONTROL_ADDR: '127.0.0.1:0', WEIR_CONTROL_STATE_DIR: join(dir.path, '.control'), WEIR_ELASTICSEARCH_URL: es.url };
  const running = await runControl(env, { logger: silentLogger(), handleSignals: false });
  try {
    const res = await fetch(`http://127.0.0.1:${running.server.port}${nsPath(A, '/gateways/web/metrics?window=1h')}`, { headers: { authorization: `Bearer ${running.bootstrapToken as string}` } });
    assert.is(res.status, 200);
    const body = (await res.json()) as TrafficMetricsReply;
    assert.is(body.source, 'elasticsearch');
    assert.ok(body.requests >= 1360 - 270, 'the shipped windows (the clock is real here)');
  } finally {
    await running.close();
  }
  for (const [k, v, re] of [['WEIR_ELASTICSEARCH_URL', 'ftp://es', /WEIR_ELASTICSEARCH_URL: "ftp:\/\/es" must be http\(s\):\/\//], ['WEIR_ELASTICSEARCH_CA', '/nonexistent.pem', /WEIR_ELASTICSEARCH_CA: cannot read \/nonexistent.pem/]] as const) {
    try {
      await runControl({ ...env, [k]: v }, { logger: silentLogger(), handleSignals: false });
      assert.unreachable(`${k}=${v} accepted`);
    } catch (err) {
      assert.match((err as Error).message, re);
    }
  }
});

t.run();
