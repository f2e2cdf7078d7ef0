// `weir metrics` against a fake control API: the request it sends (path, window, route, token, namespace),
// the table and JSON it prints for a canned reply, and exit codes (1 API error, 2 usage).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { CliIo } from '../../cli/api-client.js';
import { runMetricsCommand } from '../../cli/metrics-commands.js';
import { assert, suite } from '../harness/uvu.js';

const t = suite('cli: weir metrics');
let server: Server;
let base = '';
let seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
let replies: Array<{ status: number; body: unknown }> = [];

t.before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      const r = replies.shift() ?? { status: 500, body: { error: { code: 'unexpected', message: `test did not expect ${req.method} ${req.url}` } } };
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${addr && typeof addr === 'object' ? addr.port : 0}`;
});
t.after(() => new Promise<void>((r) => server.close(() => r())));
t.before.each(() => {
  seen = [];
  replies = [];
});

function io(env: Record<string, string> = {}): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { env: { WEIR_URL: base, WEIR_TOKEN: 'weir_abc_secret', ...env }, out: (s) => (out += s), err: (s) => (err += s), readStdin: async () => '', stdout: () => out, stderr: () => err };
}

const stats = (requests: number, p50: number | null, errors: number) => ({
  requests,
  rate_per_s: requests / 60,
  response_time_ms: { p50, p95: p50, p99: p50, avg: p50 },
  errors_5xx: errors,
  error_ratio: requests ? errors / requests : 0,
  health: requests ? 1 - errors / requests : 1,
  latency_samples: Math.min(requests, 50),
});
const REPLY = {
  gateway: 'shop',
  window_s: 60,
  from: '2026-11-22T03:00:00.000Z',
  to: '2026-11-22T03:01:00.000Z',
  ...stats(120, 60.5, 6),
  per_route: [
    { route: 'v1', ...stats(100, 50.5, 6) },
    { route: 'v2', ...stats(20, 200, 0) },
    { route: 'v3', ...stats(0, null, 0) },
  ],
  agents: [
    { id: 'node-1', windows: 6 },
    { id: 'node-2', windows: 3 },
  ],
  source: 'nats',
};

t('gateway: GET .../gateways/shop/metrics with the token; a table with one row per route', async () => {
  replies.push({ status: 200, body: REPLY });
  const c = io({ WEIR_NAMESPACE: 'acme/prod' });
  assert.is(await runMetricsCommand(['shop'], c), 0);
  assert.is(seen[0]?.method, 'GET');
  assert.is(seen[0]?.url, '/api/v1/namespaces/acme/prod/gateways/shop/metrics');
  assert.is(seen[0]?.headers.authorization, 'Bearer weir_abc_secret');
  const lines = c.stdout().trim().split('\n');
  assert.match(lines[0]!, /^gateway shop in acme\/prod, last 60s .* from nats$/);
  assert.match(lines[1]!, /^ROUTE\s+REQUESTS\s+RATE\/S\s+P50 MS\s+P95 MS\s+P99 MS\s+AVG MS\s+5XX\s+HEALTH\s+SAMPLES$/);
  assert.match(lines[2]!, /^all routes\s+120\s+2\.00\s+60\.5\s+60\.5\s+60\.5\s+60\.5\s+6\s+0\.950\s+50$/);
  assert.match(lines[3]!, /^v1\s+100\s+1\.67\s+50\.5/);
  assert.match(lines[5]!, /^v3\s+0\s+0\.00\s+-\s+-\s+-\s+-\s+0\s+1\.000\s+0$/);
  assert.is(lines[6], 'agents: node-1 (6 windows), node-2 (3 windows)');
});

t('--route, --window, -n and -o json: the route endpoint with ?window=, the reply as JSON', async () => {
  const routeReply = { ...REPLY, route: 'v1', window_s: 300, per_route: undefined };
  replies.push({ status: 200, body: routeReply });
  const c = io();
  assert.is(await runMetricsCommand(['shop', '--route', 'v1', '--window', '5m', '-n', 'globex/dev', '-o', 'json'], c), 0);
  assert.is(seen[0]?.url, '/api/v1/namespaces/globex/dev/gateways/shop/routes/v1/metrics?window=5m');
  assert.equal(JSON.parse(c.stdout()), JSON.parse(JSON.stringify(routeReply)));
});

t('--step: the series, one row per step with the agents that reported', async () => {
  const point = (t: string, n: number) => ({ t, ...stats(n, 12, 0) });
  replies.push({
    status: 200,
    body: { gateway: 'shop', window_s: 20, step_s: 10, from: '2026-11-22T03:00:00.000Z', to: '2026-11-22T03:00:20.000Z', total: [point('2026-11-22T03:00:00.000Z', 30), point('2026-11-22T03:00:10.000Z', 0)], agents: [{ t: '2026-11-22T03:00:00.000Z', agents: ['a', 'b'] }, { t: '2026-11-22T03:00:10.000Z', agents: [] }], source: 'nats' },
  });
  const c = io();
  assert.is(await runMetricsCommand(['shop', '--window', '20s', '--step', '10s'], c), 0);
  assert.is(seen[0]?.url, '/api/v1/namespaces/default/default/gateways/shop/metrics?window=20s&step=10s');
  const lines = c.stdout().trim().split('\n');
  assert.match(lines[0]!, /last 20s per 10s/);
  assert.match(lines[1]!, /^TIME\s+REQUESTS.*SAMPLES\s+AGENTS$/);
  assert.match(lines[2]!, /^03:00:00\s+30\s.*\s2$/);
  assert.match(lines[3]!, /^03:00:10\s+0\s.*\s0$/);
});

t('API errors exit 1 with the message; bad usage exits 2 without a request', async () => {
  replies.push({ status: 503, body: { error: { code: 'metrics_unavailable', message: 'traffic metrics ... set WEIR_ELASTICSEARCH_URL' } } });
  const c = io();
  assert.is(await runMetricsCommand(['shop'], c), 1);
  assert.match(c.stderr(), /WEIR_ELASTICSEARCH_URL/);
  for (const args of [[], ['shop', 'extra'], ['shop', '--window', '1d'], ['shop', '--step', '10'], ['shop', '--bogus'], ['shop', '-o', 'xml']]) {
    const u = io();
    assert.is(await runMetricsCommand(args, u), 2, args.join(' '));
    assert.match(u.stderr(), /Usage:/);
  }
  assert.is(seen.length, 1);
});

t.run();
