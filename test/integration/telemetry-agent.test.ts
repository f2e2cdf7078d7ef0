// Traffic telemetry end to end in the real agent: real HAProxy logs over UDP to the agent's own receiver
// (ephemeral port as HAProxy's log target) → /metrics and the Elasticsearch 8 contract double.
import { createServer, type Server } from 'node:http';
import { createSocket } from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/package-root.js';
import { suite, assert } from '../harness/uvu.js';
import { seriesValue as sample } from '../harness/prom-text.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { freePort, freePorts } from '../harness/ports.js';
import { get } from '../harness/http.js';
import { sleep, waitFor } from '../harness/tmp.js';
import { startElasticsearchDouble, type ElasticsearchDouble, type Doc } from '../doubles/elasticsearch.js';
import { startHttpServer } from '../../agent/http-server.js';
import { silentLogger } from '../../runtime/log.js';

interface StatusUpstream {
  name: string;
  port: number;
  close: () => Promise<void>;
}

/** Answers `?s=<status>&d=<delay ms>` with that status after that delay, naming itself. */
async function statusUpstream(name: string): Promise<StatusUpstream> {
  const port = await freePort();
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const status = Number(u.searchParams.get('s') ?? 200);
    const delay = Number(u.searchParams.get('d') ?? 0);
    req.resume();
    setTimeout(() => {
      res.writeHead(status, { 'x-upstream': name });
      res.end(name);
    }, delay);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { name, port, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const t = suite('telemetry in the real agent (UDP source, ES double)');
let fx: AgentFixture;
let es: ElasticsearchDouble;
let ups: StatusUpstream[] = [];
let gwPort = 0;

const logDocs = (): Doc[] => [...es.indices.entries()].filter(([n]) => n.startsWith('weir-logs-')).flatMap(([, m]) => [...m.values()]);
const metricDocs = (): Doc[] => [...es.indices.entries()].filter(([n]) => n.startsWith('weir-metrics-')).flatMap(([, m]) => [...m.values()]);
const metricsText = (): Promise<string> => fx.agent.metrics.registry.metrics();

t.before(async () => {
  es = await startElasticsearchDouble();
  ups = [await statusUpstream('blue'), await statusUpstream('green')];
  [gwPort] = (await freePorts(1)) as [number];
  fx = await startAgent({
    env: { WEIR_ELASTICSEARCH_URL: es.url, WEIR_LOG_SOURCE: 'udp', WEIR_TELEMETRY_WINDOW_S: '1', WEIR_SPOOL_MAX_BYTES: String(1024 * 1024), WEIR_TELEMETRY_QUEUE_CAPACITY: '1000' },
    files: { 'shop.yaml': gatewayYaml('shop', gwPort, { blue: { weight: 50, targets: [ups[0]!.port] }, green: { weight: 50, targets: [ups[1]!.port] } }) },
  });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop'), 'shop applied');
  await waitFor(() => get(`http://127.0.0.1:${gwPort}/?s=204`).then((r) => r.status === 204), { what: 'gateway answers' });
  await waitFor(() => fx.agent.telemetry!.flush(1000), { what: 'warm-up flushed' });
});

t.after(async () => {
  await fx?.cleanup();
  for (const u of ups) await u.close();
  await es?.stop();
});

t.before.each(() => {
  (globalThis as { __t0?: number }).__t0 = Date.now();
});
t.after.each(() => {
  if (process.env.WEIR_TEST_VERBOSE) console.log(`  ${Date.now() - ((globalThis as { __t0?: number }).__t0 ?? 0)} ms`);
});

t('the receiver port is HAProxy\'s log target, and the config carries the JSON log-format', async () => {
  const addr = fx.agent.telemetry!.logAddress();
  assert.ok(addr && addr.protocol === 'udp' && addr.port > 0);
  const { readFile } = await import('node:fs/promises');
  const cfg = await readFile(join(fx.stateDir, 'haproxy.cfg'), 'utf8');
  assert.ok(cfg.includes(`log 127.0.0.1:${addr!.port} len 8192 format rfc5424 local0 info`), 'global log line');
  assert.ok(cfg.includes(`log-format '{"t":%Ts.%ms`), 'JSON log-format');
});

t('N requests → exactly N counted per route in /metrics and exactly N documents with the right classes and latencies', async () => {
  const before = await metricsText();
  const docsBefore = logDocs().length;
  const N = 120;
  const expected: Record<string, Record<string, number>> = { blue: {}, green: {} };
  const observedMs: number[] = [];
  const statuses = [200, 404, 503];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < N) {
      const i = next++;
      const status = statuses[i % 3]!;
      const t0 = performance.now();
      const r = await get(`http://127.0.0.1:${gwPort}/item/${i}?s=${status}&d=${i % 4 === 0 ? 15 : 0}`);
      observedMs.push(performance.now() - t0);
      const route = r.headers['x-upstream'] as string;
      assert.is(r.status, status);
      const cls = `${Math.floor(status / 100)}xx`;
      expected[route]![cls] = (expected[route]![cls] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const items = (): Doc[] => logDocs().filter((d) => String((d.url as { original: string }).original).startsWith('/item/'));
  await waitFor(() => items().length >= N, { what: `${N} documents`, timeoutMs: 10_000 });
  await sleep(300);
  assert.is(items().length, N, 'exactly N documents');
  assert.ok(logDocs().length >= docsBefore + N);

  const after = await metricsText();
  for (const route of ['blue', 'green']) {
    for (const cls of ['2xx', '4xx', '5xx']) {
      const labels = { gateway: 'shop', route, code_class: cls };
      const delta = sample(after, 'weir_http_requests_total', labels) - sample(before, 'weir_http_requests_total', labels);
      assert.is(delta, expected[route]![cls] ?? 0, `${route} ${cls}`);
    }
  }
  // Documents: status classes per route match what the clients saw; timings inside the observed bounds.
  const fresh = items();
  const maxObserved = Math.max(...observedMs);
  for (const d of fresh) {
    const h = d.haproxy as { time_total_ms: number; time_response_ms: number };
    const status = (d.http as { response: { status_code: number } }).response.status_code;
    const path = (d.url as { original: string }).original;
    const i = Number(/\/item\/(\d+)/.exec(path)![1]);
    assert.is(status, statuses[i % 3]);
    assert.ok(h.time_total_ms >= 0 && h.time_total_ms <= Math.ceil(maxObserved) + 1, `Tt ${h.time_total_ms} within observed ${maxObserved}`);
    if (i % 4 === 0) assert.ok(h.time_response_ms >= 14, `Tr ${h.time_response_ms} covers the 15 ms upstream delay`);
    assert.equal((d.weir as { gateway: string }).gateway, 'shop');
  }
  const byRoute = (route: string): number => fresh.filter((d) => (d.weir as { route: string }).route === route).length;
  assert.is(byRoute('blue'), Object.values(expected.blue!).reduce((a, b) => a + b, 0));
  assert.is(byRoute('green'), Object.values(expected.green!).reduce((a, b) => a + b, 0));
  assert.ok(es.templates.has('weir-logs') && es.templates.has('weir-metrics'), 'both index templates installed');
});

t('aggregated metrics documents per gateway and route: counts (HAProxy\'s) add up to the lines, deterministic _id', async () => {
  await fx.agent.telemetry!.closeWindows();
  await fx.agent.telemetry!.flush(5000);
  await waitFor(() => metricDocs().length > 0, { what: 'metrics documents' });
  const docs = metricDocs().filter((d) => (d.weir as { route?: string }).route !== undefined);
  const total = (route: string): number => docs.filter((d) => (d.weir as { route: string }).route === route).reduce((n, d) => n + (d.requests as number), 0);
  const logsFor = (route: string): number => logDocs().filter((d) => (d.weir as { route: string }).route === route).length;
  assert.is(total('blue'), logsFor('blue'));
  assert.is(total('green'), logsFor('green'));
  for (const d of docs) {
    assert.ok((d.error_ratio as number) >= 0 && (d.error_ratio as number) <= 1);
    assert.ok(Math.abs((d.health as number) - (1 - (d.error_ratio as number))) < 1e-9);
    const rt = d.response_time_ms as { p50: number; p95: number; p99: number };
    assert.ok(rt.p50 <= rt.p95 && rt.p95 <= rt.p99);
    assert.is(d.window_s, 1);
  }
  const errors = docs.reduce((n, d) => n + (d.errors_5xx as number), 0);
  const fiveXx = logDocs().filter((d) => ((d.http as { response: { status_code?: number } } | undefined)?.response.status_code ?? 0) >= 500).length;
  assert.is(errors, fiveXx);
});

t('per backend server gauges come from `show stat` at scrape time; promtool check metrics passes', async () => {
  const text = await metricsText();
  assert.is(sample(text, 'weir_backend_server_up', { gateway: 'shop', route: 'blue', server: 's0' }), 1);
  assert.is(sample(text, 'weir_backend_server_up', { gateway: 'shop', route: 'green', server: 's0' }), 1);
  assert.ok(!/weir_backend_server_up\{[^}]*server="s3"/.test(text), 'empty (disabled) slots are not reported');
  assert.ok(text.includes('weir_backend_server_current_sessions{'));
  assert.ok(text.includes('weir_backend_server_current_queue{'));
  const http = await startHttpServer(fx.agent, { host: '127.0.0.1', port: 0 }, silentLogger());
  try {
    const res = await get(`http://127.0.0.1:${http.port}/metrics`);
    assert.is(res.status, 200);
    // make test unpacks promtool into .cache/prometheus when it is not on PATH.
    const local = join(packageRoot(), '.cache', 'prometheus', 'usr', 'bin', 'promtool');
    const check = spawnSync(existsSync(local) ? local : 'promtool', ['check', 'metrics'], { input: res.body, encoding: 'utf8' });
    if (check.error) throw new Error(`promtool not runnable (scripts/ensure-system-deps.sh installs it): ${check.error.message}`);
    assert.is(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  } finally {
    await http.close();
  }
});

t('garbage and oversized lines are counted by reason, never fatal', async () => {
  const addr = fx.agent.telemetry!.logAddress()!;
  const sock = createSocket('udp4');
  const send = (msg: string | Buffer): Promise<void> => new Promise((r, j) => sock.send(msg, addr.port, addr.host, (e) => (e ? j(e) : r())));
  const before = await metricsText();
  await send('<134>1 2026-01-01T00:00:00Z host haproxy 1 - - not json at all');
  await send('<134>1 2026-01-01T00:00:00Z host haproxy 1 - - {"t":1,"broken":');
  await send('<134>1 2026-01-01T00:00:00Z host haproxy 1 - - {"t":1700000000.1,"id":"x"}');
  // UDP cannot carry more than the parser's 64 KiB bound (oversized lines are tested on the file and TCP paths).
  await send(Buffer.alloc(65_000, 'x'));
  sock.close();
  const delta = async (reason: string): Promise<number> => sample(await metricsText(), 'weir_log_lines_failed_total', { reason }) - sample(before, 'weir_log_lines_failed_total', { reason });
  await waitFor(async () => (await delta('missing_field')) === 1, { what: 'missing_field counted' });
  // A syslog line with a text message is HAProxy's own event, the raw x-run is garbage.
  await waitFor(async () => (await delta('no_payload')) === 1, { what: 'no_payload counted' });
  assert.is(await delta('haproxy_event'), 1);
  assert.is(await delta('invalid_json'), 1);
  const r = await get(`http://127.0.0.1:${gwPort}/?s=200`);
  assert.is(r.status, 200, 'traffic still flows');
});

t('ES down during traffic, then back: every line indexed exactly once', async () => {
  const docsBefore = logDocs().length;
  await es.stop();
  const N = 60;
  for (let i = 0; i < N; i++) assert.is((await get(`http://127.0.0.1:${gwPort}/outage/${i}?s=200`)).status, 200);
  await waitFor(() => (fx.agent.telemetry!.stats().spool?.records ?? 0) > 0, { what: 'records spooled while ES is down', timeoutMs: 10_000 });
  await es.start();
  await waitFor(() => logDocs().filter((d) => String((d.url as { original: string }).original).startsWith('/outage/')).length >= N, { what: 'outage lines indexed', timeoutMs: 15_000 });
  await sleep(500);
  const outage = logDocs().filter((d) => String((d.url as { original: string }).original).startsWith('/outage/'));
  assert.is(outage.length, N, 'each line once (ids are deterministic, create → 409 on a re-send)');
  assert.is(new Set(outage.map((d) => (d.url as { original: string }).original)).size, N);
  assert.ok(logDocs().length >= docsBefore + N);
  await waitFor(() => fx.agent.telemetry!.stats().spool?.records === 0, { what: 'spool drained' });
});

t('slow ES: the queue and the spool stay bounded; overflow is counted, not held in memory', async () => {
  es.holdBulk();
  const addr = fx.agent.telemetry!.logAddress()!;
  const sock = createSocket('udp4');
  const line = (i: number): string =>
    `<134>1 2026-01-01T00:00:00Z host haproxy 1 - - {"t":${Date.now() / 1000},"id":"slow-${i}","ci":"127.0.0.1","cp":1,"ft":"shop","b":"shop:blue","s":"s0","Tq":0,"Tw":0,"Tc":0,"Tr":1,"Ta":1,"Tt":1,"ST":200,"B":10,"U":10,"tsc":"----","ac":1,"fc":1,"bc":1,"sc":1,"rc":0,"sq":0,"bq":0,"HM":"GET","r":"GET /slow/${i} ${'p'.repeat(1500)} HTTP/1.1"}`;
  const total = 4000;
  for (let i = 0; i < total; i++) {
    await new Promise<void>((r) => sock.send(line(i), addr.port, addr.host, () => r()));
    if (i % 100 === 99) await sleep(5); // let the agent read: this measures the shipper, not the socket buffer
  }
  sock.close();
  await sleep(1500);
  const s = fx.agent.telemetry!.stats();
  if (process.env.WEIR_TEST_VERBOSE) console.log('slow ES:', JSON.stringify(s));
  const text = await metricsText();
  const capacity = 1000; // WEIR_TELEMETRY_QUEUE_CAPACITY
  assert.ok(s.shipper!.queued <= 2 * capacity, `in memory ${s.shipper!.queued} ≤ queue + overflow bound`);
  assert.ok(s.spool!.bytes <= 1024 * 1024, `spool ${s.spool!.bytes} ≤ WEIR_SPOOL_MAX_BYTES`);
  const spoolFull = sample(text, 'weir_log_records_dropped_total', { reason: 'spool_full' });
  assert.ok(spoolFull > 0, 'the spool bound dropped records and said so');
  assert.ok(process.memoryUsage().heapUsed < 400 * 1024 * 1024, 'heap stays modest');
  es.release();
});

t.run();
