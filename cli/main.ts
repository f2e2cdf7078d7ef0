#!/usr/bin/env node
// `weir`: the agent, offline validation and rendering, and the all-in-one `weir up`.
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { SETTINGS } from '../agent/settings.js';

// Each command's module is loaded when it runs: an agent on every node need not hold the control
// API, the release controller and the API clients in memory (about 20 MiB of heap), nor parse them at start.
const io = async () => (await import('./api-client.js')).processIo();

const USAGE = `weir — gateway data plane for HAProxy

Usage:
  weir agent [flags]            run the agent (flags or WEIR_* environment variables, below)
  weir validate <file>...       validate gateway definitions (YAML or JSON) as an agent with these settings would; exit 1 on errors
  weir render <dir|file>...     print the HAProxy configuration those gateways render to
  weir control                  run the control API (WEIR_STORE, WEIR_CONTROL_ADDR, WEIR_NATS_URL, …)
  weir up                       all-in-one: control API + agent (+ nats-server when installed) on the file store under ./var
  weir gateway apply|list|get|delete|weights   gateways through the control API (weir gateway help)
  weir certificate put|list|get|delete         TLS certificates through the control API (weir certificate help)
  weir status <gateway>         which agents applied the current version (--wait for pipelines)
  weir agents                   agents of an environment, as the control API last heard them
  weir metrics <gateway>        requests, rate, response time, 5xx, health and reporting agents (--route, --window 60s, --step 10s)
  weir release-policy apply|get|list|delete|convert   release policies (weir release-policy help)
  weir release start|status|approve|pause|resume|abort|promote|retry|history|list   canary releases (weir release help)
  weir release-controller       run the release controller alone (same settings as weir control; one acts at a time)
  weir token create|list|revoke API tokens (admin)
  weir import vamp <file|dir>... (--out DIR | --dry-run)   Vamp gateway exports → Weir gateway files; exit 1 if anything was not converted
  weir help                     this text

Agent settings (flag, environment variable, default):
${SETTINGS.map((s) => `  --${s.flag.padEnd(20)} ${s.env.padEnd(30)} ${s.default === '' ? '(none)' : s.default}\n      ${s.help}`).join('\n')}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'agent':
      return (await import('./agent-command.js')).runAgentCommand(parseFlags(rest).flags, process.env, hostname());
    case 'validate': {
      const { flags, positionals } = parseFlags(rest);
      return (await import('./offline-commands.js')).runValidate(positionals, flags);
    }
    case 'render': {
      const { flags, positionals } = parseFlags(rest);
      return (await import('./offline-commands.js')).runRender(positionals, flags);
    }
    case 'control':
      return (await import('./control-command.js')).runControlCommand(process.env);
    case 'up':
      return (await import('./up-command.js')).runUp(parseFlags(rest).flags);
    // Control API clients (WEIR_URL, WEIR_TOKEN, WEIR_NAMESPACE).
    case 'gateway':
    case 'gateways':
    case 'gw':
      return (await import('./gateway-commands.js')).runGatewayCommand(rest, await io());
    case 'status':
      return (await import('./status-commands.js')).runStatusCommand(rest, await io());
    case 'agents':
      return (await import('./status-commands.js')).runAgentsCommand(rest, await io());
    case 'metrics':
      return (await import('./metrics-commands.js')).runMetricsCommand(rest, await io());
    case 'token':
    case 'tokens':
      return (await import('./token-commands.js')).runTokenCommand(rest, await io());
    case 'release-policy':
    case 'release-policies':
      return (await import('./release-commands.js')).runReleasePolicyCommand(rest, await io());
    case 'release':
    case 'releases':
      return (await import('./release-commands.js')).runReleaseCommand(rest, await io());
    case 'release-controller':
      return (await import('./release-controller-command.js')).runReleaseControllerCommand(process.env);
    case 'import':
      return (await import('./import-command.js')).runImportCommand(rest, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
    // [edge]
    case 'certificate':
    case 'certificates':
    case 'cert':
      return (await import('./certificate-commands.js')).runCertificateCommand(rest, await io());
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`weir: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

/** Accepts every agent setting as --flag value or --flag=value; unknown flags are errors. */
function parseFlags(args: string[]): { flags: Record<string, string | undefined>; positionals: string[] } {
  const options = Object.fromEntries(SETTINGS.map((s) => [s.flag, { type: 'string' as const }]));
  const { values, positionals } = parseArgs({ args, options: { ...options, maps: { type: 'string' } }, allowPositionals: true, strict: true });
  return { flags: values as Record<string, string | undefined>, positionals };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`weir: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
