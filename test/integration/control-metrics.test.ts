// Control API traffic metrics: documents go into the Elasticsearch double through the agent's real shipping
// path (TrafficRecord → toEcsDocument → EsShipper → _bulk), then the metrics endpoints are read over HTTP and
// checked against numbers worked out by hand: counts, rate, exact percentiles (the double interpolates between
// closest ranks, as ES's TDigest approximates), 5xx, health, per-route split, the window, tenants, and the
// 400/403/404/503 answers.
import { join } from 'node:path';
import { silentLogger } from '../../runtime/log.js';
import { FileStore } from '../../store/file-store.js';
import { createEsClient, EsShipper } from '../../agent/telemetry/es-shipper.js';
import { documentId, indexName, toEcsDocument, type Namespace, type TrafficRecord } from '../../agent/telemetry/log-record.js';
import { elasticsearchSettingsFromEnv } from '../../agent/telemetry/telemetry-settings.js';
import { runControl } from '../../control/main.js';
import { openApiDocument } from '../../control/openapi.js';
import { ElasticsearchTrafficMetrics } from '../../control/traffic-metrics-source.js';
import type { TrafficMetricsReply } from '../../control/seams.js';
import { startElasticsearchDouble, type ElasticsearchDouble } from '../doubles/elasticsearch.js';
import { A, B, code, gatewayYaml, message, nsPath, startControl, type ControlFixture } from '../harness/control.js';
import { tempDir } from '../harness/tmp.js';
import { assert, suite } from '../harness/uvu.js';

type Metrics = TrafficMetricsReply;

const t = suite('control API: traffic metrics from Elasticsearch');
let es: ElasticsearchDouble;
let dir: { path: string; remove: () => Promise<void> };
let fx: ControlFixture;
let source: ElasticsearchTrafficMetrics;

const AMBIGUOUS: Namespace = { org: 'acme-prod', env: 'x' }; // its indices match weir-logs-acme-prod-* too
const DEV: Namespace = { org: 'acme', env: 'dev' };

let seq = 0;
/** A traffic record as the log parser produces it; `agoMs` before now. */
function record(o: { gateway: string; route: string; agoMs: number; status?: number; Ta?: number; Tt?: number; mode?: 'http' | 'tcp'; ts?: string }): TrafficRecord {
  const http = (o.mode ?? 'http') === 'http';
  const Ta = o.Ta ?? 10;
  return {
    time: new Date(Date.now() - o.agoMs),
    id: `req-${++seq}`,
    clientIp: '127.0.0.1',
    clientPort: 40000 + (seq % 1000),
    frontend: `${o.gateway}`,
    backend: `${o.gateway}:${o.route}`,
    server: 's1',
    gateway: o.gateway,
    route: o.route,
    mode: http ? 'http' : 'tcp',
    timings: { Tq: http ? 0 : -1, Tw: 0, Tc: 1, Tr: http ? Math.max(0, Ta - 1) : -1, Ta: http ? Ta : -1, Tt: o.Tt ?? Ta + 1 },
    status: http ? (o.status ?? 200) : -1,
    bytesIn: 100,
    bytesOut: 1000,
    terminationState: o.ts ?? (http ? '----' : '--'),
    connections: { active: 1, frontend: 1, backend: 1, server: 1, retries: 0 },
    queues: { server: 0, backend: 0 },
    method: http ? 'GET' : null,
    requestLine: http ? 'GET / HTTP/1.1' : null,
  };
}

