// The window aggregates on NATS end to end: two real agents (real HAProxy, 1 s windows) publish each closed
// window on weir.<org>.<env>.metrics.<gateway> into WEIR_METRICS on a real nats-server; the NATS window
// source pools them (exact counts per route, the agents that reported), the control API's metrics endpoints
// answer from it (`make up`: no Elasticsearch), an agent that stops reporting is missing rather than zero,
// and the Elasticsearch source gives the same answer for the same windows.
import { connect, type NatsConnection } from 'nats';
import { createLogger, silentLogger } from '../../runtime/log.js';
import { linkFromSettings, type AgentNatsLink } from '../../agent/nats-link.js';
import { streams } from '../../events/contract.js';
import { NatsWindowSource } from '../../metrics/nats-window-stream.js';
import { ElasticsearchWindowSource } from '../../metrics/es-window-source.js';
import { createEsClient } from '../../metrics/es-connection.js';
import { metricsDocuments, metricsIndexTemplate } from '../../metrics/es-window-documents.js';
import type { GatewayWindowReport } from '../../metrics/window-report.js';
import { MetricsUnavailableError } from '../../metrics/window-source.js';
import { EsShipper } from '../../agent/telemetry/es-shipper.js';
import { runControlWithNats } from '../../control/nats-main.js';
import type { TrafficMetricsReply, TrafficSeriesReply } from '../../control/seams.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { get } from '../harness/http.js';
import { startNatsServer, type NatsHarness } from '../harness/nats.js';
import { freePorts } from '../harness/ports.js';
import { tempDir, waitFor } from '../harness/tmp.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { startElasticsearchDouble } from '../doubles/elasticsearch.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('metrics on NATS: agents publish windows, the NATS source pools them');
const logger = process.env.WEIR_TEST_LOGS ? createLogger({ level: 'debug' }) : silentLogger();
const ns = { org: 'default', env: 'default' };
let nats: NatsHarness;
let nc: NatsConnection;
let ups: Upstream[] = [];
let port = 0;
const agents: Array<{ fx: AgentFixture; link: AgentNatsLink; bind: string }> = [];
const published: GatewayWindowReport[] = [];
let source: NatsWindowSource;
/** The first test's span: both agents reported all of it. */
let span: { from: Date; to: Date } = { from: new Date(0), to: new Date(0) };

t.before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  ups = [await httpUpstream('v1'), await httpUpstream('v2')];
  [port] = (await freePorts(1)) as [number];
  for (const [i, bind] of ['127.0.0.1', '127.0.0.2'].entries()) {
    const fx = await startAgent({
      env: { WEIR_BIND_ADDRESS: bind, WEIR_AGENT_ID: `node-${i + 1}`, WEIR_TELEMETRY_WINDOW_S: '1', WEIR_NATS_URL: nats.url },
      files: { 'shop.yaml': gatewayYaml('shop', port, { v1: { weight: 50, targets: [ups[0]!.port] }, v2: { weight: 50, targets: [ups[1]!.port] } }) },
    });
    await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop'), `shop applied on node-${i + 1}`);
    const link = linkFromSettings(fx.agent, { WEIR_METRICS_MAX_AGE: '10m' }, logger)!;
    link.start();
    fx.agent.telemetry!.onWindow((r) => published.push(r));
    agents.push({ fx, link, bind });
  }
  source = new NatsWindowSource({ connection: () => nc, location: nats.url, windowSeconds: 1, stream: { maxAgeMs: 600_000 } });
});

t.after(async () => {
  for (const a of agents) {
    await a.link.stop();
    await a.fx.cleanup();
  }
  for (const u of ups) await u.close();
  await nc?.close();
  await nats?.dispose();
});

/** `n` requests to one agent's gateway; counts per route (the body names the upstream). */
async function send(bind: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await get(`http://${bind}:${port}/`);
    assert.is(r.status, 200);
    counts[r.body] = (counts[r.body] ?? 0) + 1;
  }
  return counts;
}

t('every closed window reaches WEIR_METRICS; the source pools exact counts per route and names the agents', async () => {
  const from = new Date(Math.floor(Date.now() / 1000) * 1000);
  const a = await send('127.0.0.1', 30);
  const b = await send('127.0.0.2', 20);
  const to = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
  const want = { v1: (a.v1 ?? 0) + (b.v1 ?? 0), v2: (a.v2 ?? 0) + (b.v2 ?? 0) };
  const windows = (to.getTime() - from.getTime()) / 1000;
  span = { from, to };
  // Windows close 2 s after their end, then go out; every agent reports every window, idle ones included.
  const agg = (await waitFor(
    async () => {
      const x = await source.aggregate({ ns, gateway: 'shop', from, to });
      return x.agents.length === 2 && x.agents.every((g) => g.windows === windows) ? x : null;
    },
    { what: `${windows} windows from both agents`, timeoutMs: 10_000, intervalMs: 300 },
  ))!;
  assert.equal(agg.agents.map((x) => x.id), ['node-1', 'node-2']);
  assert.is(agg.routes.v1?.requests, want.v1, 'v1 exact');
  assert.is(agg.routes.v2?.requests, want.v2, 'v2 exact');
  assert.is(agg.routes.v1!.errors, 0);
  assert.is(agg.routes.v1!.health, 1);
  assert.is(agg.total.requests, 50);
  // Below the sampling target every request is logged: one latency sample per request.
  assert.is(agg.routes.v1!.latencySamples, want.v1);
  assert.ok(agg.routes.v1!.p50 !== null && agg.routes.v1!.p50 >= 0 && agg.routes.v1!.p99! >= agg.routes.v1!.p50);
  const info = await (await nc.jetstreamManager()).streams.info(streams.metrics.name);
  assert.is(info.config.max_age, 10 * 60 * 1e9, 'created (by an agent or the reader, whichever came first) with WEIR_METRICS_MAX_AGE');
  assert.equal(info.config.subjects, ['weir.*.*.metrics.*']);
});

