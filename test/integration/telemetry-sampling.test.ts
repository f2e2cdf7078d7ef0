// Log sampling inside real HAProxy: `WEIR_LOG_SAMPLE=1/N` lets about one request in N write a log line
// while the request counters stay exact, and `auto` lowers a busy route's keep ratio at runtime (no
// reload) so the agent gets about WEIR_LOG_SAMPLE_TARGET lines per second per route.
import { suite, assert } from '../harness/uvu.js';
import { seriesValue as sample } from '../harness/prom-text.js';
import { startAgent, gatewayYaml, type AgentFixture } from '../harness/agent-fixture.js';
import { freePorts } from '../harness/ports.js';
import { httpUpstream, type Upstream } from '../harness/upstream.js';
import { sleep, waitFor } from '../harness/tmp.js';

const t = suite('log sampling in real HAProxy (UDP source, no Elasticsearch)');
let fx: AgentFixture;
let ups: Upstream[] = [];
let gwPort = 0;

interface Figures {
  requests: number;
  lines: number;
  timed: number;
  keepBlue: number;
}

async function figures(): Promise<Figures> {
  await fx.agent.telemetry!.counters.refresh();
  const m = await fx.agent.metrics.registry.metrics();
  const requests = ['blue', 'green'].reduce((n, route) => n + sample(m, 'weir_http_requests_total', { gateway: 'shop', route, code_class: '2xx' }), 0);
  const timed = ['blue', 'green'].reduce((n, route) => n + sample(m, 'weir_http_response_time_seconds_count', { gateway: 'shop', route, phase: 'total' }), 0);
  return { requests, lines: sample(m, 'weir_log_lines_parsed_total'), timed, keepBlue: sample(m, 'weir_log_sample_keep_ratio', { gateway: 'shop', route: 'blue' }) };
}

/** The lines of requests already answered arrive over UDP a moment later: wait until the count stops moving. */
async function settledFigures(): Promise<Figures> {
  let last = await figures();
  for (let i = 0; i < 40; i++) {
    await sleep(150);
    const now = await figures();
    if (now.lines === last.lines && now.requests === last.requests) return now;
    last = now;
  }
  return last;
}

/** `n` GETs over `workers` (8) keep-alive connections, or for `ms` at about `perSecond` when given. */
async function load(opts: { n?: number; ms?: number; perSecond?: number; workers?: number }): Promise<number> {
  const url = `http://127.0.0.1:${gwPort}/`;
  let sent = 0;
  const until = opts.ms !== undefined ? Date.now() + opts.ms : Infinity;
  const workers = opts.workers ?? 8;
  const gap = opts.perSecond ? (1000 * workers) / opts.perSecond : 0;
  const worker = async (): Promise<void> => {
    while ((opts.n === undefined || sent < opts.n) && Date.now() < until) {
      sent++;
      const r = await fetch(url);
      await r.arrayBuffer();
      assert.is(r.status, 200);
      if (gap) await sleep(gap);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return sent;
}

t.before(async () => {
  ups = [await httpUpstream('blue'), await httpUpstream('green')];
  const [gw = 0, udp = 0] = await freePorts(2);
  gwPort = gw;
  fx = await startAgent({
    // A fixed log port: a restarted agent renders the same config, so it adopts HAProxy without a reload.
    env: { WEIR_LOG_SAMPLE: '1/10', WEIR_LOG_UDP_ADDR: `127.0.0.1:${udp}` },
    files: { 'shop.yaml': gatewayYaml('shop', gwPort, { blue: { weight: 50, targets: [ups[0]!.port] }, green: { weight: 50, targets: [ups[1]!.port] } }) },
  });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && !s.pendingReload, 'shop applied');
  await waitFor(async () => ((await figures()).keepBlue === 0.1 ? true : null), { what: 'keep ratio 1/10 on the route' });
  // The gauge is the agent's view; HAProxy gets the threshold over its runtime API just after.
  await waitFor(
    async () => {
      const b = await settledFigures();
      const n = await load({ n: 200 });
      return (await settledFigures()).lines - b.lines <= n * 0.4 ? true : null;
    },
    { what: 'HAProxy sampling 1 in 10', timeoutMs: 20_000 },
  );
});

t.after(async () => {
  await fx?.cleanup();
  for (const u of ups) await u.close();
});

t('1/10: every request counted, about one in ten logged and timed', async () => {
  const before = await settledFigures();
  const n = await load({ n: 3000 });
  const after = await settledFigures();
  const requests = after.requests - before.requests;
  const lines = after.lines - before.lines;
  assert.is(requests, n, 'the counters come from HAProxy: exact');
  // Binomial(3000, 0.1): mean 300, sd 16; the bounds are 6 sd away.
  assert.ok(lines >= 200 && lines <= 400, `${lines} lines for ${n} requests`);
  assert.is(after.timed - before.timed, lines, 'each kept line is one latency sample');
});

t('auto after 1/10, on the same HAProxy: a quiet route logs every request again; a busy one is sampled at runtime, without a reload', async () => {
  // An agent that keeps HAProxy on exit (the fixture's restart stops the current one with its own settings)…
  await fx.restart({ WEIR_HAPROXY_ON_EXIT: 'keep' });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && !s.pendingReload, 'shop applied by the keeping agent');
  // …so the next one adopts the running HAProxy, which holds the 1/10 thresholds.
  await fx.restart({ WEIR_LOG_SAMPLE: 'auto', WEIR_LOG_SAMPLE_TARGET: '20', WEIR_HAPROXY_ON_EXIT: 'stop' });
  await fx.waitStatus((s) => s.applied.some((a) => a.name === 'shop') && !s.pendingReload, 'shop applied after the restart');
  assert.ok(fx.status().haproxy.adopted, 'the running HAProxy was adopted');
  assert.is(await fx.reloads(), 0, 'and kept its worker (no reload)');
  const reloads = await fx.reloads();
  await waitFor(async () => ((await figures()).keepBlue === 1 ? true : null), { what: 'quiet route back to keeping every line' });
  // Quiet: ~5 requests/s, one at a time, well under the target of 20 lines/s per route: every request
  // logged once the agent has pushed its thresholds (without that, HAProxy would keep sampling 1 in 10).
  let seen = '';
  await waitFor(
    async () => {
      const b = await settledFigures();
      const q = await load({ ms: 1500, perSecond: 5, workers: 1 });
      const got = (await settledFigures()).lines - b.lines;
      seen = `${got} lines for ${q} quiet requests`;
      return got >= q * 0.9 ? true : null;
    },
    { what: 'every quiet request logged', timeoutMs: 20_000 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: last ${seen}`);
  });
  let before: Figures;
  let n: number;
  let after: Figures;
  // Busy: ~400 requests/s (~200 per route) for 4 s, then measure the next 3 s.
  await load({ ms: 4000, perSecond: 400 });
  before = await figures();
  assert.ok(before.keepBlue > 0 && before.keepBlue < 0.5, `keep ratio of blue under load: ${before.keepBlue}`);
  n = await load({ ms: 3000, perSecond: 400 });
  after = await settledFigures();
  const lines = after.lines - before.lines;
  assert.ok(lines < n * 0.5, `${lines} lines for ${n} requests with a target of 20 lines/s per route`);
  assert.ok(lines > 0, 'still some latency samples');
  assert.is(await fx.reloads(), reloads, 'thresholds change at runtime: no reload');
});

t.run();