/** Ships records the way the agent does: ECS document, deterministic _id, daily index, bulk create. */
async function ship(items: Array<{ ns: Namespace; rec: TrafficRecord }>): Promise<void> {
  const client = createEsClient({ url: es.url, requestTimeoutMs: 5000 });
  const shipper = new EsShipper({ client, batchSize: 200, flushIntervalMs: 10 });
  try {
    await shipper.start();
    for (const { ns, rec } of items) await shipper.push({ id: documentId(rec, rec.id, ns), index: indexName(ns, rec.time), document: toEcsDocument(rec, ns, 'agent-1') });
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
  source = await ElasticsearchTrafficMetrics.fromSettings(elasticsearchSettingsFromEnv({ WEIR_ELASTICSEARCH_URL: es.url })!, { requestTimeoutMs: 2000 });
  fx = await startControl(store, { trafficMetrics: source });

  const items: Array<{ ns: Namespace; rec: TrafficRecord }> = [];
  // web/v1: 100 requests in the last 30 s, Ta = 1..100 ms, five of them 503.
  for (let i = 1; i <= 100; i++) items.push({ ns: A, rec: record({ gateway: 'web', route: 'v1', agoMs: 1000 + i * 200, Ta: i, status: i % 20 === 0 ? 503 : 200 }) });
  // web/v2: 20 requests of 200 ms; a 404 is not an error.
  for (let i = 0; i < 20; i++) items.push({ ns: A, rec: record({ gateway: 'web', route: 'v2', agoMs: 2000 + i * 100, Ta: 200, status: i === 0 ? 404 : 200 }) });
  // Outside a 60 s window, inside 1 h: ten 500s on web/v1 ten minutes ago.
  for (let i = 0; i < 10; i++) items.push({ ns: A, rec: record({ gateway: 'web', route: 'v1', agoMs: 600_000 + i * 1000, Ta: 1000, status: 500 }) });
  // Other gateway, other tenant, and a namespace whose indices share the pattern: none of these count for acme/prod web.
  for (let i = 0; i < 7; i++) items.push({ ns: A, rec: record({ gateway: 'api', route: 'main', agoMs: 3000, Ta: 5, status: 500 }) });
  for (let i = 0; i < 9; i++) items.push({ ns: B, rec: record({ gateway: 'web', route: 'v1', agoMs: 3000, Ta: 5 }) });
  for (let i = 0; i < 4; i++) items.push({ ns: AMBIGUOUS, rec: record({ gateway: 'web', route: 'v1', agoMs: 3000, Ta: 5, status: 502 }) });
  // TCP: response time is Tt; an error is a session the server side ended abnormally (S…).
  for (const [Tt, ts] of [[10, '--'], [20, '--'], [30, 'SD'], [40, 'cD']] as const) items.push({ ns: A, rec: record({ gateway: 'db', route: 'main', agoMs: 4000, mode: 'tcp', Tt, ts }) });
  await ship(items);
});

t.after(async () => {
  await fx.close();
  await source.close();
  await es.stop();
  await dir.remove();
});

const get = async (path: string, token?: string): Promise<{ status: number; m: Metrics; code: string | undefined; message: string }> => {
  const r = await fx.api('GET', path, token !== undefined ? { token } : {});
  return { status: r.status, m: r.json as Metrics, code: code(r), message: message(r) };
};
const close = (actual: number | null | undefined, expected: number, what: string, tol = 0.01): void => {
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= tol, `${what}: ${String(actual)} ≈ ${expected}`);
};

