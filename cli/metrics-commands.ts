// `weir metrics <gateway> [--route r] [--window 60s] [--step 10s]`: traffic of a gateway (split per route)
// or of one route over the last window, or per step, as the control API computes it from the agents' window
// aggregates (NATS, or Elasticsearch when configured).
import { parseArgs } from 'node:util';
import { ApiClient, nsPath, parseOutput, printData, resolveNamespace, runCli, table, UsageError, type CliIo } from './api-client.js';
import type { TrafficMetricsReply, TrafficSeriesReply, TrafficStats } from '../control/seams.js';

export const METRICS_USAGE = `Usage:
  weir metrics <gateway> [--route r] [--window 60s] [--step 10s] [-n org/env] [-o table|json|yaml]

  Requests and 5xx (exact, from HAProxy's counters), rate, response time (p50/p95/p99/avg, ms, from the
  sampled log lines: SAMPLES says how many), health (1 − error ratio) over the last window, and the agents
  that reported; with --step, one row per step. Read from the agents' window aggregates on NATS (weir up)
  or in Elasticsearch (when the control API has WEIR_ELASTICSEARCH_URL).

Options:
  -r, --route r             one route instead of the gateway and its routes
  -w, --window 60s          Ns, Nm or Nh, 1s to 24h (default 60s), in whole 10 s windows
  -s, --step 10s            a series: one row per step (a multiple of 10s, at most 1000 steps)
  -n, --namespace org/env   default: WEIR_NAMESPACE or default/default
  -o, --output table|json|yaml
Environment: WEIR_URL (default http://127.0.0.1:9100), WEIR_TOKEN (bearer token)
`;

const ms = (v: number | null): string => (v === null ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const cells = (s: TrafficStats): string[] => [
  String(s.requests),
  s.rate_per_s.toFixed(2),
  ms(s.response_time_ms.p50),
  ms(s.response_time_ms.p95),
  ms(s.response_time_ms.p99),
  ms(s.response_time_ms.avg),
  String(s.errors_5xx),
  s.health.toFixed(3),
  String(s.latency_samples),
];
const FIGURES = ['REQUESTS', 'RATE/S', 'P50 MS', 'P95 MS', 'P99 MS', 'AVG MS', '5XX', 'HEALTH', 'SAMPLES'];
const DURATION = /^\d+[smh]$/;

export function runMetricsCommand(argv: string[], io: CliIo): Promise<number> {
  return runCli(io, METRICS_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { route: { type: 'string', short: 'r' }, window: { type: 'string', short: 'w' }, step: { type: 'string', short: 's' }, namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' } },
      allowPositionals: true,
      strict: true,
    });
    const [gateway, ...extra] = positionals;
    if (!gateway) throw new UsageError('metrics needs a gateway name');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    // Checked here too so a typo is a usage error (exit 2), not a round trip; the API has the last word on range.
    if (values.window !== undefined && !DURATION.test(values.window)) throw new UsageError(`--window ${values.window}: use Ns, Nm or Nh, e.g. 60s, 5m, 1h`);
    if (values.step !== undefined && !DURATION.test(values.step)) throw new UsageError(`--step ${values.step}: use Ns, Nm or Nh, e.g. 10s, 1m`);
    if (values.route === '') throw new UsageError('--route needs a route name');
    const output = parseOutput(values.output);
    const ns = resolveNamespace(values.namespace, io.env);
    const route = values.route !== undefined ? `/routes/${encodeURIComponent(values.route)}` : '';
    const params = new URLSearchParams();
    if (values.window !== undefined) params.set('window', values.window);
    if (values.step !== undefined) params.set('step', values.step);
    const query = params.size > 0 ? `?${params.toString()}` : '';
    const path = `${nsPath(ns)}/gateways/${encodeURIComponent(gateway)}${route}/metrics${query}`;
    const what = (m: { route?: string; gateway: string }): string => (m.route !== undefined ? `route ${m.route} of gateway ${m.gateway}` : `gateway ${m.gateway}`);
    const client = ApiClient.fromEnv(io.env);
    if (values.step !== undefined) {
      const s = await client.json<TrafficSeriesReply>('GET', path);
      if (printData(io, output, s)) return 0;
      io.out(`${what(s)} in ${ns.org}/${ns.env}, last ${s.window_s}s per ${s.step_s}s (${s.from} – ${s.to}), from ${s.source}\n`);
      const rows = s.total.map((p, i) => [p.t.slice(11, 19), ...cells(p), String(s.agents[i]?.agents.length ?? 0)]);
      io.out(table(['TIME', ...FIGURES, 'AGENTS'], rows));
      return 0;
    }
    const m = await client.json<TrafficMetricsReply>('GET', path);
    if (printData(io, output, m)) return 0;
    io.out(`${what(m)} in ${ns.org}/${ns.env}, last ${m.window_s}s (${m.from} – ${m.to}), from ${m.source}\n`);
    const rows = [[m.route ?? 'all routes', ...cells(m)], ...(m.per_route ?? []).map((r) => [r.route, ...cells(r)])];
    io.out(table(['ROUTE', ...FIGURES], rows));
    io.out(m.agents.length ? `agents: ${m.agents.map((a) => `${a.id} (${a.windows} windows)`).join(', ')}\n` : 'agents: none reported in this window (no data, which is not zero traffic)\n');
    return 0;
  });
}
