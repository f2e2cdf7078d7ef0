// Exact per-route counts from HAProxy's own counters, in the real agent on real HAProxy: N requests on
// keep-alive connections across K reloads → exactly N in /metrics; the counters stay exact across an agent
// restart (HAProxy kept or stopped) and monotonic across an HAProxy crash.
import { Agent as HttpAgent, request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite, assert } from '../harness/uvu.js';
import { seriesValue as sample } from '../harness/prom-text.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { freePorts } from '../harness/ports.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { get } from '../harness/http.js';
import { waitFor } from '../harness/tmp.js';

const t = suite('exact route counters from HAProxy (show stat), across reloads and restarts');
let fx: AgentFixture;
let ups: Upstream[] = [];
let gwPort = 0;

const counted = async (route: string): Promise<number> => sample(await fx.agent.metrics.registry.metrics(), 'weir_http_requests_total', { gateway: 'shop', route, code_class: '2xx' });

const yaml = (balance: string): string =>
  gatewayYaml('shop', gwPort, { blue: { weight: 50, targets: [ups[0]!.port], extra: `balance: ${balance}` }, green: { weight: 50, targets: [ups[1]!.port] } });

/** Keep-alive GETs from `conns` clients until `stop()`; counts answers per upstream. */
function keepAliveLoad(conns: number): { stop: () => Promise<Record<string, number>>; failures: string[] } {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: conns });
  const counts: Record<string, number> = {};
  const failures: string[] = [];
  let running = true;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: gwPort, path: '/', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode === 200) counts[body] = (counts[body] ?? 0) + 1;
          else failures.push(`HTTP ${res.statusCode}`);
          resolve();
        });
      });
      // A keep-alive connection closed by HAProxy after a reload: the request never reached it (retried).
      req.on('error', (err) => {
        if (!/ECONNRESET|socket hang up/.test(err.message)) failures.push(err.message);
        resolve();
      });
      req.end();
    });
  const loops = Array.from({ length: conns }, async () => {
    while (running) await one();
  });
  return {
    failures,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return counts;
    },
  };
}

t.before(async () => {
  ups = [await httpUpstream('blue'), await httpUpstream('green')];
  [gwPort] = (await freePorts(1)) as [number];
  fx = await startAgent({ env: { WEIR_RELOAD_MIN_INTERVAL_MS: '100' }, files: { 'shop.yaml': yaml('roundrobin') } });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop'), 'shop applied');
  await waitFor(() => get(`http://127.0.0.1:${gwPort}/`).then((r) => r.status === 200), { what: 'gateway answers' });
});

t.after(async () => {
  await fx?.cleanup();
  for (const u of ups) await u.close();
});

t('N keep-alive requests across K reloads → exactly N per route in /metrics', async () => {
  await fx.agent.telemetry!.counters.refresh();
  const before = { blue: await counted('blue'), green: await counted('green') };
  const reloadsBefore = await fx.reloads();
  const load = keepAliveLoad(6);
  const K = 5;
  for (let k = 0; k < K; k++) {
    await new Promise((r) => setTimeout(r, 150));
    await fx.write('shop', yaml(k % 2 === 0 ? 'leastconn' : 'roundrobin'));
    await waitFor(async () => (await fx.reloads()) >= reloadsBefore + k + 1, { what: `reload ${k + 1}`, timeoutMs: 10_000 });
  }
  await new Promise((r) => setTimeout(r, 150));
  const sent = await load.stop();
  assert.equal(load.failures, [], 'no failed request');
  assert.ok((sent.blue ?? 0) > 50 && (sent.green ?? 0) > 50, `traffic on both routes: ${JSON.stringify(sent)}`);
  // Old workers drain (their sessions are closed once idle-close-on-response closed the client connections).
  await waitFor(async () => (await counted('blue')) - before.blue === sent.blue && (await counted('green')) - before.green === sent.green, {
    what: 'exact counts',
    timeoutMs: 10_000,
  }).catch(async () => undefined);
  assert.is((await counted('blue')) - before.blue, sent.blue, 'blue counted exactly');
  assert.is((await counted('green')) - before.green, sent.green, 'green counted exactly');
  await waitFor(() => (fx.agent.telemetry!.stats().counters.workers.length === 1 ? true : null), { what: 'old workers released', timeoutMs: 10_000 });
});

