// `weir status <gateway>`: has every live agent applied the current version? and
// `weir agents`: the agents of an environment as the control API last heard them.
import { parseArgs } from 'node:util';
import { ago, ApiClient, nsPath, parseOutput, printData, resolveNamespace, runCli, table, UsageError, type CliIo } from './api-client.js';

export const STATUS_USAGE = `Usage:
  weir status <gateway> [-n org/env] [--wait [--timeout 60]]   per agent: applied version, problems, last heard
  weir agents [-n org/env]                                     agents of the environment and their health

Options:
  -n, --namespace org/env   default: WEIR_NAMESPACE or default/default
  -o, --output table|json|yaml
  --wait                    poll until converged; exit 1 if not within --timeout seconds
Environment: WEIR_URL (default http://127.0.0.1:9100), WEIR_TOKEN (bearer token)
`;

interface StatusReply {
  gateway: string;
  version: string;
  converged: boolean | null;
  statusSource?: string;
  reason?: string;
  agents: Array<{ agentId: string; appliedVersion: string | null; problems: unknown[]; lastSeenAt: string; quiet: boolean }>;
}

interface AgentsReply {
  namespace?: string;
  statusSource?: string;
  reason?: string;
  agents?: AgentRow[];
  items?: AgentRow[];
}

interface AgentRow {
  agentId: string;
  ready?: boolean;
  haproxyRunning?: boolean;
  storeOk?: boolean;
  servingFromCache?: boolean;
  applied?: Array<{ name: string; version: string }>;
  problems?: unknown[];
  lastSeenAt?: string;
  quiet?: boolean;
  health?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A problem entry as one line: its errors when it has them, else its JSON. */
function problemText(p: unknown): string {
  const o = p as { errors?: unknown; version?: unknown } | null;
  if (o && Array.isArray(o.errors)) return `${o.version ? `v${String(o.version)}: ` : ''}${o.errors.join('; ')}`;
  return typeof p === 'string' ? p : JSON.stringify(p);
}

export function runStatusCommand(argv: string[], io: CliIo): Promise<number> {
  return runCli(io, STATUS_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' }, wait: { type: 'boolean' }, timeout: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    const [gateway, ...extra] = positionals;
    if (!gateway) throw new UsageError('status needs a gateway name (weir agents lists the agents)');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const timeoutS = values.timeout === undefined ? 60 : Number(values.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout ${values.timeout}: give seconds, e.g. 60`);
    const output = parseOutput(values.output);
    const ns = resolveNamespace(values.namespace, io.env);
    const client = ApiClient.fromEnv(io.env);
    const path = `${nsPath(ns)}/gateways/${encodeURIComponent(gateway)}/status`;
    const deadline = Date.now() + timeoutS * 1000;
    let s = await client.json<StatusReply>('GET', path);
    while (values.wait && s.converged !== true && s.statusSource !== 'unavailable' && Date.now() < deadline) {
      await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
      s = await client.json<StatusReply>('GET', path);
    }
    if (!printData(io, output, s)) {
      const live = s.agents.filter((a) => !a.quiet);
      const onVersion = live.filter((a) => a.appliedVersion === s.version).length;
      const verdict = s.converged === null ? 'unknown' : s.converged ? 'converged' : 'not converged';
      io.out(`gateway ${s.gateway}  version ${s.version}  ${verdict} (${onVersion} of ${live.length} live agents on it)\n`);
      if (s.reason) io.out(`  ${s.reason}\n`);
      if (s.agents.length > 0) {
        io.out(
          table(
            ['AGENT', 'APPLIED', 'STATE', 'LAST SEEN', 'PROBLEMS'],
            s.agents.map((a) => [a.agentId, a.appliedVersion ?? '-', a.quiet ? 'quiet' : a.appliedVersion === s.version ? 'current' : 'behind', ago(a.lastSeenAt), a.problems.map(problemText).join(' | ') || '-']),
          ),
        );
      }
    }
    // With --wait the exit code says whether it converged (deploy pipelines gate on it).
    return values.wait && s.converged !== true ? 1 : 0;
  });
}

export function runAgentsCommand(argv: string[], io: CliIo): Promise<number> {
  return runCli(io, STATUS_USAGE, async () => {
    const { values, positionals } = parseArgs({ args: argv, options: { namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' } }, allowPositionals: true, strict: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const output = parseOutput(values.output);
    const ns = resolveNamespace(values.namespace, io.env);
    const reply = await ApiClient.fromEnv(io.env).json<AgentsReply>('GET', `${nsPath(ns)}/agents`);
    if (printData(io, output, reply)) return 0;
    const agents = reply.agents ?? reply.items ?? [];
    if (reply.reason) io.out(`${reply.reason}\n`);
    if (agents.length === 0) {
      io.out(`no agents heard in ${ns.org}/${ns.env}\n`);
      return 0;
    }
    const yn = (b: boolean | undefined): string => (b === undefined ? '-' : b ? 'yes' : 'no');
    io.out(
      table(
        ['AGENT', 'STATE', 'READY', 'HAPROXY', 'STORE', 'GATEWAYS', 'PROBLEMS', 'LAST SEEN'],
        agents.map((a) => [
          a.agentId,
          a.health ?? (a.quiet ? 'quiet' : 'live'),
          yn(a.ready),
          a.haproxyRunning === undefined ? '-' : a.haproxyRunning ? 'running' : 'down',
          a.storeOk === undefined ? '-' : a.storeOk ? (a.servingFromCache ? 'cache' : 'ok') : 'unreachable',
          String(a.applied?.length ?? 0),
          String(a.problems?.length ?? 0),
          ago(a.lastSeenAt),
        ]),
      ),
    );
    return 0;
  });
}