t('an agent that stops reporting is missing from the windows, not zero traffic', async () => {
  const stopped = agents[1]!;
  await stopped.link.stop();
  const from = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
  await new Promise((r) => setTimeout(r, 2200));
  await send('127.0.0.2', 5); // served, but never reported: its agent's link is down
  const a = await send('127.0.0.1', 5);
  const to = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
  const agg = (await waitFor(
    async () => {
      const x = await source.aggregate({ ns, gateway: 'shop', from, to });
      return (x.agents[0]?.windows ?? 0) === (to.getTime() - from.getTime()) / 1000 ? x : null;
    },
    { what: 'every window of node-1', timeoutMs: 10_000, intervalMs: 300 },
  ))!;
  assert.is(agg.total.requests, 5, 'what node-1 served, exactly');
  assert.equal(agg.agents.map((x) => x.id), ['node-1'], 'node-2 did not report: the judge sees one agent, not a zero');
  assert.is(agg.routes.v1?.requests ?? 0, a.v1 ?? 0);
  stopped.link = linkFromSettings(stopped.fx.agent, {}, logger)!;
  stopped.link.start();
});

t('the Elasticsearch source answers the same for the same windows', async () => {
  const es = await startElasticsearchDouble();
  const client = createEsClient({ url: es.url });
  const shipper = new EsShipper({ client, batchSize: 500, flushIntervalMs: 10, extraTemplates: { 'weir-metrics': metricsIndexTemplate() } });
  try {
    await shipper.start();
    const { from, to } = span;
    const copy = published.filter((r) => r.start >= from.getTime() && r.start + 1000 <= to.getTime());
    for (const r of copy) for (const item of metricsDocuments(r)) await shipper.push(item);
    assert.ok(await shipper.flush(5000));
    const fromEs = await new ElasticsearchWindowSource(client, es.url, { windowSeconds: 1 }).aggregate({ ns, gateway: 'shop', from, to });
    const fromNats = await source.aggregate({ ns, gateway: 'shop', from, to });
    const fig = (x: typeof fromEs.total): unknown => [x.requests, x.errors, x.latencySamples, x.p50, x.p95, x.p99, x.rate];
    assert.ok(fromEs.total.requests > 0);
    assert.equal(fig(fromEs.total), fig(fromNats.total), 'all routes');
    for (const route of ['v1', 'v2']) assert.equal(fig(fromEs.routes[route]!), fig(fromNats.routes[route]!), route);
    assert.equal(fromEs.agents, fromNats.agents);
    assert.equal([fromEs.from, fromEs.to], [fromNats.from, fromNats.to]);
  } finally {
    await shipper.close(1000);
    await client.close();
    await es.stop();
  }
});

t('the control API (make up: NATS, no Elasticsearch) answers /metrics and the series from the stream', async () => {
  const dir = await tempDir('weir-metrics-control-');
  const control = await runControlWithNats(
    { WEIR_STORE: `file://${agents[0]!.fx.storeRoot}`, WEIR_CONTROL_ADDR: '127.0.0.1:0', WEIR_CONTROL_STATE_DIR: dir.path, WEIR_NATS_URL: nats.url, WEIR_TELEMETRY_WINDOW_S: '1', WEIR_LOG_LEVEL: 'silent' },
    { handleSignals: false },
  );
  try {
    const base = `http://127.0.0.1:${control.server.port}/api/v1/namespaces/default/default/gateways/shop`;
    const auth = { authorization: `Bearer ${control.bootstrapToken as string}` };
    const sent = await send('127.0.0.1', 12);
    const m = (await waitFor(
      async () => {
        const res = await fetch(`${base}/metrics?window=30s`, { headers: auth });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
        const body = (await res.json()) as TrafficMetricsReply;
        return body.requests >= 12 ? body : null;
      },
      { what: 'the requests in /metrics', timeoutMs: 10_000, intervalMs: 300 },
    ))!;
    assert.is(m.source, 'nats');
    assert.equal(m.per_route?.map((r) => r.route), ['v1', 'v2']);
    assert.ok(m.agents.some((a) => a.id === 'node-1'));
    assert.ok((m.per_route![0]!.requests ?? 0) >= (sent.v1 ?? 0));
    const s = (await (await fetch(`${base}/routes/v1/metrics?window=10s&step=2s`, { headers: auth })).json()) as TrafficSeriesReply;
    assert.is(s.step_s, 2);
    assert.is(s.total.length, 5);
    assert.is(s.source, 'nats');
    assert.ok(s.agents.length === 5);
  } finally {
    await control.close();
    await dir.remove();
  }
});

t('NATS down: MetricsUnavailableError, never an empty answer', async () => {
  const dead = new NatsWindowSource({ connection: () => null, location: 'nats://nowhere:4222', windowSeconds: 1 });
  try {
    await dead.aggregate({ ns, gateway: 'shop', from: new Date(Date.now() - 10_000), to: new Date() });
    assert.unreachable('answered without NATS');
  } catch (err) {
    assert.instance(err, MetricsUnavailableError);
    assert.match((err as Error).message, /not connected to NATS at nats:\/\/nowhere:4222/);
  }
});

t.run();
