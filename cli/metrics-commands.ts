// `weir metrics <gateway> [--route r] [--window 60s]`: traffic of a gateway (split per route) or of one
// route over the last window, as the control API computes it from the request logs in Elasticsearch.
import { parseArgs } from 'node:util';
import { ApiClient, nsPath, parseOutput, printData, resolveNamespace, runCli, table, UsageError, type CliIo } from './api-client.js';
import type { TrafficMetricsReply, TrafficStats } from '../control/seams.js';

export const METRICS_USAGE = `Usage:
  weir metrics <gateway> [--route r] [--window 60s] [-n org/env] [-o table|json|yaml]

  Requests, rate, response time (p50/p95/p99/avg, ms), 5xx and health (1 − error ratio) over the last
  window, from the request logs the agents ship to Elasticsearch (the control API needs WEIR_ELASTICSEARCH_URL).

Options:
  -r, --route r             one route instead of the gateway and its routes
  -w, --window 60s          Ns, Nm or Nh, 1s to 24h (default 60s)
  -n, --namespace org/env   default: WEIR_NAMESPACE or default/default
  -o, --output table|json|yaml
Environment: WEIR_URL (default http://127.0.0.1:9100), WEIR_TOKEN (bearer token)
`;

const ms = (v: number | null): string => (v === null ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const row = (name: string, s: TrafficStats): string[] => [
  name,
  String(s.requests),
  s.rate_per_s.toFixed(2),
  ms(s.response_time_ms.p50),
  ms(s.response_time_ms.p95),
  ms(s.response_time_ms.p99),
  ms(s.response_time_ms.avg),
  String(s.errors_5xx),
  s.health.toFixed(3),
];

export function runMetricsCommand(argv: string[], io: CliIo): Promise<number> {
  return runCli(io, METRICS_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { route: { type: 'string', short: 'r' }, window: { type: 'string', short: 'w' }, namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' } },
      allowPositionals: true,
      strict: true,
    });
    const [gateway, ...extra] = positionals;
    if (!gateway) throw new UsageError('metrics needs a gateway name');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    // Checked here too so a typo is a usage error (exit 2), not a round trip; the API has the last word on range.
    if (values.window !== undefined && !/^\d+[smh]$/.test(values.window)) throw new UsageError(`--window ${values.window}: use Ns, Nm or Nh, e.g. 60s, 5m, 1h`);
    if (values.route === '') throw new UsageError('--route needs a route name');
    const output = parseOutput(values.output);
    const ns = resolveNamespace(values.namespace, io.env);
    const route = values.route !== undefined ? `/routes/${encodeURIComponent(values.route)}` : '';
    const query = values.window !== undefined ? `?window=${encodeURIComponent(values.window)}` : '';
    const m = await ApiClient.fromEnv(io.env).json<TrafficMetricsReply>('GET', `${nsPath(ns)}/gateways/${encodeURIComponent(gateway)}${route}/metrics${query}`);
    if (printData(io, output, m)) return 0;
    io.out(`${m.route !== undefined ? `route ${m.route} of gateway ${m.gateway}` : `gateway ${m.gateway}`} in ${ns.org}/${ns.env}, last ${m.window_s}s (${m.from} – ${m.to}), from ${m.source}\n`);
    const rows = [row(m.route ?? 'all routes', m), ...(m.per_route ?? []).map((r) => row(r.route, r))];
    io.out(table(['ROUTE', 'REQUESTS', 'RATE/S', 'P50 MS', 'P95 MS', 'P99 MS', 'AVG MS', '5XX', 'HEALTH'], rows));
    return 0;
  });
}