t('gateway: totals over the window, exact percentiles, health = 1 − error ratio, one entry per route; one size-0 search', async () => {
  const before = es.searches.length;
  const { status, m } = await get(nsPath(A, '/gateways/web/metrics?window=60s'));
  assert.is(status, 200);
  assert.is(es.searches.length, before + 1, 'one _search');
  const s = es.searches.at(-1)!;
  assert.is(s.index, 'weir-logs-acme-prod-*');
  assert.is(s.params.ignore_unavailable, 'true');
  assert.is(s.params.allow_no_indices, 'true');
  assert.is(s.body.size, 0);

  assert.is(m.gateway, 'web');
  assert.is(m.route, undefined);
  assert.is(m.window_s, 60);
  assert.is(m.source, 'elasticsearch');
  close((Date.parse(m.to) - Date.parse(m.from)) / 1000, 60, 'to − from');
  assert.is(m.requests, 120);
  close(m.rate_per_s, 2, 'rate');
  assert.is(m.errors_5xx, 5);
  close(m.error_ratio, 5 / 120, 'error ratio', 0.001);
  close(m.health, 1 - 5 / 120, 'health', 0.001);
  // Samples 1..100 and twenty 200s: linear interpolation between closest ranks.
  close(m.response_time_ms.p50, 60.5, 'p50');
  close(m.response_time_ms.p95, 200, 'p95');
  close(m.response_time_ms.avg, (5050 + 4000) / 120, 'avg');

  assert.equal(m.per_route?.map((r) => r.route), ['v1', 'v2', 'v3'], 'definition order; idle v3 included');
  const [v1, v2, v3] = m.per_route!;
  assert.is(v1!.requests, 100);
  assert.is(v1!.errors_5xx, 5);
  close(v1!.health, 0.95, 'v1 health');
  close(v1!.rate_per_s, 100 / 60, 'v1 rate');
  close(v1!.response_time_ms.p50, 50.5, 'v1 p50');
  close(v1!.response_time_ms.p95, 95.05, 'v1 p95');
  close(v1!.response_time_ms.p99, 99.01, 'v1 p99');
  close(v1!.response_time_ms.avg, 50.5, 'v1 avg');
  assert.is(v2!.requests, 20);
  assert.is(v2!.errors_5xx, 0, 'a 404 is not a 5xx');
  assert.is(v2!.health, 1);
  close(v2!.response_time_ms.p99, 200, 'v2 p99');
  assert.equal(v3, { route: 'v3', requests: 0, rate_per_s: 0, response_time_ms: { p50: null, p95: null, p99: null, avg: null }, errors_5xx: 0, error_ratio: 0, health: 1 });
});

t('route endpoint; the window decides what counts (old 500s only in 1h); default window is 60s', async () => {
  const r = await get(nsPath(A, '/gateways/web/routes/v1/metrics'));
  assert.is(r.status, 200);
  assert.is(r.m.route, 'v1');
  assert.is(r.m.window_s, 60);
  assert.is(r.m.per_route, undefined);
  assert.is(r.m.requests, 100);
  close(r.m.health, 0.95, 'health');
  assert.ok(JSON.stringify(es.searches.at(-1)!.body).includes('"weir.route":"v1"'));

  const hour = await get(nsPath(A, '/gateways/web/routes/v1/metrics?window=1h'));
  assert.is(hour.m.window_s, 3600);
  assert.is(hour.m.requests, 110);
  assert.is(hour.m.errors_5xx, 15);
  close(hour.m.health, 1 - 15 / 110, 'health 1h', 0.001);
  close(hour.m.response_time_ms.p99, 1000, 'p99 1h');
  const five = await get(nsPath(A, '/gateways/web/metrics?window=5m'));
  assert.is(five.m.window_s, 300);
  assert.is(five.m.requests, 120, 'ten minutes ago is outside 5m');
});

t('TCP gateway: response time from Tt, errors are server-side aborts', async () => {
  const { status, m } = await get(nsPath(A, '/gateways/db/metrics'));
  assert.is(status, 200);
  assert.is(m.requests, 4);
  assert.is(m.errors_5xx, 1);
  close(m.health, 0.75, 'health');
  close(m.response_time_ms.avg, 25, 'avg Tt');
  close(m.response_time_ms.p50, 25, 'p50 Tt');
});

t('tenants: viewer of the namespace reads; other tenants 403 before Elasticsearch; no traffic yet = zeros', async () => {
  assert.is((await get(nsPath(A, '/gateways/web/metrics'), fx.tok.viewerA)).status, 200);
  const before = es.searches.length;
  const denied = await get(nsPath(A, '/gateways/web/metrics'), fx.tok.viewerB);
  assert.is(denied.status, 403);
  assert.is((await fx.api('GET', nsPath(A, '/gateways/web/metrics'), { token: null })).status, 401);
  assert.is(es.searches.length, before, 'no query for a denied request');

  const other = await get(nsPath(B, '/gateways/web/metrics'), fx.tok.viewerB);
  assert.is(other.m.requests, 9, "globex's own traffic only");
  const dev = await get(nsPath(DEV, '/gateways/web/metrics'));
  assert.is(dev.status, 200, 'a namespace without indices answers');
  assert.is(dev.m.requests, 0);
  assert.is(dev.m.health, 1);
  assert.is(dev.m.response_time_ms.p50, null);
  assert.equal(dev.m.per_route?.map((r) => [r.route, r.requests]), [['v1', 0]]);
});