t('agent restarts, with HAProxy kept running and with HAProxy stopped: counters continue exactly', async () => {
  const sendN = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) assert.is((await get(`http://127.0.0.1:${gwPort}/`)).status, 200);
  };
  const total = async (): Promise<number> => {
    await fx.agent.telemetry!.counters.refresh();
    return (await counted('blue')) + (await counted('green'));
  };
  const start = await total();
  await sendN(20);
  // The fixture stops the running agent with its own settings (HAProxy stopped) and starts one that keeps it.
  await fx.restart({ WEIR_HAPROXY_ON_EXIT: 'keep' });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && s.haproxy.running && !s.haproxy.adopted, 'fresh HAProxy');
  await waitFor(() => get(`http://127.0.0.1:${gwPort}/`).then((r) => r.status === 200), { what: 'gateway answers again' });
  await sendN(19);
  assert.is(await total(), start + 40, 'HAProxy stopped and started again: carried from the saved state');
  await fx.restart({ WEIR_HAPROXY_ON_EXIT: 'stop' });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && s.haproxy.adopted, 'adopted');
  await sendN(20);
  assert.is(await total(), start + 60, 'HAProxy kept: the new agent re-adopts the worker, nothing lost or doubled');
  const state = JSON.parse(await readFile(join(fx.stateDir, 'telemetry-counters.json'), 'utf8')) as { version: number; base: Record<string, unknown> };
  assert.is(state.version, 1);
  assert.ok('shop:blue' in state.base);
});

t('HAProxy killed: the supervisor restarts it and the counters stay monotonic (exact when idle at the crash)', async () => {
  await fx.agent.telemetry!.counters.refresh();
  const before = (await counted('blue')) + (await counted('green'));
  for (let i = 0; i < 10; i++) await get(`http://127.0.0.1:${gwPort}/`);
  await fx.agent.telemetry!.counters.refresh();
  const pids = await fx.workerPids();
  const master = fx.status().haproxy.pid!;
  for (const pid of [master, ...pids]) process.kill(pid, 'SIGKILL');
  await fx.waitStatus((s) => s.haproxy.running && s.haproxy.pid !== master, 'HAProxy restarted');
  await waitFor(() => get(`http://127.0.0.1:${gwPort}/`).then((r) => r.status === 200), { what: 'gateway answers after the crash' });
  for (let i = 0; i < 9; i++) await get(`http://127.0.0.1:${gwPort}/`);
  await waitFor(async () => ((await counted('blue')) + (await counted('green')) === before + 20 ? true : null), { what: 'counts after the crash', timeoutMs: 5000 }).catch(() => undefined);
  assert.is((await counted('blue')) + (await counted('green')), before + 20);
});

t('the exported counters pass promtool and route gauges come from HAProxy', async () => {
  const text = await fx.agent.metrics.registry.metrics();
  assert.match(text, /weir_backend_sessions_total\{gateway="shop",route="blue"\} \d+/);
  assert.match(text, /weir_traffic_bytes_total\{gateway="shop",route="green",direction="out"\} \d+/);
  assert.match(text, /weir_http_response_bytes_total\{gateway="shop",route="green"\} \d+/);
  assert.match(text, /weir_backend_current_sessions\{gateway="shop",route="blue"\} 0/);
  assert.match(text, /weir_haproxy_counted_workers 1/);
  assert.match(text, /weir_log_sample_keep_ratio\{gateway="shop",route="blue"\} [\d.]+/);
});

t.run();