t('400 bad window, 404 unknown gateway or route (checked in the store, no query)', async () => {
  for (const w of ['0s', '25h', '86401s', 'abc', '10', '1d', '-5s']) {
    const r = await get(nsPath(A, `/gateways/web/metrics?window=${encodeURIComponent(w)}`));
    assert.is(r.status, 400, w);
    assert.is(r.code, 'invalid_window', w);
  }
  assert.is((await get(nsPath(A, '/gateways/web/metrics?window=24h'))).status, 200);
  assert.is((await get(nsPath(A, '/gateways/web/metrics?window=1s'))).status, 200);
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

t('OpenAPI documents both endpoints with the window parameter', () => {
  const doc = openApiDocument() as { paths: Record<string, Record<string, { operationId: string; parameters: Array<{ name: string; in: string }>; responses: Record<string, unknown> }>> };
  for (const [path, op] of [['/api/v1/namespaces/{org}/{env}/gateways/{name}/metrics', 'gatewayMetrics'], ['/api/v1/namespaces/{org}/{env}/gateways/{name}/routes/{route}/metrics', 'routeMetrics']] as const) {
    const get = doc.paths[path]?.get;
    assert.is(get?.operationId, op);
    assert.ok(get?.parameters.some((p) => p.name === 'window' && p.in === 'query'));
    assert.ok(get?.responses['200'] && get.responses['503'] && get.responses['404'] && get.responses['403']);
  }
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
    const down = await get(nsPath(A, '/gateways/web/metrics'));
    assert.is(down.status, 503);
    assert.is(down.code, 'metrics_unavailable');
    assert.match(down.message, /unreachable/);
    assert.is((await fx.api('GET', nsPath(A, '/gateways'))).status, 200, 'the rest of the API is unaffected');
  } finally {
    await es.start();
  }
});

t('not configured: 503 naming WEIR_ELASTICSEARCH_URL; runControl wires Elasticsearch from the environment', async () => {
  const bare = await startControl(fx.store);
  try {
    const r = await bare.api('GET', nsPath(A, '/gateways/web/metrics'));
    assert.is(r.status, 503);
    assert.is(code(r), 'metrics_unavailable');
    assert.match(message(r), /WEIR_ELASTICSEARCH_URL/);
  } finally {
    await bare.close();
  }

  const env = { WEIR_STORE: `file://${dir.path}`, WEIR_CONTROL_ADDR: '127.0.0.1:0', WEIR_CONTROL_STATE_DIR: join(dir.path, '.control'), WEIR_ELASTICSEARCH_URL: es.url };
  const running = await runControl(env, { logger: silentLogger(), handleSignals: false });
  try {
    const res = await fetch(`http://127.0.0.1:${running.server.port}${nsPath(A, '/gateways/web/metrics')}`, { headers: { authorization: `Bearer ${running.bootstrapToken as string}` } });
    assert.is(res.status, 200);
    assert.is(((await res.json()) as Metrics).requests, 120);
  } finally {
    await running.close();
  }
  try {
    await runControl({ ...env, WEIR_ELASTICSEARCH_URL: 'ftp://es' }, { logger: silentLogger(), handleSignals: false });
    assert.unreachable('bad URL accepted');
  } catch (err) {
    assert.match((err as Error).message, /WEIR_ELASTICSEARCH_URL: "ftp:\/\/es" must be http\(s\):\/\//);
  }
});

t.run();
